"""Helpers shared by the benchmarks: a free port, waiting for a server, percentiles, and saving the figures."""

from __future__ import annotations

import io
import json
import os
import platform
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, timeout: float = 60) -> None:
    """Wait until a URL answers without a server error."""
    import httpx  # here, so that benches measuring their own memory do not carry it

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up")


def pct(values: list[float], p: float) -> float:
    """Return the p-th percentile (nearest rank) of the values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def latency_summary(seconds: list[float]) -> dict:
    """Summarise latencies given in seconds: count, p50 / p95 / p99, mean and max in milliseconds."""
    if not seconds:
        return {"count": 0}
    return {"count": len(seconds), **{f"p{p}_ms": round(pct(seconds, p) * 1000, 2) for p in (50, 95, 99)},
            "mean_ms": round(sum(seconds) / len(seconds) * 1000, 2), "max_ms": round(max(seconds) * 1000, 2)}


def _git(*args: str) -> str | None:
    try:
        # No optional locks: reading the state must not rewrite the index under someone else's feet.
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10,
                             env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def machine() -> dict:
    """Describe where the figures were taken: CPUs, load average, memory, Python."""
    load = os.getloadavg()
    try:
        import psutil

        memory_gb = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        memory_gb = None
    return {"cpu_count": os.cpu_count(), "load_average": [round(x, 2) for x in load], "memory_gb": memory_gb,
            "platform": platform.platform(), "python": platform.python_version(), "hostname": platform.node()}


def save_results(name: str, data: dict) -> Path:
    """Write bench/results/<name>.json: the figures with the time, the git commit and the machine."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,80}", name):
        raise ValueError(f"result name {name!r}: use letters, digits, '_', '-' or '.'")
    status = _git("status", "--porcelain", "--untracked-files=no")
    record = {
        "name": name,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "quick": os.environ.get("BENCH_QUICK") == "1",
        "machine": machine(),
        "data": data,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(record, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


class _Tee:
    """Standard output that keeps a copy of what passes (everything else is the real stream's)."""

    def __init__(self, stream):
        self.stream, self.copy = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.copy.write(text)
        return self.stream.write(text)

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def record_output() -> Callable[[], list[str]]:
    """Copy what this process prints from now on; return a function that gives the lines so far."""
    tee = _Tee(sys.stdout)
    sys.stdout = tee
    return lambda: tee.copy.getvalue().splitlines()
