"""Load: N concurrent web chat WebSocket sessions for a while, with signed SMS webhooks at a steady rate alongside.

Starts the real service under uvicorn on this machine (its own SQLite database, or a fresh PostgreSQL
database with --db postgresql) and, from one asyncio process, opens --sessions WebSockets to /ws/chat
as the citizen page does (hello, then message frames; the page's Chinese intake conversation with a
random think time between messages). A session that registers its petition checks its status with the
tracking number and query code, then starts a new conversation on the same socket. Meanwhile an SMS
sender posts Twilio-signed webhooks at --sms-rate per second, from a pool of phone numbers each walking
the same intake in order. Sessions connect spread over --ramp seconds; turns still in flight at the end
are waited for.

Printed: sessions connected, turns and replies, throughput (turns/s, SMS/s), p50/p95/p99 latency of a
turn (message frame -> replies frame) and of an SMS webhook, errors by kind (connection failures, closed
sockets, error frames, timeouts, non-200 SMS answers; all must be 0), petitions registered (counted in
the database), peak RSS of the server (with its worker processes) and of this client, and the load average.

Petitions are not routed on registration (PETITION_ROUTE_ON_REGISTER=false, as bench/channels.py):
routing's cost is bench/retrieval.py's subject and would land on the same cores. Rate limits are off:
every session comes from 127.0.0.1, which the per-address limit would rightly refuse.

    .venv/bin/python bench/load.py --sessions 100 --duration 30        # a quick look
    .venv/bin/python bench/load.py                                     # 1,000 sessions for 300 s
    .venv/bin/python bench/load.py --db postgresql --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import websockets
from _common import free_port, pct, save_results, wait_up

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "AC" + "d4" * 16
TOKEN = "5e" * 16
# The PostgreSQL server the tests use (tests/conftest.py); the run gets a database of its own there.
PG_ADMIN = os.environ.get("PETITION_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

# What citizens write: a complaint, then the answers the intake form asks for, in its order.
COMPLAINTS = [
    ("我要投诉，小区楼下的饭店每天晚上油烟很大，窗户都不能开", "希望环保部门检查处理"),
    ("我要投诉，工地晚上十一点以后还在施工，噪音吵得孩子睡不着", "希望尽快制止夜间施工"),
    ("我要反映，小区门口的路灯坏了一个多月了，晚上走路很危险", "希望尽快修好路灯"),
    ("我要投诉，物业公司没开业主大会就把物业费涨了一倍", "要求物业退还多收的费用"),
    ("我要反映，公司拖欠我三个月工资一直不发", "希望劳动监察部门帮我讨回工资"),
]
PLACES = [("岳麓区麓谷街道", "枫林三路12号"), ("岳麓区望月湖街道", "望月湖小区8栋"), ("雨花区侯家塘街道", "劳动西路45号"),
          ("岳麓区梅溪湖街道", "梅溪湖路9号"), ("雨花区雨花亭街道", "韶山中路100号")]
WHEN = ["三个月前", "上个月", "两周前", "半年前", "去年十月"]
PEOPLE = ["3个人", "一个人", "5个人", "两个人"]
NAMES = ["张三", "李四", "王芳", "刘伟", "陈静", "赵磊"]
REGISTERED = re.compile(r"受理编号：(\S+)\s+查询码：(\S+)")
TWILIO_NUMBER = "+15005550006"


def script(rng: random.Random) -> list[str]:
    """Return one citizen's intake conversation, in the order the web chat page sends it."""
    complaint, demand = rng.choice(COMPLAINTS)
    district, address = rng.choice(PLACES)
    phone = "13" + str(rng.randint(0, 9)) + "".join(rng.choice("0123456789") for _ in range(8))
    return [complaint, district, address, rng.choice(WHEN), demand, rng.choice(PEOPLE), "没有", rng.choice(NAMES), phone,
            "同意", "确认提交"]


