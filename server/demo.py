"""Load the demo deployment: 长沙 areas, units with duty lists, staff accounts and petitions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cases import catalog, service
from cases.enums import Action
from cases.models import Petition
from cases.schemas import PetitionCreate, TransitionIn
from cases.workflow import path_to
from core.accounts import SYSTEM, create_user, get_by_username
from core.db import utcnow
from server import demo_data

# Demo logins, printed by `make run`; they exist only in a database loaded with --demo.
DEMO_USERS = [
    ("admin", "admin-demo-2026", "admin", None),
    ("triage", "triage-demo-2026", "triage", None),
    ("supervisor", "supervisor-demo-2026", "supervisor", None),
    ("agent", "agent-demo-2026", "agent", None),
    ("analyst", "analyst-demo-2026", "analyst", None),
    ("handler.hrss", "handler-demo-2026", "handler", "CS-HRSS"),
    ("handler.yuelu", "handler-demo-2026", "handler", "YL-GOV"),
]

_LEVEL_ORDER = {"city": 0, "district": 1, "street": 2}


def _change(action: Action, item: dict) -> TransitionIn:
    zh = item["language"] == "zh"
    reasons = {
        Action.NOT_ACCEPT: ("已经通过诉讼途径处理，不属于信访受理范围" if zh
                            else "already before a court; outside petition scope"),
        Action.FORWARD: ("属于其他机关职责范围，已转送" if zh else "within another authority's remit; forwarded"),
        Action.CLOSE: ("满意" if zh else "satisfied"),
        Action.REQUEST_REVIEW: ("对处理意见不服" if zh else "disagrees with the reply"),
        Action.REQUEST_REEXAM: ("对复查意见不服" if zh else "disagrees with the review opinion"),
        Action.WITHDRAW: ("问题已自行协商解决，申请撤回" if zh else "settled privately; withdrawn"),
    }
    text = None
    if action in (Action.REPLY, Action.REPLY_REVIEW, Action.REPLY_REEXAM):
        text = item.get("reply_text") or ("经核查，已责成相关单位依法处理。" if zh else "Checked and referred for action.")
    return TransitionIn(action=action, reason=reasons.get(action), text=text,
                        unit=item["suggested_unit_code"] if action is Action.ASSIGN else
                        ("长沙市中级人民法院" if action is Action.FORWARD and zh else
                         "Changsha Intermediate People's Court" if action is Action.FORWARD else None))


def load_reference(session: Session) -> tuple[int, int]:
    """Load the 长沙 areas and the demo units with their duty lists; return how many of each."""
    areas = demo_data.changsha_areas()
    catalog.upsert_areas(session, areas)
    units = sorted(demo_data.demo_units(), key=lambda u: (_LEVEL_ORDER[u["level"]], u["parent_code"] is not None))
    for unit in units:
        catalog.upsert_unit(session, code=unit["code"], name=unit["name"], name_en=unit.get("name_en"),
                            level=unit["level"], parent_code=unit.get("parent_code"), area_codes=unit["area_codes"],
                            categories=unit["categories"], description=unit["description"],
                            description_en=unit.get("description_en"))
    return len(areas), len(units)


def load_demo(session: Session, *, now: datetime | None = None, n: int = 200) -> str | None:
    """Load the demo data into an empty database and say what was loaded; None if petitions exist."""
    if session.scalar(select(func.count(Petition.id))):
        return None
    now = now or utcnow()
    areas, units = load_reference(session)
    for username, password, role, unit_code in DEMO_USERS:
        if get_by_username(session, username) is None:
            unit = catalog.get_unit_by_code(session, unit_code) if unit_code else None
            create_user(session, username=username, password=password, role=role, unit_id=unit.id if unit else None)
    items = demo_data.demo_petitions(n=n, now=now)
    # Register in time order so that tracking numbers grow with the receipt date.
    for item in sorted(items, key=lambda i: i["received_at"]):
        _load_petition(session, item, now)
    from server.demo_console import load_console_demo

    console = load_console_demo(session, now=now)
    return f"{areas} areas, {units} units, {len(DEMO_USERS)} users, {len(items)} petitions; {console}"


def _load_petition(session: Session, item: dict, now: datetime) -> None:
    received: datetime = item["received_at"]
    data = PetitionCreate(
        title=item["title"], content=item["content"], channel=item["channel"], language=item["language"],
        category=f"{item['category']}/{item['subcategory']}" if item.get("subcategory") else item["category"],
        area_code=item["area_code"], address=item["address"], head_count=item["head_count"], demand=item["demand"],
        petitioner=item["petitioner"] if any((item["petitioner"] or {}).values()) else None, received_at=received)
    petition, _ = service.create_petition(session, data=data, actor=SYSTEM, now=received)
    steps = path_to(item["target_status"])
    for k, action in enumerate(steps, start=1):
        # Spread the steps over the time since receipt, so that every act lies in the past.
        at = received + (now - received) * k / (len(steps) + 1)
        if action is Action.CLOSE:
            service.do_feedback(session, tracking_no=petition.tracking_no, satisfied=True, reason=None, actor=SYSTEM,
                                now=at)
            continue
        service.do_transition(session, tracking_no=petition.tracking_no, change=_change(action, item), actor=SYSTEM,
                              now=at)


def route_open(db) -> str:
    """Index every demo petition and route the ones still waiting for a unit; say what happened."""
    from cases.enums import Status
    from routing import service as routing

    try:
        with db.session() as session:
            indexed = routing.rebuild_index(session)
        with db.transaction() as session:
            waiting = session.scalars(select(Petition.id).where(Petition.status == Status.REGISTERED)).all()
            decisions = [routing.do_route(session, petition_id=pid) for pid in waiting]
    except Exception as exc:  # the demo still works without similar cases; say why they are missing
        return f"routing skipped ({type(exc).__name__}: {exc})"
    dispatched = sum(1 for d in decisions if d and d.auto_assigned)
    return f"{indexed} petitions indexed; {len(decisions)} open ones routed, {dispatched} dispatched automatically"
