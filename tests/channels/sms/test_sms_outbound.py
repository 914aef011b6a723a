"""Outbound SMS: agent messages and notifications through Twilio's REST client (at the stand-in), delivery callbacks."""

from __future__ import annotations

import pytest
import twilio_standin as tw
from sqlalchemy import select

from bot import service as conversations
from channels import registry, tasks
from channels.models import OutboxMessage
from channels.service import enqueue_agent_message
from channels.sms import adapter

STATUS = "/channels/sms/twilio/status"
CITIZEN = "+8613812345678"


class HeldRunner:
    """Keep submitted tasks so that each test runs the sender itself."""

    def __init__(self):
        self.submitted = []

    def submit(self, name, kwargs):
        # The durable task record's id travels with the arguments; these tests call the task bodies directly.
        self.submitted.append((name, {k: v for k, v in kwargs.items() if k != "_task_record"}))


@pytest.fixture
def held(client, monkeypatch):
    from core import tasks as core_tasks

    runner = HeldRunner()
    monkeypatch.setattr(core_tasks, "_runner", runner)
    return runner


def queue(db, text: str, *, channel: str = "sms", recipient: str = CITIZEN) -> int:
    with db.transaction() as s:
        conversations.ensure(s, channel=channel, external_id=recipient)
        conv = conversations.get_by_identity(s, channel=channel, external_id=recipient, for_update=True)
        line = conversations.record(s, conv, direction="out", author="agent:li", text=text)
        return enqueue_agent_message(s, conv=conv, seq=line.seq, text=text).id


def row(db, outbox_id: int) -> OutboxMessage:
    with db.session() as s:
        return s.scalar(select(OutboxMessage).where(OutboxMessage.id == outbox_id))


def test_adapters_are_registered_for_sms_and_phone():
    assert isinstance(registry.get("sms"), adapter.TwilioSmsAdapter) and not registry.get("sms").in_band
    assert isinstance(registry.get("phone"), adapter.TwilioSmsAdapter)


def test_agent_message_is_sent_through_the_rest_api_and_delivery_is_recorded(client, db, held, standin):
    oid = queue(db, "您好，我是12345热线的工作人员，您反映的问题已转交岳麓区处理。")
    assert held.submitted == [("channels.send_outbox", {"outbox_id": oid})]
    assert tasks.send_outbox(outbox_id=oid) == "sent"
    assert tasks.send_outbox(outbox_id=oid) == "sent"  # a repeated task sends nothing more
    assert len(standin.messages) == 1
    sent = standin.messages[0]
    assert (sent["To"], sent["From"]) == (CITIZEN, tw.FROM_NUMBER)
    assert sent["Body"].startswith("您好，我是12345热线")
    assert sent["StatusCallback"] == tw.PUBLIC_BASE + STATUS
    assert row(db, oid).platform_msg_id == sent["sid"] and row(db, oid).status == "sent"
    # Twilio's delivery report, signed, marks the outbox row delivered.
    report = tw.payload("sms", "status_delivered", MessageSid=sent["sid"], SmsSid=sent["sid"])
    r = tw.post(client, STATUS, report)
    assert r.status_code == 204, r.text
    assert row(db, oid).status == "delivered"
    # A late "sent" report does not move it back.
    tw.post(client, STATUS, {**report, "MessageStatus": "sent", "SmsStatus": "sent"})
    assert row(db, oid).status == "delivered"


def test_undelivered_report_fails_the_row_with_the_error_code(client, db, held, standin):
    oid = queue(db, "您的事项已办结，请对办理结果进行评价。")
    tasks.send_outbox(outbox_id=oid)
    sid = standin.messages[0]["sid"]
    r = tw.post(client, STATUS, tw.payload("sms", "status_undelivered", MessageSid=sid, SmsSid=sid))
    assert r.status_code == 204
    failed = row(db, oid)
    assert failed.status == "failed" and "30003" in failed.last_error and "undelivered" in failed.last_error


def test_status_callbacks_are_signed_too(client, db, held, standin):
    oid = queue(db, "通知")
    tasks.send_outbox(outbox_id=oid)
    sid = standin.messages[0]["sid"]
    report = tw.payload("sms", "status_delivered", MessageSid=sid, SmsSid=sid)
    forged = client.post(STATUS, data=report, headers={"X-Twilio-Signature": tw.signature(STATUS, report, token="f" * 32)})
    assert forged.status_code == 403
    assert client.post(STATUS, data=report).status_code == 403
    assert row(db, oid).status == "sent"
    unknown = tw.payload("sms", "status_delivered", MessageSid="SM" + "e" * 32, SmsSid="SM" + "e" * 32)
    assert tw.post(client, STATUS, unknown).status_code == 204  # not ours: acknowledged, nothing changes