@dataclass
class Stats:
    started: float = 0.0
    connected: int = 0
    peak_connected: int = 0
    connections: int = 0
    turns: int = 0
    replies: int = 0
    pushes: int = 0
    conversations: int = 0
    registered_seen: int = 0
    status_checks: int = 0
    turn_latency: list[float] = field(default_factory=list)
    sms_latency: list[float] = field(default_factory=list)
    sms_sent: int = 0
    sms_skipped: int = 0
    errors: Counter = field(default_factory=Counter)
    first_error: dict[str, str] = field(default_factory=dict)
    server_rss: int = 0
    client_rss: int = 0
    load: list[tuple[float, float, float]] = field(default_factory=list)
    elapsed: float = 0.0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        self.first_error.setdefault(kind, detail[:200])


class Session:
    """One citizen's browser tab: a WebSocket carrying intake conversations one after another."""

    def __init__(self, url: str, stats: Stats, rng: random.Random, args, deadline: float):
        self.url, self.stats, self.rng, self.args, self.deadline = url, stats, rng, args, deadline

    async def run(self, delay: float) -> None:
        await asyncio.sleep(delay)
        while time.monotonic() < self.deadline:
            try:
                ws = await websockets.connect(self.url, open_timeout=self.args.turn_timeout, ping_interval=None,
                                              close_timeout=5, max_size=2**20)
            except (OSError, websockets.InvalidHandshake) as exc:  # TimeoutError is an OSError
                self.stats.error("connect", f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(2 + self.rng.random() * 3)
                continue
            self.stats.connections += 1
            self.stats.connected += 1
            self.stats.peak_connected = max(self.stats.peak_connected, self.stats.connected)
            try:
                async with ws:
                    while time.monotonic() < self.deadline:
                        await self.conversation(ws)
                return
            except TimeoutError:
                pass  # counted where it happened; the page drops such a socket and connects again
            except websockets.ConnectionClosed as exc:
                self.stats.error("closed", f"{type(exc).__name__}: {exc}")
            except Exception as exc:  # a frame the page could not read, say: an error, not the end of the run
                self.stats.error("unexpected", f"{type(exc).__name__}: {exc}")
            finally:
                self.stats.connected -= 1
            await asyncio.sleep(2 + self.rng.random() * 3)

    async def receive(self, ws, until: str, message_id: str | None = None) -> dict:
        """Read frames until one of this type (for this message) arrives; count pushes and error frames."""
        async with asyncio.timeout(self.args.turn_timeout):
            while True:
                frame = json.loads(await ws.recv())
                kind = frame.get("type")
                if kind == "push":
                    self.stats.pushes += 1
                elif kind == "error":
                    self.stats.error("error frame", json.dumps(frame, ensure_ascii=False))
                    if message_id is None or frame.get("in_reply_to") in (None, message_id):
                        return frame
                elif kind == until and (message_id is None or frame.get("in_reply_to") == message_id):
                    return frame

    async def turn(self, ws, conversation: str, text: str) -> list[dict] | None:
        message_id = uuid.uuid4().hex
        started = time.perf_counter()
        await ws.send(json.dumps({"type": "message", "conversation_id": conversation, "message_id": message_id,
                                  "text": text, "locale": "zh-CN"}, ensure_ascii=False))
        try:
            frame = await self.receive(ws, "replies", message_id)
        except TimeoutError:
            self.stats.error("timeout", f"no replies frame within {self.args.turn_timeout} s for {text!r}")
            raise
        self.stats.turn_latency.append(time.perf_counter() - started)
        self.stats.turns += 1
        if frame.get("type") != "replies":
            return None
        self.stats.replies += len(frame["replies"])
        return frame["replies"]

    async def think(self) -> bool:
        """Wait as a person types; return False when the run is over."""
        pause = self.rng.uniform(self.args.think_min, self.args.think_max)
        await asyncio.sleep(max(0.0, min(pause, self.deadline - time.monotonic())))
        return time.monotonic() < self.deadline

    async def conversation(self, ws) -> None:
        conversation = uuid.uuid4().hex
        await ws.send(json.dumps({"type": "hello", "conversation_id": conversation, "locale": "zh-CN", "after": 0}))
        try:
            await self.receive(ws, "history")
        except TimeoutError:
            self.stats.error("timeout", "no history frame")
            raise
        self.stats.conversations += 1
        found = None
        for text in script(self.rng):
            if not await self.think():
                return
            replies = await self.turn(ws, conversation, text)
            for reply in replies or []:
                found = found or REGISTERED.search(reply["text"])
        if found:
            self.stats.registered_seen += 1
            if await self.think():
                replies = await self.turn(ws, conversation, f"查询 {found.group(1)} 查询码 {found.group(2)}")
                if replies and any(found.group(1) in r["text"] for r in replies):
                    self.stats.status_checks += 1


class SmsSender:
    """Twilio-signed inbound SMS webhooks at a steady rate, each number walking an intake conversation."""

    def __init__(self, base: str, stats: Stats, rng: random.Random, rate: float, pool: int, deadline: float):
        from twilio.request_validator import RequestValidator

        self.base, self.stats, self.rng, self.rate, self.deadline = base, stats, rng, rate, deadline
        self.validator = RequestValidator(TOKEN)
        self.idle: asyncio.Queue = asyncio.Queue()
        for _ in range(pool):
            self.idle.put_nowait(["+86139" + "".join(rng.choice("0123456789") for _ in range(8)), []])

    async def run(self) -> None:
        if self.rate <= 0:
            return
        path = "/channels/sms/twilio"
        async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=200)) as client:
            tasks = set()
            tick = time.monotonic()
            while tick < self.deadline:
                await asyncio.sleep(max(0.0, tick - time.monotonic()))
                tick += 1 / self.rate
                try:
                    sender = self.idle.get_nowait()
                except asyncio.QueueEmpty:
                    self.stats.sms_skipped += 1  # every number still waits for its last answer
                    continue
                task = asyncio.create_task(self.send(client, path, sender))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*tasks)

    async def send(self, client: httpx.AsyncClient, path: str, sender: list) -> None:
        number, queue = sender
        if not queue:
            queue.extend(script(self.rng))
        sid = "SM" + uuid.uuid4().hex
        params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT, "From": number, "To": TWILIO_NUMBER,
                  "Body": queue.pop(0), "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received",
                  "ApiVersion": "2010-04-01"}
        signature = self.validator.compute_signature(self.base + path, params)
        started = time.perf_counter()
        try:
            r = await client.post(self.base + path, data=params, headers={"X-Twilio-Signature": signature})
            self.stats.sms_latency.append(time.perf_counter() - started)
            self.stats.sms_sent += 1
            if r.status_code != 200:
                self.stats.error(f"sms {r.status_code}", r.text)
        except httpx.HTTPError as exc:
            self.stats.error("sms transport", f"{type(exc).__name__}: {exc}")
        finally:
            self.idle.put_nowait(sender)


