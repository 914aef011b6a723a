"""The handler's workbench: my unit's open petitions by deadline, coloured by time left, on both databases."""

from __future__ import annotations

import re
from datetime import timedelta

from cases import service
from cases.enums import Action
from cases.handling import service as handling
from cases.schemas import TransitionIn
from core.accounts import Actor, Role
from core.db import utcnow
from tests.admin_web.test_cases_page import dispatched
from tests.conftest import ADMIN

ROW = re.compile(r'<tr class="([^"]*)" data-tracking-no="([^"]+)">(.*?)</tr>', re.S)


def move(s, no: str, *actions: Action, **fields) -> None:
    for action in actions:
        service.do_transition(s, tracking_no=no, change=TransitionIn(action=action, **fields), actor=ADMIN)


def rows(html: str) -> list[tuple[str, str, str]]:
    return ROW.findall(html)


def seed(db) -> dict[str, str]:
    """Create petitions with chosen deadlines: mine (lead and assisting), another unit's, and a closed one."""
    now = utcnow()
    due = {"overdue": now - timedelta(days=2, hours=1), "critical": now + timedelta(hours=10, minutes=30),
           "soon": now + timedelta(hours=48), "ok": now + timedelta(days=10, hours=1), "none": None}
    made = {}
    with db.transaction() as s:
        for name, at in due.items():
            p = dispatched(s, title=f"工资问题 {name}")
            move(s, p.tracking_no, Action.ACCEPT)
            if name == "critical":
                move(s, p.tracking_no, Action.START)
            p.due_at = at
            made[name] = p.tracking_no
        assisted = dispatched(s, unit="YL-GOV", title="工资问题 assisted")
        move(s, assisted.tracking_no, Action.ACCEPT)
        move(s, assisted.tracking_no, Action.ASSIGN, unit="YL-GOV", assisting=["CS-HRSS"])
        assisted.due_at = now + timedelta(days=5, hours=1)
        made["assisted"] = assisted.tracking_no
        other = dispatched(s, unit="YL-GOV", title="工资问题 other unit")
        move(s, other.tracking_no, Action.ACCEPT)
        other.due_at = now - timedelta(days=5)
        made["other"] = other.tracking_no
        closed = dispatched(s, title="工资问题 closed")
        move(s, closed.tracking_no, Action.ACCEPT, Action.START)
        move(s, closed.tracking_no, Action.REPLY, text="已处理")
        move(s, closed.tracking_no, Action.CLOSE, reason="满意")
        made["closed"] = closed.tracking_no
        soon = service.get_by_tracking_no(s, made["soon"])
        handling.do_supervise(s, petition=soon, kind="urge", text="请尽快办理", respond_within_days=2,
                              actor=Actor("super1", Role.SUPERVISOR))
        s.flush()
    return made


def test_workbench_orders_by_deadline_and_colours_rows(db, as_role):
    made = seed(db)
    page = as_role("hrss1").get("/console/workbench")
    assert page.status_code == 200
    found = rows(page.text)
    assert [no for _, no, _ in found] == [made[k] for k in ("overdue", "critical", "soon", "assisted", "ok", "none")]
    assert [cls for cls, _, _ in found] == ["due-overdue", "due-critical", "due-soon", "due-ok", "due-ok", ""]
    cells = {no: body for _, no, body in found}
    assert "超期 2 天" in cells[made["overdue"]] and "剩余 10 小时" in cells[made["critical"]]
    assert "剩余 1 天" in cells[made["soon"]] and "剩余 10 天" in cells[made["ok"]] and "无期限" in cells[made["none"]]
    assert "协办" in cells[made["assisted"]] and "主办" in cells[made["ok"]]
    assert f'href="/console/cases/{made["overdue"]}"' in cells[made["overdue"]]
    assert "办理中" in cells[made["critical"]] and "已交办" in cells[made["soon"]]
    # One open supervision note on the "soon" petition, none elsewhere.
    assert 'level-orange">1<' in cells[made["soon"]] and "level-orange" not in cells[made["ok"]]
    assert made["other"] not in page.text and made["closed"] not in page.text


def test_workbench_filters(db, as_role):
    made = seed(db)
    hrss = as_role("hrss1")
    overdue = rows(hrss.get("/console/workbench?overdue=1").text)
    assert [no for _, no, _ in overdue] == [made["overdue"]]
    started = rows(hrss.get("/console/workbench?status=in_progress").text)
    assert [no for _, no, _ in started] == [made["critical"]]
    # A terminal or unknown status is not a filter: the list stays the open caseload.
    assert len(rows(hrss.get("/console/workbench?status=closed").text)) == 6
    assert rows(hrss.get("/console/workbench?status=replied").text) == []
    # The other unit's handler sees only what concerns YL-GOV: its lead case and the one it leads with CS-HRSS assisting.
    theirs = [no for _, no, _ in rows(as_role("yuelu1").get("/console/workbench").text)]
    assert theirs == [made["other"], made["assisted"]]


def test_workbench_is_for_handlers_only_and_speaks_english(db, as_role):
    made = seed(db)
    assert as_role("triage").get("/console/workbench").status_code == 403
    assert as_role("analyst").get("/console/workbench").status_code == 403
    hrss = as_role("hrss1")
    hrss.get("/console/lang/en")
    page = hrss.get("/console/workbench")
    cells = {no: body for _, no, body in rows(page.text)}
    assert "2 days overdue" in cells[made["overdue"]] and "10 days left" in cells[made["ok"]]
    assert "Assisting" in cells[made["assisted"]] and "Workbench" in page.text
