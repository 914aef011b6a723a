"""The outbox sender: once per message, retries with the error kept, a dead letter after the budget."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot import service as conversations
from channels import registry, tasks
from channels.models import OutboxMessage
from channels.service import enqueue_agent_message


class Recorder:
    """A platform stand-in that records what it is sent and fails on demand."""

    name = "testchan"
    in_band = False

    def __init__(self):
        self.sent, self.fail_next, self.refuse = [], 0, False

    def send(self, message):
        if self.refuse:
            raise registry.DeliveryError("recipient blocked us")
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("platform down")
        self.sent.append(message.text)
        return f"pid-{len(self.sent)}"


class HeldRunner:
    """Keep submitted tasks instead of running them, so the test runs each attempt itself."""

    def __init__(self):
        self.submitted = []

    def submit(self, name, kwargs):
        # The durable task record's id travels with the arguments; these tests call the task bodies directly.
        self.submitted.append((name, {k: v for k, v in kwargs.items() if k != "_task_record"}))


@pytest.fixture
def recorder():
    from core import tasks as core_tasks

    adapter, held = Recorder(), HeldRunner()
    registry.register(adapter)
    original, core_tasks._runner = core_tasks._runner, held
    adapter.held = held
    yield adapter
    core_tasks._runner = original
    registry._adapters.pop("testchan", None)


def _queue(db, text: str) -> int:
    with db.transaction() as s:
        conversations.ensure(s, channel="testchan", external_id="user-1")
        conv = conversations.get_by_identity(s, channel="testchan", external_id="user-1", for_update=True)
        line = conversations.record(s, conv, direction="out", author="agent:x", text=text)
        return enqueue_agent_message(s, conv=conv, seq=line.seq, text=text).id


def _row(db, outbox_id):
    with db.session() as s:
        return s.scalar(select(OutboxMessage).where(OutboxMessage.id == outbox_id))


def test_sent_once_with_platform_id(db, recorder):
    oid = _queue(db, "您好")
    assert recorder.held.submitted == [("channels.send_outbox", {"outbox_id": oid})]  # queued after commit
    assert tasks.send_outbox(outbox_id=oid) == "sent"
    assert tasks.send_outbox(outbox_id=oid) == "sent"  # a repeated task sends nothing more
    row = _row(db, oid)
    assert recorder.sent == ["您好"] and (row.status, row.attempts, row.platform_msg_id) == ("sent", 1, "pid-1")


def test_transient_failures_are_retried_then_dead_lettered(db, recorder):
    oid = _queue(db, "通知")
    recorder.fail_next = 1
    with pytest.raises(ConnectionError):
        tasks.send_outbox(outbox_id=oid)
    row = _row(db, oid)
    assert (row.status, row.attempts) == ("pending", 1) and "platform down" in row.last_error
    assert tasks.send_outbox(outbox_id=oid) == "sent" and recorder.sent == ["通知"]
    dead = _queue(db, "永远失败")
    recorder.fail_next = 99
    for _ in range(tasks.MAX_ATTEMPTS - 1):
        with pytest.raises(ConnectionError):
            tasks.send_outbox(outbox_id=dead)
    assert tasks.send_outbox(outbox_id=dead) == "failed"
    assert _row(db, dead).attempts == tasks.MAX_ATTEMPTS


def test_permanent_refusal_fails_at_once(db, recorder):
    oid = _queue(db, "x")
    recorder.refuse = True
    assert tasks.send_outbox(outbox_id=oid) == "failed"
    assert _row(db, oid).attempts == 1 and recorder.sent == []


def test_in_band_channels_are_marked_delivered(db, recorder):
    with db.transaction() as s:
        conversations.ensure(s, channel="webchat", external_id="web-00000001")
        conv = conversations.get_by_identity(s, channel="webchat", external_id="web-00000001", for_update=True)
        line = conversations.record(s, conv, direction="out", author="agent:x", text="hi")
        oid = enqueue_agent_message(s, conv=conv, seq=line.seq, text="hi").id
    assert tasks.send_outbox(outbox_id=oid) == "delivered"