def cpu_of(process: psutil.Process) -> float:
    """Return the CPU seconds (user and system) of a process and all its children."""
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        try:
            times = p.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def rss_of(process: psutil.Process) -> int:
    """Return the resident memory of a process and all its children, in bytes."""
    total = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


async def monitor(stats: Stats, server: psutil.Process, every: float) -> None:
    me = psutil.Process()
    last = time.monotonic()
    while True:
        stats.server_rss = max(stats.server_rss, rss_of(server))
        stats.client_rss = max(stats.client_rss, me.memory_info().rss)
        stats.load.append(os.getloadavg())
        now = time.monotonic()
        if now - last >= every:
            last = now
            lat = stats.turn_latency[-500:]
            print(f"  t={now - stats.started:5.0f} s  connected={stats.connected:5d}  turns={stats.turns:7d}  "
                  f"sms={stats.sms_sent:6d}  recent turn p95={pct(lat, 95) * 1000 if lat else 0:7.0f} ms  "
                  f"errors={sum(stats.errors.values())}  load={os.getloadavg()[0]:.2f}", flush=True)
        await asyncio.sleep(1)


async def drive(args, base: str, server: psutil.Process) -> Stats:
    stats = Stats(started=time.monotonic())
    me = psutil.Process()
    # The server is this process's child: the client's own figures leave it out.
    server_cpu, client_cpu = cpu_of(server), sum(me.cpu_times()[:2])
    deadline = stats.started + args.duration
    rng = random.Random(args.seed)
    url = base.replace("http://", "ws://") + "/ws/chat"
    sessions = [Session(url, stats, random.Random(rng.random()), args, deadline) for _ in range(args.sessions)]
    sms = SmsSender(base, stats, random.Random(rng.random()), args.sms_rate, args.sms_numbers, deadline)
    watcher = asyncio.create_task(monitor(stats, server, args.progress))
    await asyncio.gather(sms.run(), *(s.run(args.ramp * i / args.sessions) for i, s in enumerate(sessions)))
    stats.elapsed = time.monotonic() - stats.started
    stats.server_cpu_s, stats.client_cpu_s = cpu_of(server) - server_cpu, sum(me.cpu_times()[:2]) - client_cpu
    watcher.cancel()
    return stats


