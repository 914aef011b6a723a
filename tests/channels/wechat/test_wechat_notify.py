"""Template messages to the citizen who filed a petition over WeChat, when its status changes."""

from __future__ import annotations

from sqlalchemy import select
from wechat_kit import OPENID, TEMPLATE_ID, file_petition, settle

from bot.models import Conversation
from cases import service as cases
from cases.models import Petition, Unit
from cases.schemas import TransitionIn
from channels.wechat import adapter
from core.accounts import Actor, Role
from core.settings import configure, get_settings

STAFF = Actor("notify-test-staff", Role.ADMIN)


def move(db, tracking_no: str, action: str, **fields) -> None:
    with db.transaction() as s:
        cases.do_transition(s, tracking_no=tracking_no, actor=STAFF, change=TransitionIn(action=action, **fields))


def test_an_earlier_petition_of_the_conversation_is_still_followed(wechat, db, standin, msg_ids):
    first = file_petition(wechat, msg_ids)
    second = file_petition(wechat, msg_ids)
    with db.session() as s:
        conv = s.scalar(select(Conversation))
        assert conv.petition_id == s.scalar(select(Petition.id).where(Petition.tracking_no == second))
    move(db, first, "accept", reason="ok")
    settle()
    [sent] = standin.wait_for("/cgi-bin/message/template/send")
    assert sent["touser"] == OPENID and sent["data"]["keyword1"]["value"] == first
    assert f"回复受理编号 {first}" in sent["data"]["remark"]["value"]


def test_accepting_a_dispatched_petition_sends_one_message(wechat, db, standin, msg_ids):
    tracking_no = file_petition(wechat, msg_ids)
    with db.transaction() as s:
        petition = cases.get_by_tracking_no(s, tracking_no)
        petition.lead_unit_id = s.scalar(select(Unit.id).where(Unit.code == "YL-GOV"))
    move(db, tracking_no, "accept", reason="ok")  # accepted, then assigned at once: two events
    settle()
    [sent] = standin.wait_for("/cgi-bin/message/template/send")
    assert sent["data"]["keyword2"]["value"] == "已交办"  # the superseded "accepted" is not sent
    assert sent["template_id"] == TEMPLATE_ID


def test_an_unsubscribed_citizen_is_not_retried(wechat, db, standin, msg_ids):
    tracking_no = file_petition(wechat, msg_ids)
    with db.session() as s:
        petition_id = s.scalar(select(Petition.id).where(Petition.tracking_no == tracking_no))
    move(db, tracking_no, "accept", reason="ok")
    settle()
    standin.fail_next.append(43004)
    assert adapter.notify_status(petition_id, "accepted") == "refused 43004"
    assert adapter.notify_status(petition_id, "registered") == "superseded"
    assert adapter.notify_status(10**9, "accepted") == "missing"


def test_no_template_configured_sends_nothing(wechat, db, standin, msg_ids):
    tracking_no = file_petition(wechat, msg_ids)
    configured = get_settings()
    configure(configured.model_copy(update={"wechat_template_id": None}))
    try:
        move(db, tracking_no, "accept", reason="ok")
        settle()
    finally:
        configure(configured)
    assert standin.received("/cgi-bin/message/template/send") == []
