"""The status machine: every allowed and forbidden move, roles, deadlines and extensions."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cases import service
from cases.enums import Action, Status
from cases.models import AuditEvent
from cases.schemas import TransitionIn
from cases.workflow import MOVES
from core.accounts import Actor, Role
from tests.cases.helpers import drive, full_change, register
from tests.conftest import ADMIN

SH = ZoneInfo("Asia/Shanghai")


def test_every_status_is_reachable(session):
    for status in Status:
        assert drive(session, status).status == status


@pytest.mark.parametrize("action", list(Action))
def test_action_from_every_status(session, action):
    move = MOVES[action]
    for status in Status:
        petition = drive(session, status)
        target = register(session)[0].tracking_no if action is Action.MERGE else None
        change = full_change(action, target)
        events_before = session.query(AuditEvent).filter_by(petition_id=petition.id).count()
        if status in move.sources:
            service.do_transition(session, tracking_no=petition.tracking_no, change=change, actor=ADMIN)
            assert petition.status == (move.target or status), (action, status)
            last = session.query(AuditEvent).filter_by(petition_id=petition.id).order_by(AuditEvent.seq.desc()).first()
            assert (last.action, last.from_status, last.to_status, last.actor) == (action, status, petition.status,
                                                                                    ADMIN.name)
            assert last.reason == change.reason
        else:
            with pytest.raises(service.Conflict):
                service.do_transition(session, tracking_no=petition.tracking_no, change=change, actor=ADMIN)
            assert petition.status == status
            assert session.query(AuditEvent).filter_by(petition_id=petition.id).count() == events_before


def test_missing_reason_text_or_unit_is_refused(session):
    p = drive(session, Status.REGISTERED)
    with pytest.raises(service.Invalid, match="reason"):
        service.do_transition(session, tracking_no=p.tracking_no, change=TransitionIn(action="not_accept"), actor=ADMIN)
    service.do_transition(session, tracking_no=p.tracking_no, change=TransitionIn(action="accept"), actor=ADMIN)
    with pytest.raises(service.Invalid, match="unit"):
        service.do_transition(session, tracking_no=p.tracking_no, change=TransitionIn(action="assign"), actor=ADMIN)
    with pytest.raises(service.Invalid, match="unknown unit"):
        service.do_transition(session, tracking_no=p.tracking_no, change=TransitionIn(action="assign", unit="NOPE"),
                              actor=ADMIN)
    service.do_transition(session, tracking_no=p.tracking_no, change=TransitionIn(action="assign", unit="YL-GOV"),
                          actor=ADMIN)
    service.do_transition(session, tracking_no=p.tracking_no, change=TransitionIn(action="start"), actor=ADMIN)
    with pytest.raises(service.Invalid, match="reply text"):
        service.do_transition(session, tracking_no=p.tracking_no, change=TransitionIn(action="reply", text="  "),
                              actor=ADMIN)
    assert p.status == Status.IN_PROGRESS


def test_roles_and_unit_scoping(session):
    p = drive(session, Status.REGISTERED)
    analyst = Actor("ana", Role.ANALYST)
    with pytest.raises(service.Forbidden):
        service.do_transition(session, tracking_no=p.tracking_no, change=full_change(Action.ACCEPT), actor=analyst)
    service.do_transition(session, tracking_no=p.tracking_no, change=full_change(Action.ACCEPT), actor=ADMIN)
    from cases.catalog import get_unit_by_code

    yuelu = get_unit_by_code(session, "YL-GOV").id
    other = get_unit_by_code(session, "CS-HRSS").id
    handler = Actor("h1", Role.HANDLER, yuelu)
    with pytest.raises(service.NotFound):  # not yet its unit's petition: invisible to the handler
        service.do_transition(session, tracking_no=p.tracking_no, change=full_change(Action.ASSIGN), actor=handler)
    service.do_transition(session, tracking_no=p.tracking_no, change=full_change(Action.ASSIGN), actor=ADMIN)
    with pytest.raises(service.Forbidden):  # a handler cannot re-dispatch, even its own petition
        service.do_transition(session, tracking_no=p.tracking_no, change=full_change(Action.ASSIGN), actor=handler)
    stranger = Actor("h2", Role.HANDLER, other)
    with pytest.raises(service.NotFound):
        service.do_transition(session, tracking_no=p.tracking_no, change=full_change(Action.START), actor=stranger)
    service.do_transition(session, tracking_no=p.tracking_no, change=full_change(Action.START), actor=handler)
    with pytest.raises(service.Forbidden):  # extensions need a supervisor's approval
        service.do_transition(session, tracking_no=p.tracking_no, change=full_change(Action.EXTEND), actor=handler)
    service.do_transition(session, tracking_no=p.tracking_no, change=full_change(Action.REPLY), actor=handler)
    assert p.replies[0].unit_id == yuelu and p.replies[0].author == "h1"


def test_deadlines_across_spring_festival(session):
    # Received Mon 2026-02-02: 15 days → Tue 2026-02-17, inside the 2026 Spring Festival holiday
    # (Feb 15–23), so acceptance is due at the end of Tue Feb 24, the first working day after.
    received = datetime(2026, 2, 2, 10, 0, tzinfo=SH)
    p, _ = register(session, now=received)
    assert p.accept_due_at == datetime(2026, 2, 24, 23, 59, 59, 999999, tzinfo=SH)
    assert p.due_at == p.accept_due_at
    # Accepted Fri 2026-08-07: 60 days → Tue 2026-10-06, inside the 2026 National Day holiday
    # (Oct 1–7), so handling is due at the end of Thu Oct 8, the first working day after it.
    accepted = datetime(2026, 8, 7, 9, 0, tzinfo=SH)
    service.do_transition(session, tracking_no=p.tracking_no, change=full_change(Action.ACCEPT), actor=ADMIN,
                          now=accepted)
    expected = datetime(2026, 10, 8, 23, 59, 59, 999999, tzinfo=SH)
    assert p.handle_due_at == expected == p.due_at


def test_extension_once_within_limit(session):
    p = drive(session, Status.ASSIGNED, now=datetime(2025, 3, 3, 9, tzinfo=SH))
    due = p.handle_due_at
    supervisor = Actor("sup", Role.SUPERVISOR)
    with pytest.raises(service.Invalid):
        service.do_transition(session, tracking_no=p.tracking_no, actor=supervisor,
                              change=full_change(Action.EXTEND, days=31))
    assert p.handle_due_at == due and p.extension_days is None
    service.do_transition(session, tracking_no=p.tracking_no, actor=supervisor, change=full_change(Action.EXTEND, days=30))
    assert p.handle_due_at == service.clock().extend(due, 30)
    assert p.handle_due_at > due + timedelta(days=29)
    assert (p.extension_days, p.extension_approver, p.status) == (30, "sup", Status.ASSIGNED)
    with pytest.raises(service.Conflict, match="once"):
        service.do_transition(session, tracking_no=p.tracking_no, actor=supervisor, change=full_change(Action.EXTEND, days=5))


def test_review_window_closes_after_30_days(session):
    replied_at = datetime(2025, 6, 2, 10, tzinfo=SH)
    p = drive(session, Status.REPLIED, now=replied_at)
    assert p.review_request_due_at == datetime(2025, 7, 2, 23, 59, 59, 999999, tzinfo=SH)
    late = datetime(2025, 7, 3, 9, tzinfo=SH)
    with pytest.raises(service.Conflict, match="window"):
        service.do_transition(session, tracking_no=p.tracking_no, change=full_change(Action.REQUEST_REVIEW),
                              actor=ADMIN, now=late)
    on_time = datetime(2025, 7, 2, 18, tzinfo=SH)
    service.do_transition(session, tracking_no=p.tracking_no, change=full_change(Action.REQUEST_REVIEW),
                          actor=ADMIN, now=on_time)
    assert p.review_due_at == service.clock().deadline("review", on_time) == p.due_at


def test_merge_rules(session):
    a, _ = register(session)
    with pytest.raises(service.Invalid, match="itself"):
        service.do_transition(session, tracking_no=a.tracking_no, change=full_change(Action.MERGE, a.tracking_no),
                              actor=ADMIN)
    closed = drive(session, Status.CLOSED)
    with pytest.raises(service.Conflict):
        service.do_transition(session, tracking_no=a.tracking_no, change=full_change(Action.MERGE, closed.tracking_no),
                              actor=ADMIN)
    b, _ = register(session)
    service.do_transition(session, tracking_no=a.tracking_no, change=full_change(Action.MERGE, b.tracking_no),
                          actor=ADMIN)
    assert a.status == Status.MERGED and a.merged_into_id == b.id and a.due_at is None


def test_feedback_closes_or_keeps_review_open(session):
    p = drive(session, Status.REPLIED)
    with pytest.raises(service.Invalid):
        service.do_feedback(session, tracking_no=p.tracking_no, satisfied=False, reason="", actor=ADMIN)
    service.do_feedback(session, tracking_no=p.tracking_no, satisfied=False, reason="没有解决", actor=ADMIN)
    assert p.status == Status.REPLIED
    q = drive(session, Status.REPLIED)
    service.do_feedback(session, tracking_no=q.tracking_no, satisfied=True, reason=None, actor=ADMIN)
    assert q.status == Status.CLOSED
    with pytest.raises(service.Conflict):
        service.do_feedback(session, tracking_no=drive(session, Status.ACCEPTED).tracking_no, satisfied=True,
                            reason=None, actor=ADMIN)


def test_scan_marks_overdue_and_auto_closes(session):
    received = datetime(2025, 3, 3, 9, tzinfo=SH)
    late = drive(session, Status.REGISTERED, now=received)
    replied = drive(session, Status.REPLIED, now=received)
    fresh = drive(session, Status.REGISTERED, now=datetime(2025, 3, 20, 9, tzinfo=SH))
    scan_at = datetime(2025, 4, 10, 9, tzinfo=SH)
    assert service.do_scan_deadlines(session, now=scan_at) == {"overdue": 2, "closed": 1}
    assert late.overdue_since == scan_at and fresh.overdue_since is not None  # both past Mar 18 / Apr 7
    assert replied.status == Status.CLOSED
    # A second scan changes nothing: the task is idempotent.
    assert service.do_scan_deadlines(session, now=scan_at) == {"overdue": 0, "closed": 0}


def test_tracking_numbers_are_daily_sequences(session):
    day = datetime(2026, 3, 1, 23, 30, tzinfo=SH)
    first, code = register(session, now=day)
    second, _ = register(session, now=day)
    next_day, _ = register(session, now=day + timedelta(hours=1))
    assert (first.tracking_no, second.tracking_no) == ("XF-20260301-000001", "XF-20260301-000002")
    assert next_day.tracking_no == "XF-20260302-000001"
    assert len(code) == 8 and first.query_code_hash != code
    assert service.access_public(session, first.tracking_no, code.lower()) is first
    with pytest.raises(service.NotFound):
        service.access_public(session, first.tracking_no, "WRONGCOD")


def test_collective_flag_from_head_count(session):
    assert register(session, head_count=5)[0].is_collective
    assert not register(session, head_count=4)[0].is_collective
