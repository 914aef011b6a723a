"""The console's mediation pages: schedule from a case, my sessions and invitations, host controls (both databases)."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from cases.enums import Status
from cases.service import get_by_tracking_no
from mediation import service
from mediation.models import MediationParticipant, MediationSession
from server.app import create_app
from tests.admin_web.conftest import sign_in
from tests.mediation.conftest import ANCHOR, PASSWORD, file_petition


@pytest.fixture
def app(db, settings, held):
    from core import tasks as core_tasks

    application = create_app(settings)
    core_tasks._runner = held
    return application


def login(app, username):
    return sign_in(app, username, PASSWORD)


def _form(tracking_no: str, *, date=None, time="10:00", rows=None) -> dict:
    # Tomorrow in the deployment's timezone: always in the future, whatever the hour the tests run.
    tomorrow = (ANCHOR + timedelta(days=1)).astimezone(ZoneInfo("Asia/Shanghai"))
    data = {"case": tracking_no, "kind": "joint", "date": date or tomorrow.strftime("%Y-%m-%d"), "time": time,
            "duration": "60", "title": ""}
    rows = rows if rows is not None else [
        {"role": "petitioner"},
        {"role": "administrative", "username": "hrss1", "organisation": "长沙市人社局"},
        {"role": "peoples_mediation", "name": "李调解", "organisation": "岳麓区人民调解委员会"},
    ]
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"{key}_{i}"] = value
    return data


def _schedule(app, db, tracking_no: str | None = None) -> tuple[int, str]:
    if tracking_no is None:
        with db.transaction() as s:
            tracking_no = file_petition(s).tracking_no
    office = login(app, "office1")
    r = office.post("/console/mediation/new", _form(tracking_no))
    assert r.status_code == 303, r.text
    return int(re.search(r"/console/mediation/(\d+)", r.headers["location"]).group(1)), tracking_no


def test_schedule_from_a_case_and_run_it_from_the_console(app, db, staff):
    with db.transaction() as s:
        tracking_no = file_petition(s).tracking_no
    office = login(app, "office1")
    form = office.get(f"/console/mediation/new?case={tracking_no}")
    assert form.status_code == 200 and tracking_no in form.text and "王小明" in form.text
    r = office.post("/console/mediation/new", _form(tracking_no))
    assert r.status_code == 303
    session_id = int(re.search(r"/console/mediation/(\d+)\?done=scheduled", r.headers["location"]).group(1))
    page = office.get(f"/console/mediation/{session_id}?done=scheduled")
    assert page.status_code == 200 and "邀请已发出" in page.text
    assert 'data-testid="link-petitioner"' in page.text and 'data-testid="link-peoples_mediation"' in page.text
    with db.session() as s:
        ms = s.get(MediationSession, session_id)
        assert ms.host == "office1" and ms.starts_at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%H:%M") == "10:00"
        assert {p.role for p in ms.participants} == {"petition_office", "petitioner", "administrative", "peoples_mediation"}
        petitioner = next(p for p in ms.participants if p.role == "petitioner")
        department = next(p for p in ms.participants if p.role == "administrative")
        tokens = {"petitioner": service.invite_token(petitioner, ms), "administrative": service.invite_token(department, ms)}
        assert department.organisation == "长沙市人社局"

    # The department's handler sees the invitation in the console, joins with their own link, sees no one else's.
    handler = login(app, "hrss1")
    mine = handler.get("/console/mediation")
    assert mine.status_code == 200 and f'href="/console/mediation/{session_id}/join"' in mine.text
    detail = handler.get(f"/console/mediation/{session_id}")
    assert detail.status_code == 200 and "data-testid=\"link-" not in detail.text and 'data-testid="join"' in detail.text
    join = handler.get(f"/console/mediation/{session_id}/join")
    assert join.status_code == 303 and join.headers["location"] == f"/mediation/join/{tokens['administrative']}"
    # A handler of another unit does not see the session, nor may it write the terms.
    other = login(app, "yuelu1")
    assert other.get(f"/console/mediation/{session_id}").status_code == 404
    assert other.post(f"/console/mediation/{session_id}/agreement", {"terms": "x"}).status_code == 404
    assert handler.post(f"/console/mediation/{session_id}/agreement", {"terms": "x"}).status_code == 403

    r = office.post(f"/console/mediation/{session_id}/agreement", {"terms": "公司于月底前支付拖欠工资。"})
    assert r.status_code == 303 and r.headers["location"].endswith("done=terms")
    assert "尚待 2 方确认" in office.get(f"/console/mediation/{session_id}").text
    from fastapi.testclient import TestClient
    citizen = TestClient(app, follow_redirects=False)
    for role in ("petitioner", "administrative"):
        assert citizen.post(f"/mediation/join/{tokens[role]}/confirm", data={"agree": "1"}).status_code == 303
    page = office.get(f"/console/mediation/{session_id}")
    assert 'data-outcome="agreed"' in page.text and 'data-action="reply"' in page.text and "以调解协议答复" in page.text
    with db.session() as s:
        assert get_by_tracking_no(s, tracking_no).status == Status.REPLIED


def test_the_form_explains_what_it_refuses(app, db, staff):
    session_id, _ = _schedule(app, db)
    with db.transaction() as s:
        other = file_petition(s, chat="other-chat", head_count=20).tracking_no
    office2 = login(app, "office2")
    # hrss1 is booked at that time.
    r = office2.post("/console/mediation/new", _form(other))
    assert r.status_code == 409 and "hrss1" in r.text and 'data-testid="error"' in r.text
    # Six representatives of a collective petition.
    rows = [{"role": "administrative", "username": "yuelu1"}] + [{"role": "representative", "name": f"代表{i}"} for i in range(6)]
    r = office2.post("/console/mediation/new", _form(other, time="15:00", rows=rows))
    assert r.status_code == 422 and ("at most 5 representatives" in r.text or "LiveKit" in r.text)
    assert 'value="代表5"' in r.text  # the rows come back as typed
    r = office2.post("/console/mediation/new", _form(other, date="2026-13-40"))
    assert r.status_code == 422
    assert office2.get("/console/mediation/new?case=XF-20000101-000001").status_code == 404


def test_no_agreement_and_cancel_from_the_console(app, db, staff):
    session_id, tracking_no = _schedule(app, db)
    office = login(app, "office1")
    r = office.post(f"/console/mediation/{session_id}/no-agreement", {"reason": ""})
    assert r.status_code == 422
    r = office.post(f"/console/mediation/{session_id}/no-agreement", {"reason": "双方分歧较大"})
    assert r.status_code == 303
    page = office.get(f"/console/mediation/{session_id}")
    assert 'data-outcome="no_agreement"' in page.text and "双方分歧较大" in page.text

    second, _ = _schedule(app, db, tracking_no=None)
    r = office.post(f"/console/mediation/{second}/cancel", {"reason": "当事人申请改期"})
    assert r.status_code == 303 and r.headers["location"].endswith("done=cancelled")
    with db.session() as s:
        assert s.get(MediationSession, second).status == "cancelled"
        petitioner = s.scalar(select(MediationParticipant).where(MediationParticipant.session_id == second,
                                                                 MediationParticipant.role == "petitioner"))
        token = service.invite_token(petitioner)
    from fastapi.testclient import TestClient
    assert 'data-reason="cancelled"' in TestClient(app).get(f"/mediation/join/{token}").text


def test_reissuing_a_link_replaces_the_old_one(app, db, staff):
    session_id, _ = _schedule(app, db)
    with db.session() as s:
        mediator = s.scalar(select(MediationParticipant).where(MediationParticipant.session_id == session_id,
                                                               MediationParticipant.role == "peoples_mediation"))
        old = service.invite_token(mediator)
    office = login(app, "office1")
    assert office.post(f"/console/mediation/{session_id}/reissue", {"participant": str(mediator.id)}).status_code == 303
    from fastapi.testclient import TestClient
    assert TestClient(app).get(f"/mediation/join/{old}").status_code == 403


def test_roles_that_do_not_mediate_are_turned_away(app, db, staff):
    agent = login(app, "agent1")
    assert agent.get("/console/mediation").status_code == 403
    assert agent.get("/console/mediation/new").status_code == 403


ROLE_USER = {"agent": "agent1", "handler": "hrss1", "triage": "office2", "supervisor": "super1", "analyst": "analyst1",
             "admin": "admin1"}


def test_every_mediation_page_declares_its_roles(app, db, staff):
    from core.accounts import Role
    from tests.admin_web.test_role_matrix import _fill, console_routes

    session_id, _ = _schedule(app, db)
    routes = [r for r in console_routes() if r[1].startswith("/console/mediation")]
    assert len(routes) >= 10 and all(roles is not None for _, _, roles in routes)
    for role, username in ROLE_USER.items():
        client = login(app, username)
        for method, path, roles in routes:
            url = _fill(path, {"session_id": session_id})
            allowed = Role(role) in roles
            if method == "GET":
                r = client.get(url)
                assert r.status_code in ((200, 303) if allowed else (403,)), f"{role} GET {url}: {r.status_code}"
            elif not allowed:
                assert client.post(url, {}).status_code == 403, f"{role} POST {url}"
        # Analysts see nobody's personal data here (they are not let in at all).
        assert "王小明" not in client.get(f"/console/mediation/{session_id}").text or role != "analyst"