def registered_in_database(url: str) -> dict[str, int]:
    """Count the petitions the run registered, by channel."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(text("SELECT channel, count(*) FROM petitions GROUP BY channel")).all())
    finally:
        engine.dispose()


def fresh_postgres() -> tuple[str, Callable[[], None]]:
    """Create an empty PostgreSQL database; return its SQLAlchemy URL and a function that drops it."""
    import psycopg

    name = f"petition_bench_{uuid.uuid4().hex[:10]}"
    admin = PG_ADMIN.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name, drop


def ms(values: list[float], p: float) -> float:
    return round(pct(values, p) * 1000, 1) if values else 0.0


def report(args, stats: Stats, registered: dict[str, int], database: str) -> dict:
    turn_rate = stats.turns / stats.elapsed
    sms_rate = stats.sms_sent / stats.elapsed
    load_peak = max(x[0] for x in stats.load)
    data = {
        "sessions": args.sessions, "duration_s": args.duration, "elapsed_s": round(stats.elapsed, 1),
        "workers": args.workers, "database": database, "think_s": [args.think_min, args.think_max],
        "sms_rate_target": args.sms_rate, "cpus": os.cpu_count(),
        "sessions_connected_peak": stats.peak_connected, "connections": stats.connections,
        "conversations": stats.conversations, "messages_sent": stats.turns, "replies_received": stats.replies,
        "pushes_received": stats.pushes, "turns_per_s": round(turn_rate, 1),
        "turn_ms": {"p50": ms(stats.turn_latency, 50), "p95": ms(stats.turn_latency, 95),
                    "p99": ms(stats.turn_latency, 99), "max": ms(stats.turn_latency, 100)},
        "sms_sent": stats.sms_sent, "sms_skipped_all_numbers_busy": stats.sms_skipped, "sms_per_s": round(sms_rate, 2),
        "sms_ms": {"p50": ms(stats.sms_latency, 50), "p95": ms(stats.sms_latency, 95),
                   "p99": ms(stats.sms_latency, 99), "max": ms(stats.sms_latency, 100)},
        "errors": dict(stats.errors), "errors_total": sum(stats.errors.values()), "first_errors": stats.first_error,
        "registrations_seen_by_clients": stats.registered_seen, "status_checks_answered": stats.status_checks,
        "petitions_registered": registered,
        "server_peak_rss_mb": round(stats.server_rss / 2**20), "client_peak_rss_mb": round(stats.client_rss / 2**20),
        "server_cpu_s": round(stats.server_cpu_s, 1), "client_cpu_s": round(stats.client_cpu_s, 1),
        "load_average_1m": {"start": round(stats.load[0][0], 2), "peak": round(load_peak, 2),
                            "end": round(stats.load[-1][0], 2)},
    }
    print(f"\nsessions={args.sessions} duration={args.duration} s workers={args.workers} database={database} "
          f"think={args.think_min}-{args.think_max} s cpus={os.cpu_count()}")
    print(f"sessions connected (peak)  {stats.peak_connected} of {args.sessions}  ({stats.connections} connections opened)")
    print(f"conversations started      {stats.conversations}")
    print(f"messages sent              {stats.turns}   replies received {stats.replies}   pushes {stats.pushes}")
    print(f"web chat turns             {turn_rate:8.1f} /s   p50 {data['turn_ms']['p50']:8.1f} ms   "
          f"p95 {data['turn_ms']['p95']:8.1f} ms   p99 {data['turn_ms']['p99']:8.1f} ms   max {data['turn_ms']['max']:8.1f} ms")
    print(f"SMS webhooks               {sms_rate:8.2f} /s   p50 {data['sms_ms']['p50']:8.1f} ms   "
          f"p95 {data['sms_ms']['p95']:8.1f} ms   p99 {data['sms_ms']['p99']:8.1f} ms   ({stats.sms_sent} sent, "
          f"{stats.sms_skipped} ticks skipped with every number busy)")
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(stats.errors.items())) or "none"
    print(f"errors                     {sum(stats.errors.values())} ({kinds})")
    for kind, detail in stats.first_error.items():
        print(f"  first {kind}: {detail}")
    print(f"petitions registered       {sum(registered.values())} in the database ({registered}); "
          f"{stats.registered_seen} seen by web chat sessions, {stats.status_checks} status checks answered")
    print(f"peak RSS                   server {data['server_peak_rss_mb']} MB (with its workers), "
          f"client {data['client_peak_rss_mb']} MB")
    print(f"CPU time                   server {stats.server_cpu_s:.0f} s ({stats.server_cpu_s / stats.elapsed:.2f} cores), "
          f"client {stats.client_cpu_s:.0f} s ({stats.client_cpu_s / stats.elapsed:.2f} cores) over {stats.elapsed:.0f} s")
    print(f"load average (1 min)       start {data['load_average_1m']['start']}  peak {data['load_average_1m']['peak']}  "
          f"end {data['load_average_1m']['end']}")
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=1000, help="concurrent WebSocket sessions")
    parser.add_argument("--duration", type=float, default=300, help="seconds of load")
    parser.add_argument("--ramp", type=float, default=None, help="seconds over which sessions connect (default: a tenth "
                                                                 "of the duration, at most 30)")
    parser.add_argument("--think-min", type=float, default=2.0)
    parser.add_argument("--think-max", type=float, default=8.0)
    parser.add_argument("--turn-timeout", type=float, default=45.0, help="seconds a turn may take, as the page waits")
    parser.add_argument("--sms-rate", type=float, default=5.0, help="SMS webhooks per second")
    parser.add_argument("--sms-numbers", type=int, default=100, help="phone numbers the SMS sender writes from")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers (petition serve runs 1)")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--progress", type=float, default=30, help="seconds between progress lines")
    args = parser.parse_args()
    if args.ramp is None:
        args.ramp = min(30.0, args.duration / 10)

    # Each session is a socket at both ends; the server inherits the raised limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < 2 * args.sessions + 200:
        sys.exit(f"the open-file limit is {hard}: too low for {args.sessions} sessions")

    tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    drop = None
    if args.db == "postgresql":
        url, drop = fresh_postgres()
    else:
        url = f"sqlite:///{tmp / 'bench.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PETITION_DATABASE_URL": url, "PETITION_ENVIRONMENT": "test", "PETITION_LOG_LEVEL": "WARNING",
           "PETITION_EMBEDDED_SCHEDULER": "false", "PETITION_ROUTE_ON_REGISTER": "false",
           "PETITION_RATE_LIMIT_ENABLED": "false", "PETITION_TWILIO_ACCOUNT_SID": ACCOUNT,
           "PETITION_TWILIO_AUTH_TOKEN": TOKEN, "PETITION_TWILIO_FROM": TWILIO_NUMBER,
           "PETITION_PUBLIC_BASE_URL": base, "PETITION_MEDIA_DIR": str(tmp / "media")}
    server = None
    try:
        subprocess.run([sys.executable, "-c", "from server.bench_setup import main; main()"], env=env, check=True, cwd=ROOT)
        server = subprocess.Popen([sys.executable, "-m", "uvicorn", "server.app:create_app", "--factory", "--host", "127.0.0.1",
                                   "--port", str(port), "--log-level", "warning", "--workers", str(args.workers)],
                                  env=env, cwd=ROOT)
        wait_up(f"{base}/healthz")
        print(f"load: {args.sessions} WebSocket sessions for {args.duration:.0f} s (connecting over {args.ramp:.0f} s), "
              f"SMS at {args.sms_rate}/s, {args.workers} worker(s), {args.db}; load average now "
              f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
        stats = asyncio.run(drive(args, base, psutil.Process(server.pid)))
        if server.poll() is not None:
            stats.error("server exited", f"exit code {server.returncode}")
        data = report(args, stats, registered_in_database(url), args.db)
        path = save_results("load" if args.db == "sqlite" else f"load_{args.db}", data)
        print(f"written to {path.relative_to(ROOT)}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if drop is not None:
            drop()
    if data["errors_total"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
