"""The supervision desk: boards by unit, 督办 notes, extension decisions, the three rates, roles and escaping."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from admin_web.pages.supervision import percent, span, window
from cases import catalog, service
from cases.enums import Action, Status
from cases.handling import service as handling
from cases.handling.models import ExtensionRequest, SupervisionNote
from cases.models import Petition
from cases.schemas import TransitionIn
from core.accounts import Actor, Role
from core.db import utcnow
from tests.cases.helpers import drive, full_change, register
from tests.conftest import ADMIN

SUPERVISOR = Actor("sup-test", Role.SUPERVISOR)


def board_of(html: str, section: str) -> dict[str, list[str]]:
    """Return {unit heading text: [tracking numbers]} of one board ("overdue" or "due-soon") of the page."""
    start = html.index(f'id="{section}"')
    body = html[start:html.index("</section>", start)]
    out: dict[str, list[str]] = {}
    for chunk in body.split(f'<h3 data-testid="{section}-unit">')[1:]:
        heading = re.sub(r"<[^>]+>", " ", chunk[:chunk.index("</h3>")])
        out[" ".join(heading.split())] = re.findall(rf'data-testid="{section}-row" data-tracking="([^"]+)"', chunk)
    return out


def units_of(board: dict[str, list[str]], no: str) -> list[str]:
    return [heading for heading, nos in board.items() if no in nos]


def assign(session, petition: Petition, unit: str, *, now=None) -> None:
    for action in (Action.ACCEPT, Action.ASSIGN):
        service.do_transition(session, tracking_no=petition.tracking_no, actor=ADMIN, now=now,
                              change=TransitionIn(action=action, unit=unit))


def test_boards_list_overdue_and_due_soon_petitions_under_their_units(db, as_role):
    now = utcnow()
    with db.transaction() as s:
        # Accepted 90 days ago: the 60-day handling period has run out; the deadline scan marks it overdue.
        late = drive(s, Status.ASSIGNED, now=now - timedelta(days=90))
        soon_yl = drive(s, Status.ASSIGNED)
        soon_yl.due_at = soon_yl.handle_due_at = now + timedelta(hours=20)
        soon_hr, _ = register(s, title="拖欠工资", category="劳动和社会保障")
        assign(s, soon_hr, "CS-HRSS")
        soon_hr.due_at = soon_hr.handle_due_at = now + timedelta(hours=50)
        later = drive(s, Status.ASSIGNED)  # due in about 60 days: on neither board
        s.flush()
        assert service.do_scan_deadlines(s, now=now)["overdue"] == 1
        nos = late.tracking_no, soon_yl.tracking_no, soon_hr.tracking_no, later.tracking_no
    r = as_role("supervisor").get("/console/supervision")
    assert r.status_code == 200, r.text
    overdue, due_soon = board_of(r.text, "overdue"), board_of(r.text, "due-soon")
    late_no, yl_no, hr_no, later_no = nos
    assert units_of(overdue, late_no) == ["岳麓区人民政府 YL-GOV 1"]
    assert units_of(due_soon, yl_no) == ["岳麓区人民政府 YL-GOV 1"]
    assert units_of(due_soon, hr_no) == ["长沙市人力资源和社会保障局 CS-HRSS 1"]
    assert later_no not in r.text
    assert yl_no not in str(overdue) and late_no not in str(due_soon)
    assert f'href="/console/cases/{late_no}"' in r.text
    # How long it is overdue (about 30 days) and how long is left (under a day).
    row = r.text[r.text.index(f'data-tracking="{late_no}"'):]
    days = re.search(r'due-overdue">(\d+) 天', row[:row.index("</tr>")])
    assert days and 20 <= int(days.group(1)) <= 31
    row = r.text[r.text.index(f'data-tracking="{yl_no}"'):]
    assert re.search(r"1[89] 小时", row[:row.index("</tr>")])
    assert f'<tr class="due-critical" data-testid="due-soon-row" data-tracking="{yl_no}"' in r.text
    assert f'<tr class="due-soon" data-testid="due-soon-row" data-tracking="{hr_no}"' in r.text
    # A narrower window drops the petition due in 50 hours.
    narrow = as_role("supervisor").get("/console/supervision?hours=24")
    assert hr_no not in narrow.text and yl_no in narrow.text


def test_supervise_note_gets_a_future_deadline_and_shows_as_open(db, as_role):
    with db.transaction() as s:
        p = drive(s, Status.ASSIGNED)
        p.due_at = utcnow() + timedelta(hours=30)
        no, unit_id = p.tracking_no, p.lead_unit_id
    sup = as_role("supervisor")
    r = sup.post(f"/console/supervision/{no}/note", {"kind": "supervise", "text": "请于三日内报告办理进展", "days": "3"})
    assert r.status_code == 303 and r.headers["location"].startswith("/console/supervision?done=note")
    with db.session() as s:
        note = s.scalars(select(SupervisionNote)).one()
        assert (note.kind, note.unit_id, note.author, note.responded_at) == ("supervise", unit_id, "super1", None)
        assert note.respond_by > utcnow() + timedelta(days=2)
    page = sup.get(r.headers["location"])
    assert "督办意见已发送" in page.text
    notes = page.text[page.text.index('id="notes"'):]
    assert f'data-testid="note-row" data-tracking="{no}"' in notes and "请于三日内报告办理进展" in notes
    assert 'data-late="1"' not in notes
    # Refused notes change nothing: no text, an unknown kind, a deadline out of range.
    for bad in ({"kind": "supervise", "text": "  ", "days": "3"}, {"kind": "shout", "text": "x", "days": "3"},
                {"kind": "urge", "text": "x", "days": "0"}, {"kind": "urge", "text": "x", "days": "soon"}):
        refused = sup.post(f"/console/supervision/{no}/note", bad)
        assert refused.status_code == 422, bad
        assert 'class="flash error"' in refused.text
    assert sup.post("/console/supervision/XF-20000101-000001/note", {"kind": "urge", "text": "x"}).status_code == 404
    with db.session() as s:
        assert len(s.scalars(select(SupervisionNote)).all()) == 1


def test_late_supervision_note_is_flagged(db, as_role):
    with db.transaction() as s:
        p = drive(s, Status.ASSIGNED)
        handling.do_supervise(s, petition=p, kind="urge", text="早该回复", respond_within_days=1, actor=SUPERVISOR,
                              now=utcnow() - timedelta(days=10))
        no = p.tracking_no
    page = as_role("supervisor").get("/console/supervision").text
    notes = page[page.index('id="notes"'):]
    assert f'data-testid="note-row" data-tracking="{no}" data-late="1"' in notes and "逾期未回复" in notes


def _extension(s, days=10) -> tuple[str, int]:
    p = drive(s, Status.IN_PROGRESS)
    handler = Actor("yuelu1", Role.HANDLER, catalog.get_unit_by_code(s, "YL-GOV").id)
    row = handling.do_request_extension(s, petition=p, days=days, reason="需要现场复测噪声", actor=handler)
    return p.tracking_no, row.id


def test_approving_an_extension_moves_the_deadline_and_records_the_approver(db, as_role):
    with db.transaction() as s:
        no, request_id = _extension(s)
        before = service.get_by_tracking_no(s, no).handle_due_at
    sup = as_role("supervisor")
    page = sup.get("/console/supervision").text
    assert f'data-testid="extension-row" data-tracking="{no}"' in page and "需要现场复测噪声" in page
    r = sup.post(f"/console/supervision/extensions/{request_id}", {"decision": "approve", "note": ""})
    assert r.status_code == 303 and "done=approved" in r.headers["location"]
    with db.session() as s:
        p = service.get_by_tracking_no(s, no)
        assert p.handle_due_at == service.clock().extend(before, 10) > before
        assert (p.extension_days, p.extension_approver) == (10, "super1")
        row = s.get(ExtensionRequest, request_id)
        assert (row.state, row.decided_by) == ("approved", "super1")
    after = sup.get(r.headers["location"]).text
    assert "已批准延期" in after and f'data-testid="extension-row" data-tracking="{no}"' not in after
    # Decided once: a second decision is a conflict.
    again = sup.post(f"/console/supervision/extensions/{request_id}", {"decision": "reject", "note": "迟了"})
    assert again.status_code == 409


def test_rejecting_an_extension_needs_a_note(db, as_role):
    with db.transaction() as s:
        no, request_id = _extension(s)
        before = service.get_by_tracking_no(s, no).handle_due_at
    sup = as_role("supervisor")
    r = sup.post(f"/console/supervision/extensions/{request_id}", {"decision": "reject", "note": "  "})
    assert r.status_code == 422 and 'class="flash error"' in r.text
    with db.session() as s:
        assert s.get(ExtensionRequest, request_id).state == "pending"
    assert sup.post(f"/console/supervision/extensions/{request_id}", {"decision": "maybe"}).status_code == 422
    r = sup.post(f"/console/supervision/extensions/{request_id}", {"decision": "reject", "note": "材料齐全，应按期办结"})
    assert r.status_code == 303
    with db.session() as s:
        row = s.get(ExtensionRequest, request_id)
        assert (row.state, row.decided_by, row.decision_note) == ("rejected", "super1", "材料齐全，应按期办结")
        p = service.get_by_tracking_no(s, no)
        assert p.handle_due_at == before and p.extension_days is None


def _cells(html: str, unit: str) -> dict[str, str]:
    start = html.index(f'data-testid="unit-row" data-unit="{unit}"')
    row = html[start:html.index("</tr>", start)]
    return dict(re.findall(r'data-col="(\w+)">(?:<span[^>]*>)?([^<]*)<', row))


def test_performance_figures_per_unit(db, as_role):
    now = utcnow()
    t0 = now - timedelta(days=10)
    with db.transaction() as s:
        quick = drive(s, Status.IN_PROGRESS, now=t0)
        service.do_transition(s, tracking_no=quick.tracking_no, actor=ADMIN, now=t0 + timedelta(days=2),
                              change=full_change(Action.REPLY))
        service.do_feedback(s, tracking_no=quick.tracking_no, satisfied=True, reason=None, actor=ADMIN,
                            now=t0 + timedelta(days=3))
        slow = drive(s, Status.IN_PROGRESS, now=t0)
        service.do_transition(s, tracking_no=slow.tracking_no, actor=ADMIN, now=t0 + timedelta(days=6),
                              change=full_change(Action.REPLY))
        service.do_feedback(s, tracking_no=slow.tracking_no, satisfied=False, reason="没解决", actor=ADMIN,
                            now=t0 + timedelta(days=7))
        drive(s, Status.ASSIGNED, now=t0)  # YL-GOV: 3 received, 2 replied, 1 closed, 1 of 2 verdicts satisfied
        waiting, _ = register(s, now=t0, category="劳动和社会保障")
        assign(s, waiting, "CS-HRSS", now=t0)
        waiting.overdue_since = now  # CS-HRSS: 1 received, none replied, open and overdue
        drive(s, Status.ASSIGNED, now=now - timedelta(days=60))  # outside the period
        assert quick.status == Status.CLOSED and slow.status == Status.REPLIED
    first, last = (t0 - timedelta(days=1)).date().isoformat(), now.date().isoformat()
    r = as_role("supervisor").get(f"/console/supervision/performance?period=custom&from={first}&to={last}")
    assert r.status_code == 200, r.text
    assert _cells(r.text, "YL-GOV") == {"received": "3", "replied": "2", "response": "66.7%", "on_time": "100.0%",
                                        "resolution": "33.3%", "satisfaction": "50.0%", "median": "4.0", "overdue": "0"}
    assert _cells(r.text, "CS-HRSS") == {"received": "1", "replied": "0", "response": "0.0%", "on_time": "—",
                                         "resolution": "0.0%", "satisfaction": "—", "median": "—", "overdue": "1"}
    total = r.text[r.text.index('data-testid="total-row"'):]
    assert "<td>4</td><td>2</td>" in total and "50.0%" in total
    # A range ending before it starts, or without dates, is refused with a message.
    bad = as_role("supervisor").get(f"/console/supervision/performance?period=custom&from={last}&to={first}")
    assert bad.status_code == 422 and 'class="flash error"' in bad.text
    assert as_role("supervisor").get("/console/supervision/performance?period=custom").status_code == 422
    for period in ("week", "month", "quarter", "nonsense"):
        assert as_role("admin").get(f"/console/supervision/performance?period={period}").status_code == 200


def test_period_windows():
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    today = date(2026, 5, 14)  # a Thursday
    assert (window("week", None, None, today=today, tz=tz).first, window("month", None, None, today=today, tz=tz).first,
            window("quarter", None, None, today=today, tz=tz).first) == (date(2026, 5, 11), date(2026, 5, 1),
                                                                         date(2026, 4, 1))
    custom = window("custom", "2026-01-01", "2026-01-31", today=today, tz=tz)
    assert (custom.until - custom.since).days == 31 and custom.since.utcoffset() == timedelta(hours=8)
    with pytest.raises(service.Invalid):
        window("custom", "2026-01-01", "2030-01-01", today=today, tz=tz)
    assert (percent(None), percent(2 / 3), percent(1.0)) == ("—", "66.7%", "100.0%")
    assert (span(timedelta(days=2, hours=3), "zh"), span(timedelta(minutes=5), "en")) == ("2 天 3 小时", "5 min")


@pytest.mark.parametrize("role", ["handler", "agent", "triage", "analyst"])
def test_other_roles_may_not_supervise(db, as_role, role):
    with db.transaction() as s:
        no, request_id = _extension(s)
    client = as_role(role)
    assert client.get("/console/supervision").status_code == 403
    assert client.get("/console/supervision/performance").status_code == 403
    assert client.post(f"/console/supervision/{no}/note", {"kind": "urge", "text": "x", "days": "1"}).status_code == 403
    assert client.post(f"/console/supervision/extensions/{request_id}", {"decision": "approve"}).status_code == 403
    with db.session() as s:
        assert s.get(ExtensionRequest, request_id).state == "pending"
        assert s.scalars(select(SupervisionNote)).first() is None


def test_signed_out_and_without_csrf(db, app, as_role):
    from fastapi.testclient import TestClient

    anonymous = TestClient(app, follow_redirects=False)
    assert anonymous.get("/console/supervision").status_code == 303
    with db.transaction() as s:
        no = drive(s, Status.ASSIGNED).tracking_no
    sup = as_role("supervisor")
    r = sup.client.post(f"/console/supervision/{no}/note", data={"kind": "urge", "text": "x", "days": "1"})
    assert r.status_code == 403
    with db.session() as s:
        assert s.scalars(select(SupervisionNote)).first() is None


def test_citizen_text_is_escaped_on_the_board(db, as_role):
    with db.transaction() as s:
        p = drive(s, Status.ASSIGNED)
        p.title = '<script>alert("x")</script>'
        p.due_at = utcnow() + timedelta(hours=5)
        handling.do_supervise(s, petition=p, kind="urge", text="<img src=x onerror=alert(1)>", respond_within_days=2,
                              actor=SUPERVISOR)
    page = as_role("supervisor").get("/console/supervision").text
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
