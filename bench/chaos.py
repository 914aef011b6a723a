"""Chaos: 10,000 citizen messages while the worker is killed and Redis and PostgreSQL are restarted.

Starts its own PostgreSQL cluster and Redis (so it can really restart them), the service (uvicorn) and a
Celery worker with beat (the task sweeper every few seconds). Citizens hold intake conversations over web
chat and Twilio-signed SMS webhooks; a share of the messages is delivered two or three times at once, as
platforms do on timeouts, and every refused or failed delivery is retried with the same message id until
acknowledged (what WeChat and Twilio's retries amount to). Meanwhile: SIGKILL the worker, restart Redis
(without persistence: its queue is gone), restart PostgreSQL (immediate stop), SIGKILL the worker again.
Prints sent / acknowledged / processed / petitions / duplicates / lost, the tasks' fate and the 503s.

    .venv/bin/python bench/chaos.py                 # 10,000 messages
    BENCH_QUICK=1 .venv/bin/python bench/chaos.py   # 1,000 messages

Needs PostgreSQL's server binaries (initdb, pg_ctl; run as root it uses the postgres account) and redis-server.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
from _common import free_port, latency_summary, save_results, wait_up
from intake import SCRIPT

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "0c1b2a3948576f6e5d4c3b2a19087f6e"
PUBLIC = "https://petition.example.gov.cn"
TRACKING = re.compile(r"XF-\d{8}-\d{6}")


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise SystemExit(f"{name} not found: install PostgreSQL's server package")
    return found[-1]


class PostgresCluster:
    """A throw-away PostgreSQL cluster that can be stopped hard and started again."""

    def __init__(self, root: Path):
        self.dir, self.port = root / "pg", free_port()
        self.user = "postgres" if os.geteuid() == 0 else None

    def _run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        if self.user:
            cmd = ("runuser", "-u", self.user, "--", *cmd)
        return subprocess.run(cmd, check=check, capture_output=True, text=True)

    def init(self) -> PostgresCluster:
        self.dir.mkdir(parents=True)
        if self.user:
            shutil.chown(self.dir, self.user, self.user)
            shutil.chown(self.dir.parent, self.user, self.user)
        self._run(_pg_bin("initdb"), "-D", str(self.dir), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()
        self._run(_pg_bin("psql") if os.path.exists(_pg_bin("psql")) else "psql", "-h", "127.0.0.1", "-p",
                  str(self.port), "-U", "postgres", "-c", "CREATE DATABASE chaos", check=True)
        return self

    def start(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.dir), "-w", "-l", str(self.dir / "server.log"), "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200",
                  "start")

    def stop(self, mode: str = "immediate") -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.dir), "-m", mode, "-w", "stop", check=False)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/chaos"


class RedisServer:
    """A throw-away Redis without persistence: a restart loses whatever was queued."""

    def __init__(self, root: Path):
        self.port, self.dir, self.proc = free_port(), root / "redis", None
        self.dir.mkdir(parents=True)

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.dir)], stdout=subprocess.DEVNULL)
        for _ in range(50):
            if subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).returncode == 0:
                return
            time.sleep(0.1)

    def kill(self) -> None:
        if self.proc:
            self.proc.kill()
            self.proc.wait()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.sent = self.acked = self.deliveries = 0
        self.acked_ids: list[tuple[str, str]] = []  # (channel, platform message id)
        self.responses: Counter = Counter()
        self.latency: list[float] = []
        self.refusal_latency: list[float] = []
        self.tracking: dict[str, set[str]] = {}  # conversation → tracking numbers seen in replies
        self.unacked: list[tuple[str, str]] = []

    def response(self, status: int | str, seconds: float) -> None:
        with self.lock:
            self.deliveries += 1
            self.responses[status] += 1
            (self.latency if status == 200 else self.refusal_latency).append(seconds)


class Citizen:
    """One conversation over web chat or SMS, each message retried until acknowledged."""

    def __init__(self, base: str, channel: str, stats: Stats, dup_share: float, validator, rng: random.Random):
        self.base, self.channel, self.stats, self.dup_share = base, channel, stats, dup_share
        self.validator, self.rng = validator, rng
        self.conversation = uuid.uuid4().hex
        self.phone = f"+86139{rng.randrange(10**8):08d}"

    def _deliver(self, client: httpx.Client, text: str, message_id: str) -> tuple[int | str, str]:
        started = time.perf_counter()
        try:
            if self.channel == "webchat":
                r = client.post(f"{self.base}/api/v1/chat", json={"conversation_id": self.conversation,
                                                                  "message_id": message_id, "text": text,
                                                                  "locale": "zh-CN"})
            else:
                params = {"MessageSid": message_id, "SmsSid": message_id, "AccountSid": "AC" + "0" * 32,
                          "From": self.phone, "To": "+8673112345", "Body": text, "NumMedia": "0"}
                path = "/channels/sms/twilio"
                signature = self.validator.compute_signature(PUBLIC + path, params)
                r = client.post(self.base + path, data=params, headers={"X-Twilio-Signature": signature})
            status, body = r.status_code, r.text
        except httpx.HTTPError as exc:
            status, body = type(exc).__name__, ""
        self.stats.response(status, time.perf_counter() - started)
        return status, body

    def run(self, budget: threading.Semaphore, stop: threading.Event) -> None:
        with httpx.Client(timeout=30) as client:
            for text in SCRIPT:
                if stop.is_set() or not budget.acquire(blocking=False):
                    return
                message_id = ("SM" if self.channel == "sms" else "") + uuid.uuid4().hex
                with self.stats.lock:
                    self.stats.sent += 1
                copies = 1 if self.rng.random() >= self.dup_share else self.rng.choice((2, 3))
                acked, deadline = None, time.monotonic() + 300
                while acked is None and time.monotonic() < deadline:
                    results: list[tuple[int | str, str]] = []

                    def one(results=results, message_id=message_id, text=text):
                        with httpx.Client(timeout=30) as extra:
                            results.append(self._deliver(extra, text, message_id))

                    threads = [threading.Thread(target=one) for _ in range(copies - 1)]
                    for t in threads:
                        t.start()
                    results.append(self._deliver(client, text, message_id))
                    for t in threads:
                        t.join()
                    acked = next((body for status, body in results if status == 200), None)
                    if acked is None:
                        time.sleep(1.0)  # the platform retries
                with self.stats.lock:
                    if acked is None:
                        self.stats.unacked.append((self.channel, message_id))
                        return
                    self.stats.acked += 1
                    # Web chat stores a message id scoped to its conversation (see channels/webchat/api.py).
                    stored = (hashlib.sha256(f"{self.conversation}:{message_id}".encode()).hexdigest()
                              if self.channel == "webchat" else message_id)
                    self.stats.acked_ids.append((self.channel, stored))
                    found = set(TRACKING.findall(acked))
                    if found:
                        self.stats.tracking.setdefault(self.conversation, set()).update(found)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def main() -> None:
    quick = os.environ.get("BENCH_QUICK") == "1"
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000 if quick else 10_000)
    parser.add_argument("--citizens", type=int, default=24, help="conversations in flight at once")
    parser.add_argument("--sms-share", type=float, default=0.4)
    parser.add_argument("--dup-share", type=float, default=0.2, help="messages delivered 2-3 times at once")
    parser.add_argument("--outage", type=float, default=5.0, help="seconds each service stays down")
    parser.add_argument("--drain-timeout", type=float, default=1200, help="seconds to wait for the tasks to finish")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database)")
    args = parser.parse_args()
    from twilio.request_validator import RequestValidator

    tmp = Path(tempfile.mkdtemp(prefix="bench-chaos-"))
    pg, redis_server = PostgresCluster(tmp), RedisServer(tmp)
    print(f"chaos: {args.messages} messages, {args.citizens} conversations at once, temp {tmp}")
    pg.init()
    redis_server.start()
    env = {**os.environ, "PETITION_ENVIRONMENT": "test", "PETITION_DATABASE_URL": pg.url,
           "PETITION_BROKER_URL": redis_server.url, "PETITION_LOG_LEVEL": "WARNING", "PETITION_LOG_FORMAT": "text",
           "PETITION_PII_KEY": "chaos-pii-key", "PETITION_SECRET_KEY": "chaos-secret-key",
           "PETITION_EMBEDDER": "lexical", "PETITION_ZERO_SHOT": "false", "PETITION_INDEX_DIR": str(tmp / "index"),
           "PETITION_TWILIO_AUTH_TOKEN": TOKEN, "PETITION_PUBLIC_BASE_URL": PUBLIC,
           "PETITION_RATE_LIMIT_ENABLED": "false", "PETITION_TASK_SWEEP_INTERVAL": "10",
           "PETITION_TASK_RESUBMIT_AFTER": "20", "PETITION_TASK_LEASE_SECONDS": "60"}
    subprocess.run([sys.executable, "-c", "from server.bench_setup import main; main()"], env=env, check=True, cwd=ROOT)
    port = free_port()
    logs = {name: (tmp / f"{name}.log").open("a") for name in ("server", "worker")}
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "server.app:create_app", "--factory", "--host",
                               "127.0.0.1", "--port", str(port), "--workers", "2", "--log-level", "warning"],
                              env=env, cwd=ROOT, stdout=logs["server"], stderr=subprocess.STDOUT, start_new_session=True)

    def start_worker() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "server.cli", "worker", "--concurrency", "2", "--beat"], env=env,
                                cwd=ROOT, stdout=logs["worker"], stderr=subprocess.STDOUT, start_new_session=True)

    worker = start_worker()
    base = f"http://127.0.0.1:{port}"
    events: list[str] = []
    stats = Stats()
    started = time.monotonic()

    def note(text: str) -> None:
        line = f"  t={time.monotonic() - started:7.1f}s acked={stats.acked:6d}  {text}"
        events.append(line.strip())
        print(line, flush=True)

    try:
        wait_up(f"{base}/healthz", timeout=120)
        budget = threading.Semaphore(args.messages)
        stop = threading.Event()
        validator = RequestValidator(TOKEN)
        rng = random.Random(20261204)
        rng_lock = threading.Lock()

        def citizen_loop(seed: int) -> None:
            local = random.Random(seed)
            while not stop.is_set():
                with rng_lock:
                    channel = "sms" if rng.random() < args.sms_share else "webchat"
                Citizen(base, channel, stats, args.dup_share, validator, local).run(budget, stop)
                with budget._cond:  # noqa: SLF001 - the semaphore's count says whether messages are left
                    if budget._value == 0:
                        return

        threads = [threading.Thread(target=citizen_loop, args=(i,), daemon=True) for i in range(args.citizens)]
        for t in threads:
            t.start()

        def at(share: float) -> None:
            while stats.acked < share * args.messages and any(t.is_alive() for t in threads):
                time.sleep(0.2)

        at(0.15)
        note("SIGKILL the worker (and its pool)")
        _kill_group(worker)
        time.sleep(args.outage)
        worker = start_worker()
        note("worker restarted")
        at(0.35)
        note("Redis killed (no persistence: the queue is lost)")
        redis_server.kill()
        time.sleep(args.outage)
        redis_server.start()
        note("Redis restarted")
        at(0.60)
        note("PostgreSQL stopped (immediate)")
        pg.stop("immediate")
        time.sleep(args.outage)
        pg.start()
        note("PostgreSQL started")
        at(0.80)
        note("SIGKILL the worker again")
        _kill_group(worker)
        time.sleep(args.outage)
        worker = start_worker()
        note("worker restarted")
        for t in threads:
            t.join()
        sending = time.monotonic() - started
        note(f"all messages sent in {sending:.0f}s; waiting for the tasks to drain")
        counts = _drain(pg.url, timeout=args.drain_timeout)
        note(f"tasks drained: {counts}")
        drain_seconds = time.monotonic() - started - sending
        figures = _tally(pg.url, stats)
    finally:
        for proc in (server, worker):
            if proc.poll() is None:
                _kill_group(proc)
        redis_server.kill()
        pg.stop("fast")
        for fh in logs.values():
            fh.close()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    figures.update({"messages": args.messages, "citizens": args.citizens, "sending_seconds": round(sending, 1),
                    "drain_seconds": round(drain_seconds, 1),
                    "deliveries": stats.deliveries, "responses": {str(k): v for k, v in stats.responses.items()},
                    "latency_acked": latency_summary(stats.latency),
                    "latency_refused": latency_summary(stats.refusal_latency), "events": events})
    print()
    for key in ("sent", "acknowledged", "processed", "petitions", "petitions_expected", "duplicates", "lost",
                "unacknowledged", "tasks", "petitions_unrouted", "petitions_unscored"):
        print(f"{key:>20}: {figures[key]}")
    print(f"{'deliveries':>20}: {stats.deliveries} ({dict(stats.responses)})")
    print(f"{'acked latency':>20}: {figures['latency_acked']}")
    print(f"{'refusal latency':>20}: {figures['latency_refused']}")
    print(f"saved {save_results('chaos', figures)}")


def _drain(url: str, timeout: float) -> dict:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, pool_pre_ping=True)
    deadline = time.monotonic() + timeout
    counts: dict = {}
    while time.monotonic() < deadline:
        try:
            with engine.connect() as conn:
                counts = dict(conn.execute(text("SELECT status, count(*) FROM task_records GROUP BY status")).all())
        except Exception:
            counts = {}
        if counts and not counts.get("queued") and not counts.get("running"):
            break
        time.sleep(2)
    engine.dispose()
    return counts


def _tally(url: str, stats: Stats) -> dict:
    from sqlalchemy import bindparam, create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        processed = conn.execute(text("SELECT count(*) FROM inbox WHERE status = 'processed'")).scalar()
        acked_keys = {f"{c}\x00{m}" for c, m in stats.acked_ids}
        found = set()
        ids = [m for _, m in stats.acked_ids]
        for i in range(0, len(ids), 1000):
            rows = conn.execute(text("SELECT channel, platform_msg_id FROM inbox WHERE status = 'processed' "
                                     "AND platform_msg_id IN :ids").bindparams(bindparam("ids", expanding=True)),
                                {"ids": ids[i:i + 1000]}).all()
            found.update(f"{c}\x00{m}" for c, m in rows)
        lost = len(acked_keys - found)
        # A message processed twice would leave two citizen lines in the transcript for one inbox row.
        lines_in = conn.execute(text("SELECT count(*) FROM conversation_messages WHERE direction = 'in'")).scalar()
        petitions = conn.execute(text("SELECT count(*) FROM petitions")).scalar()
        unrouted = conn.execute(text("SELECT count(*) FROM petitions p WHERE NOT EXISTS "
                                     "(SELECT 1 FROM routing_decisions d WHERE d.petition_id = p.id)")).scalar()
        unscored = conn.execute(text("SELECT count(*) FROM petitions p WHERE NOT EXISTS "
                                     "(SELECT 1 FROM petition_risks r WHERE r.petition_id = p.id)")).scalar()
        tasks = dict(conn.execute(text("SELECT status, count(*) FROM task_records GROUP BY status")).all())
    engine.dispose()
    expected = sum(len(v) for v in stats.tracking.values())
    # Twice processed: more citizen lines than processed messages, a conversation given two tracking
    # numbers, or petitions no citizen was told about.
    per_conversation = sum(len(v) - 1 for v in stats.tracking.values() if len(v) > 1)
    duplicates = max(0, lines_in - processed) + per_conversation + max(0, petitions - expected)
    return {"sent": stats.sent, "acknowledged": stats.acked, "processed": processed, "petitions": petitions,
            "petitions_expected": expected, "duplicates": duplicates, "lost": lost,
            "unacknowledged": len(stats.unacked), "tasks": tasks, "petitions_unrouted": unrouted,
            "petitions_unscored": unscored}


if __name__ == "__main__":
    main()
