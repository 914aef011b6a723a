"""The cost of observability: GET /metrics scrape latency over a large inbox/outbox, and the middleware's share of a request.

Starts the real service under uvicorn on its own SQLite database (or PostgreSQL with --database-url), fills the
inbox and outbox with --rows rows each (a tenth of them still pending or failed, so the backlog counts have
work to do), then times --scrapes scrapes of /metrics and, for the per-request overhead of the request-id and
metrics middlewares, /healthz on the same server with metrics on and off.

    .venv/bin/python bench/metrics.py --rows 200000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _common import free_port, latency_summary, save_results, wait_up

ROOT = Path(__file__).resolve().parent.parent


def fill(url: str, rows: int) -> None:
    """Insert rows inbox and rows outbox messages straight through the driver (a tenth of them not done)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    inbox = [{"c": "webchat", "m": f"bench-{n}", "s": f"citizen-{n % 5000}", "st": "received" if n % 10 == 0 else
              ("failed" if n % 10 == 1 else "processed")} for n in range(rows)]
    outbox = [{"c": "webchat", "r": f"citizen-{n % 5000}", "st": "pending" if n % 10 == 0 else
               ("failed" if n % 10 == 1 else "delivered")} for n in range(rows)]
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO inbox (channel, platform_msg_id, sender, text, media, status, attempts, received_at) "
                          "VALUES (:c, :m, :s, '', '{}', :st, 1, CURRENT_TIMESTAMP)"), inbox)
        conn.execute(text("INSERT INTO outbox (channel, recipient, text, quick_replies, status, attempts, created_at) "
                          "VALUES (:c, :r, 'ok', '[]', :st, 1, CURRENT_TIMESTAMP)"), outbox)
    engine.dispose()


def timed(client: httpx.Client, url: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        r = client.get(url)
        out.append(time.perf_counter() - started)
        assert r.status_code == 200, r.text[:200]
    return out


def serve(env: dict, port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "uvicorn", "server.app:create_app", "--factory", "--host", "127.0.0.1",
                             "--port", str(port), "--log-level", "warning", "--no-access-log"], env=env, cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=int(os.environ.get("BENCH_ROWS", 200_000)))
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    env = {**os.environ, "PETITION_DATABASE_URL": url, "PETITION_ENVIRONMENT": "test", "PETITION_LOG_LEVEL": "WARNING",
           "PETITION_EMBEDDED_SCHEDULER": "false", "PETITION_RATE_LIMIT_ENABLED": "false"}
    subprocess.run([sys.executable, "-m", "server.cli", "migrate"], env=env, check=True, cwd=ROOT, capture_output=True)
    started = time.perf_counter()
    fill(url, args.rows)
    print(f"database={url.split(':')[0]} inbox rows={args.rows} outbox rows={args.rows} (filled in "
          f"{time.perf_counter() - started:.1f} s)")
    results = {"rows": args.rows, "database": url.split(":")[0]}
    for label, enabled in (("metrics on", "true"), ("metrics off", "false")):
        port = free_port()
        server = serve({**env, "PETITION_METRICS_ENABLED": enabled}, port)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_up(f"{base}/healthz")
            with httpx.Client(timeout=30) as client:
                timed(client, f"{base}/healthz", 50)  # warm-up
                if enabled == "true":
                    timed(client, f"{base}/metrics", 10)
                    scrape = latency_summary(timed(client, f"{base}/metrics", args.scrapes))
                    size = len(client.get(f"{base}/metrics").content)
                    print(f"GET /metrics  ({size} bytes)  " + "  ".join(f"{k}={v}" for k, v in scrape.items()))
                    results["scrape"] = {**scrape, "bytes": size}
                health = latency_summary(timed(client, f"{base}/healthz", args.requests))
                print(f"GET /healthz, {label:<11}  " + "  ".join(f"{k}={v}" for k, v in health.items()))
                results[f"healthz_{label.replace(' ', '_')}"] = health
        finally:
            server.terminate()
            server.wait(10)
    save_results("metrics", results)


if __name__ == "__main__":
    main()
