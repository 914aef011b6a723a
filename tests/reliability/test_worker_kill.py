"""A Celery worker killed with SIGKILL in the middle of routing, risk and outbound SMS tasks, then restarted.

Every task completes exactly once in effect: each petition is routed and scored, each outbox message
reaches the (slow) Twilio stand-in once, and no task record is left queued, running or dead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from bot import service as conversations
from channels.models import OutboxMessage
from channels.service import enqueue_agent_message
from core import tasks
from core.settings import configure as configure_settings
from core.taskstore import TaskRecord
from risk.models import PetitionRisk
from routing.models import RoutingDecision
from tests.cases.helpers import register
from tests.conftest import REDIS_URL, TESTS, load_by_path, require_redis

tw = load_by_path("twilio_standin", TESTS / "channels" / "sms" / "fixtures" / "twilio_standin.py")
PETITIONS, MESSAGES = 8, 8


def _start_worker(env: dict, log_path: Path) -> subprocess.Popen:
    log = log_path.open("a")
    return subprocess.Popen([sys.executable, "-m", "server.cli", "worker", "--concurrency", "2"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _kill(worker: subprocess.Popen, sig=signal.SIGKILL) -> None:
    try:
        os.killpg(worker.pid, sig)
    except ProcessLookupError:
        pass
    worker.wait(timeout=30)


def _statuses(db) -> Counter:
    with db.session() as s:
        return Counter(s.scalars(select(TaskRecord.status)))


def test_sigkill_mid_task_then_restart_completes_every_task_once(db, settings, tmp_path):
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("Celery workers are the PostgreSQL deployment; the embedded runner's recovery is in "
                    "tests/core/test_task_records.py")
    redis_client = require_redis()
    queue = f"petition-kill-{uuid.uuid4().hex[:8]}"
    standin = tw.TwilioStandIn().start()
    standin.delay = 0.8  # a slow platform: the kill lands while messages are in flight
    live = settings.model_copy(update={
        "broker_url": REDIS_URL, "task_queue": queue, "route_on_register": True, "risk_on_register": True,
        "task_lease_seconds": 3, "task_resubmit_after": 1, "index_dir": str(tmp_path / "index"),
        "twilio_account_sid": tw.ACCOUNT_SID, "twilio_auth_token": SecretStr(tw.AUTH_TOKEN), "twilio_from": tw.FROM_NUMBER,
        "twilio_api_base": standin.base_url, "public_base_url": tw.PUBLIC_BASE})
    env = {**os.environ, "PETITION_ENVIRONMENT": "test", "PETITION_DATABASE_URL": settings.database_url,
           "PETITION_BROKER_URL": REDIS_URL, "PETITION_TASK_QUEUE": queue,
           "PETITION_PII_KEY": settings.pii_key.get_secret_value(),
           "PETITION_SECRET_KEY": settings.secret_key.get_secret_value(),
           "PETITION_ROUTE_ON_REGISTER": "true", "PETITION_RISK_ON_REGISTER": "true", "PETITION_EMBEDDER": "lexical",
           "PETITION_ZERO_SHOT": "false", "PETITION_CLASSIFIER_DIR": "/nonexistent/model",
           "PETITION_INDEX_DIR": str(tmp_path / "index"), "PETITION_TASK_LEASE_SECONDS": "3",
           "PETITION_TWILIO_ACCOUNT_SID": tw.ACCOUNT_SID, "PETITION_TWILIO_AUTH_TOKEN": tw.AUTH_TOKEN,
           "PETITION_TWILIO_FROM": tw.FROM_NUMBER, "PETITION_TWILIO_API_BASE": standin.base_url,
           "PETITION_PUBLIC_BASE_URL": tw.PUBLIC_BASE}
    previous = tasks._runner
    worker = None
    try:
        configure_settings(live)
        tasks._runner = tasks.CeleryRunner(live)
        petition_ids, texts = [], []
        with db.transaction() as s:
            for i in range(PETITIONS):
                petition, _ = register(s, title=f"小区噪声扰民第{i}号", content=f"岳麓区某工地夜间施工噪声扰民，第{i}次反映。")
                petition_ids.append(petition.id)
            for i in range(MESSAGES):
                number = f"+86138000000{i:02d}"
                conversations.ensure(s, channel="sms", external_id=number)
                conv = conversations.get_by_identity(s, channel="sms", external_id=number, for_update=True)
                texts.append(f"您好，您的诉求第{i}号已受理，请留意短信通知。")
                line = conversations.record(s, conv, direction="out", author="agent:li", text=texts[-1])
                enqueue_agent_message(s, conv=conv, seq=line.seq, text=texts[-1])
        total = sum(_statuses(db).values())
        assert total == 2 * PETITIONS + MESSAGES

        worker = _start_worker(env, tmp_path / "worker.log")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (_statuses(db)["running"] and standin.messages):
            time.sleep(0.05)
        at_kill = _statuses(db)
        _kill(worker)
        print("at kill:", dict(at_kill), "messages at the stand-in:", len(standin.messages))
        assert at_kill["running"] >= 1, (at_kill, (tmp_path / "worker.log").read_text()[-3000:])
        assert at_kill["done"] < total  # killed in the middle, not after the end

        worker = _start_worker(env, tmp_path / "worker.log")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _statuses(db)["done"] < total:
            tasks.sweep_tasks()  # Celery beat's role: once a minute in production
            time.sleep(1.0)
        final = _statuses(db)
        assert final == Counter({"done": total}), (final, (tmp_path / "worker.log").read_text()[-4000:])

        with db.session() as s:
            routed = s.scalar(select(func.count(func.distinct(RoutingDecision.petition_id)))
                              .where(RoutingDecision.petition_id.in_(petition_ids)))
            scored = s.scalar(select(func.count()).select_from(PetitionRisk)
                              .where(PetitionRisk.petition_id.in_(petition_ids)))
            outbox = Counter(s.scalars(select(OutboxMessage.status)))
        assert routed == PETITIONS and scored == PETITIONS
        assert outbox == Counter({"sent": MESSAGES})
        bodies = Counter(m["Body"] for m in standin.messages)
        assert bodies == Counter({text: 1 for text in texts}), bodies  # none lost, none twice
    finally:
        if worker is not None and worker.poll() is None:
            _kill(worker, signal.SIGTERM)
        tasks._runner = previous
        configure_settings(settings)
        standin.stop()
        redis_client.delete(queue, f"{queue}\x06\x163", "unacked", "unacked_index")
