"""Intake throughput: N concurrent citizens complete intake conversations over POST /api/v1/chat.

Each citizen is a thread with its own keep-alive connection. Starts the real service (its own SQLite
database, or PostgreSQL with --database-url) and, for the ratio,
a bare FastAPI echo endpoint, both under uvicorn on this machine; prints turns per second and latency
percentiles for each.

    .venv/bin/python bench/intake.py --citizens 50
    .venv/bin/python bench/intake.py --citizens 200 --database-url postgresql+psycopg://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
from _common import free_port, latency_summary, pct, save_results, wait_up

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = [
    "我要投诉，小区楼下的饭店每天晚上油烟很大，窗户都不能开",
    "岳麓区麓谷街道",
    "枫林三路12号",
    "三个月前",
    "希望环保部门检查处理",
    "3个人",
    "没有",
    "张三",
    "13812345678",
    "同意",
    "确认提交",
]
ECHO_APP = """
from fastapi import FastAPI
from pydantic import BaseModel
app = FastAPI()
class Body(BaseModel):
    conversation_id: str
    message_id: str
    text: str
    locale: str = "zh-CN"
@app.post("/echo")
def echo(body: Body):
    return {"replies": [{"text": body.text, "quick_replies": []}]}
"""


def citizen(base: str, latencies: list[float], errors: list[str], registered: list[int]) -> None:
    conversation = uuid.uuid4().hex
    with httpx.Client(timeout=120) as client:
        for text in SCRIPT:
            started = time.perf_counter()
            r = client.post(f"{base}/api/v1/chat", json={"conversation_id": conversation, "message_id": uuid.uuid4().hex,
                                                         "text": text, "locale": "zh-CN"})
            latencies.append(time.perf_counter() - started)
            if r.status_code != 200:
                errors.append(f"{r.status_code}: {r.text[:100]}")
                return
            if "XF-" in r.text:
                registered.append(1)


def echo_user(base: str, turns: int, latencies: list[float]) -> None:
    with httpx.Client(timeout=120) as client:
        for _ in range(turns):
            started = time.perf_counter()
            client.post(f"{base}/echo", json={"conversation_id": "c" * 16, "message_id": "m" * 16, "text": "你好"})
            latencies.append(time.perf_counter() - started)


def concurrently(n: int, target, *args) -> float:
    """Run n threads of target(*args) at once and return the elapsed seconds."""
    threads = [threading.Thread(target=target, args=args) for _ in range(n)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def report(name: str, latencies: list[float], elapsed: float) -> float:
    rate = len(latencies) / elapsed
    print(f"{name:<22} turns={len(latencies):>6}  {rate:8.1f} turns/s  p50={pct(latencies, 50) * 1000:7.1f} ms  "
          f"p95={pct(latencies, 95) * 1000:7.1f} ms  p99={pct(latencies, 99) * 1000:7.1f} ms  "
          f"mean={statistics.mean(latencies) * 1000:7.1f} ms")
    return rate


def run(args) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    env = {**os.environ, "PETITION_DATABASE_URL": url, "PETITION_ENVIRONMENT": "test", "PETITION_LOG_LEVEL": "WARNING",
           "PETITION_EMBEDDED_SCHEDULER": "false", "PETITION_RATE_LIMIT_ENABLED": "false"}
    subprocess.run([sys.executable, "-c", "from server.bench_setup import main; main()"], env=env, check=True, cwd=ROOT)
    port, echo_port = free_port(), free_port()
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "server.app:create_app", "--factory", "--host", "127.0.0.1",
                               "--port", str(port), "--log-level", "warning", "--workers", str(args.workers)],
                              env=env, cwd=ROOT)
    (tmp / "echo_app.py").write_text(ECHO_APP)
    echo = subprocess.Popen([sys.executable, "-m", "uvicorn", "echo_app:app", "--host", "127.0.0.1", "--port", str(echo_port),
                             "--log-level", "warning", "--workers", str(args.workers)], cwd=tmp)
    try:
        base, echo_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{echo_port}"
        wait_up(f"{base}/healthz")
        wait_up(f"{echo_base}/docs")
        print(f"citizens={args.citizens} turns/citizen={len(SCRIPT)} workers={args.workers} database={url.split(':')[0]}")
        latencies: list[float] = []
        errors: list[str] = []
        registered: list[int] = []
        elapsed = concurrently(args.citizens, citizen, base, latencies, errors, registered)
        rate = report("intake (POST /chat)", latencies, elapsed)
        print(f"{'':<22} petitions registered={len(registered)}/{args.citizens} errors={len(errors)}"
              + (f" first error: {errors[0]}" if errors else ""))
        echo_latencies: list[float] = []
        elapsed = concurrently(args.citizens, echo_user, echo_base, len(SCRIPT), echo_latencies)
        echo_rate = report("bare FastAPI echo", echo_latencies, elapsed)
        print(f"ratio intake/echo throughput = {rate / echo_rate:.3f}")
        save_results("intake", {
            "citizens": args.citizens, "turns_per_citizen": len(SCRIPT), "workers": args.workers,
            "database": url.split(":")[0], "intake": {"turns_per_s": round(rate, 1), **latency_summary(latencies)},
            "petitions_registered": len(registered), "errors": len(errors),
            "echo": {"turns_per_s": round(echo_rate, 1), **latency_summary(echo_latencies)},
            "ratio_intake_to_echo": round(rate / echo_rate, 3)})
    finally:
        for process in (server, echo):
            process.terminate()
            process.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--citizens", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database-url", default=None)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
