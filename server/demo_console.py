"""Demo data for the console: templates, canned responses, the starter lexicon, risk scores, chats waiting for
an agent, an extension request and a supervision note. All texts here are written by this project."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import service as conversations
from cases.enums import Status
from cases.handling import service as handling
from cases.models import Petition
from core.accounts import SYSTEM, Actor, Role
from core.db import utcnow
from risk import service as risk
from risk.models import SensitiveTerm

REPLY_TEMPLATES = [
    ("受理告知", "zh", "您好！您反映的问题已受理，我单位将依法在规定期限内办理并答复，请保持电话畅通。"),
    ("办结答复（已解决）", "zh", "您好！经核查，您反映的问题属实，我单位已责成相关部门整改完毕。如有疑问，请在收到答复之日起30日内申请复查。"),
    ("办结答复（解释说明）", "zh", "您好！经调查核实，相关情况如下：……。依据……的规定，现答复如下：……。如不服本答复，可自收到之日起30日内向上一级行政机关申请复查。"),
    ("Acknowledgement", "en", "Thank you. Your petition has been accepted and will be handled and answered within the statutory period."),
]
CANNED = [
    ("问候", "zh", "您好，我是人工客服，请问有什么可以帮您？"),
    ("稍候", "zh", "请稍候，我正在为您查询。"),
    ("转登记", "zh", "您反映的问题我已记录，稍后将为您登记为信访件并告知受理编号。"),
    ("紧急情况", "zh", "如遇紧急危险，请立即拨打 110（报警）或 120（急救）。"),
    ("Greeting", "en", "Hello, this is a human agent. How can I help you?"),
]
CHATS = [
    # (external id, locale, urgent, reason, citizen messages)
    ("demo-chat-1", "zh", True, "self-harm words", ["工资拖了半年没人管，再不解决我就去跳楼", "你们到底管不管"]),
    ("demo-chat-2", "zh", False, "asked for a human", ["我家门口的路灯坏了两个星期了", "我要找人工客服"]),
    ("demo-chat-3", "en", False, "asked for a human", ["My landlord keeps my deposit", "Can I talk to a person?"]),
]


def load_console_demo(session: Session, *, now: datetime | None = None) -> str:
    """Load the console's demo data; say what was loaded."""
    now = now or utcnow()
    risk.seed_lexicon(session)
    terms = session.scalar(select(func.count()).select_from(SensitiveTerm))
    for kind, rows in (("reply", REPLY_TEMPLATES), ("canned", CANNED)):
        for name, language, text in rows:
            handling.create_template(session, kind=kind, name=name, text=text, language=language, actor=SYSTEM)
    for external_id, locale, urgent, reason, texts in CHATS:
        conversations.ensure(session, channel="webchat", external_id=external_id, locale=locale)
        conv = conversations.get_by_identity(session, channel="webchat", external_id=external_id, for_update=True)
        for k, text in enumerate(texts):
            conversations.record(session, conv, direction="in", author="citizen", text=text,
                                 at=now - timedelta(minutes=20 - 3 * k))
        conversations.do_handoff(conv, reason=reason, urgent=urgent, now=now - timedelta(minutes=14))
    ids = session.scalars(select(Petition.id).order_by(Petition.id)).all()
    levels: dict[str, int] = {}
    for pid in ids:
        level = risk.do_assess(session, petition_id=pid, now=now).level
        levels[level] = levels.get(level, 0) + 1
    extension = supervision = 0
    handler = Actor("handler.hrss", Role.HANDLER)
    supervisor = Actor("supervisor", Role.SUPERVISOR)
    open_cases = session.scalars(select(Petition).where(Petition.status.in_([Status.ASSIGNED, Status.IN_PROGRESS]),
                                                        Petition.extension_days.is_(None)).order_by(Petition.due_at))
    for p in open_cases:
        if extension == 0 and p.lead_unit and p.lead_unit.code == "CS-HRSS":
            handling.do_request_extension(session, petition=p, days=30, reason="涉及多名劳动者，需会同劳动监察大队调查取证。",
                                          actor=handler, now=now)
            extension = 1
        elif supervision == 0:
            handling.do_supervise(session, petition=p, kind="supervise", text="请于三个工作日内报告办理进展。",
                                  respond_within_days=3, actor=supervisor, now=now)
            supervision = 1
    summary = ", ".join(f"{n} {level}" for level, n in sorted(levels.items()))
    return (f"{terms} lexicon terms, {len(REPLY_TEMPLATES)} reply templates, {len(CANNED)} canned responses, "
            f"{len(CHATS)} chats waiting for an agent, risk levels: {summary}")