def test_refusals_are_final_and_outages_are_retried(client, db, held, standin):
    standin.opted_out.add("+8613700000000")
    refused = queue(db, "通知", recipient="+8613700000000")
    assert tasks.send_outbox(outbox_id=refused) == "failed"
    assert "21610" in row(db, refused).last_error
    standin.fail_next.append((503, 20500))
    flaky = queue(db, "通知二")
    with pytest.raises(Exception, match="20500|503|Unable"):
        tasks.send_outbox(outbox_id=flaky)
    assert row(db, flaky).status == "pending" and row(db, flaky).attempts == 1
    assert tasks.send_outbox(outbox_id=flaky) == "sent"
    assert [m["Body"] for m in standin.messages] == ["通知二"]


def test_long_agent_message_goes_in_parts_and_phone_conversations_get_sms(client, db, held, standin):
    long_text = "。".join(["您反映的小区噪音问题已由岳麓区城管执法局现场核查并责令整改"] * 80)
    oid = queue(db, long_text)
    assert tasks.send_outbox(outbox_id=oid) == "sent"
    bodies = [m["Body"] for m in standin.messages]
    assert len(bodies) >= 2 and all(len(b) <= 1600 for b in bodies)
    assert row(db, oid).platform_msg_id == standin.messages[-1]["sid"]
    caller = queue(db, "您的受理编号已短信发送。", channel="phone")
    assert tasks.send_outbox(outbox_id=caller) == "sent"
    assert standin.messages[-1]["To"] == CITIZEN
    withheld = queue(db, "x", channel="phone", recipient="call:CA" + "1" * 32)
    assert tasks.send_outbox(outbox_id=withheld) == "failed"
    assert "not a phone number" in row(db, withheld).last_error


def test_missing_configuration_is_a_clear_failure(client, db, held, twilio_settings):
    from core.settings import configure

    configure(twilio_settings.model_copy(update={"twilio_from": None}))
    try:
        oid = queue(db, "通知")
        assert tasks.send_outbox(outbox_id=oid) == "failed"
        assert "PETITION_TWILIO_FROM" in row(db, oid).last_error
    finally:
        configure(twilio_settings)


def test_a_retry_after_a_crash_resumes_at_twilio_instead_of_sending_twice(client, db, held, standin):
    from datetime import timedelta

    from sqlalchemy import update

    from core import tasks as core_tasks
    from core import taskstore
    from core.db import utcnow

    long_text = "关于您反映的小区噪声问题，" * 150  # over 1 600 characters: two parts
    oid = queue(db, long_text)
    with db.session() as s:
        record = s.scalars(select(taskstore.TaskRecord).where(taskstore.TaskRecord.name == "channels.send_outbox")).one()
    # The first delivery reached Twilio with its first part, then the worker was killed (nothing committed).
    assert taskstore.claim(db, record.id, lease_seconds=600) is not None
    first = adapter.split_message(adapter.render(long_text))
    assert len(first) == 2
    adapter.twilio_client().messages.create(to=CITIZEN, from_=tw.FROM_NUMBER, body=first[0])
    with db.transaction() as s:
        s.execute(update(taskstore.TaskRecord).values(lease_until=utcnow() - timedelta(seconds=1)))
    spec = core_tasks.registered()["channels.send_outbox"]
    assert core_tasks.execute(spec, {"outbox_id": oid, core_tasks.RECORD_KEY: record.id}) == "sent"
    bodies = [m["Body"] for m in standin.messages]
    assert bodies == first  # the second part only was sent on the retry
    assert row(db, oid).platform_msg_id == standin.messages[1]["sid"]
    # A message that never reached Twilio is sent in full on its retry.
    other = queue(db, "请于三日内补充材料。")
    with db.session() as s:
        rec2 = s.scalars(select(taskstore.TaskRecord).where(taskstore.TaskRecord.id != record.id)).one()
    assert taskstore.claim(db, rec2.id, lease_seconds=600) is not None
    with db.transaction() as s:
        s.execute(update(taskstore.TaskRecord).where(taskstore.TaskRecord.id == rec2.id)
                  .values(lease_until=utcnow() - timedelta(seconds=1)))
    assert core_tasks.execute(spec, {"outbox_id": other, core_tasks.RECORD_KEY: rec2.id}) == "sent"
    assert [m["Body"] for m in standin.messages][-1].startswith("请于三日内补充材料")
    assert len(standin.messages) == 3
