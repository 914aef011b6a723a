"""Every console route × every role: allowed roles get the page, the others 403 — on GET and on POST (with CSRF)."""

from __future__ import annotations

import importlib

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select

from admin_web.api import PAGE_MODULES
from bot import service as conversations
from cases import service
from cases.enums import Action
from cases.schemas import TransitionIn
from core.accounts import Role, get_by_username
from tests.cases.helpers import register
from tests.conftest import ADMIN

# Streams never end on their own; for the roles allowed on them the desk tests read them with a bound.
STREAMING_SUFFIX = "/events"


def console_routes() -> list[tuple[str, str, frozenset[Role] | None]]:
    """Return (method, path, allowed roles or None for public) for every console route."""
    routes = []
    for name in PAGE_MODULES:
        try:
            module = importlib.import_module(f"admin_web.pages.{name}")
        except ModuleNotFoundError:
            continue
        for route in module.router.routes:
            if not isinstance(route, APIRoute):
                continue
            roles = None
            for dep in route.dependant.dependencies:
                roles = getattr(dep.call, "roles", None) or roles
                for sub in dep.dependencies:
                    roles = getattr(sub.call, "roles", None) or roles
            for method in sorted(route.methods - {"HEAD"}):
                routes.append((method, "/console" + route.path, roles))
    return routes


@pytest.fixture
def world(db, staff):
    """Create one of everything a console URL can name; return the values for path parameters."""
    from datetime import timedelta

    from admin_web.pages import admin as _  # noqa: F401  (the admin pages exist)
    from cases.handling import service as handling
    from cases.handling.models import CaseNote, ReplyTemplate
    from core.db import utcnow
    from knowledge import service as knowledge
    from mediation import service as mediation
    from mediation.schemas import SessionCreate
    from risk.models import RiskAlert, SensitiveTerm
    from routing import service as routing
    from routing.models import RoutingRule

    with db.transaction() as s:
        p, _ = register(s, category="劳动和社会保障", title="拖欠工资")
        for change in (TransitionIn(action=Action.ACCEPT), TransitionIn(action=Action.ASSIGN, unit="CS-HRSS")):
            service.do_transition(s, tracking_no=p.tracking_no, change=change, actor=ADMIN)
        attachment = handling.create_attachment(s, petition=p, filename="a.txt", content_type="text/plain",
                                                data=b"evidence", actor=ADMIN)
        ext = handling.do_request_extension(s, petition=p, days=10, reason="需要调查", actor=ADMIN)
        note = handling.do_supervise(s, petition=p, kind="supervise", text="请加快办理", respond_within_days=3,
                                     actor=ADMIN)
        template = handling.create_template(s, kind="reply", name="模板", text="您好", actor=ADMIN)
        s.add(SensitiveTerm(term="跳楼", klass="self_harm", weight=5, created_by="t"))
        alert = RiskAlert(key="matrix", kind="red_petition", level="red", title_zh="红色", title_en="red",
                          evidence={"petition_ids": [p.id], "tracking_nos": [p.tracking_no]})
        s.add(alert)
        rule = routing.create_rule(s, name="欠薪", kind="keyword", pattern="工资", unit_code="CS-HRSS", weight=0.5,
                                   actor=ADMIN)
        conversations.ensure(s, channel="webchat", external_id="matrix-citizen")
        conv = conversations.get_by_identity(s, channel="webchat", external_id="matrix-citizen")
        s.flush()
        term = s.scalar(select(SensitiveTerm.id))
        entry = knowledge.create_entry(s, data=knowledge.EntryIn(question="如何办理异地养老保险转移？",
                                                                  answer="携带身份证到参保地社保经办机构申请。"), actor=ADMIN)
        meeting = mediation.create_session(s, data=SessionCreate.model_validate({
            "tracking_no": p.tracking_no, "kind": "reception", "starts_at": utcnow() + timedelta(days=1),
            "host": "admin1", "participants": [{"role": "petitioner"}]}), actor=ADMIN)
        values = {"tracking_no": p.tracking_no, "conversation_id": conv.id, "attachment_id": attachment.id,
                  "request_id": ext.id, "note_id": note.id, "template_id": template.id, "rule_id": rule.id,
                  "term_id": term, "code": "CS-HRSS", "user_id": get_by_username(s, "agent1").id,
                  "username": "agent1", "lang": "en",
                  "alert_id": alert.id, "session_id": meeting.id, "entry_id": entry.id, "code_area": "430104"}
        assert s.scalar(select(CaseNote.id)) is None and s.scalar(select(ReplyTemplate.id)) and \
            s.scalar(select(RoutingRule.id))
    return values


def _fill(path: str, values: dict) -> str:
    import re

    def sub(match):
        name = match.group(1).split(":")[0]
        assert name in values, f"the role matrix test has no value for path parameter {name!r} ({path}); add one"
        return str(values[name])

    return re.sub(r"{([^}]+)}", sub, path)


def test_every_route_declares_its_roles():
    routes = console_routes()
    assert len(routes) >= 30
    public = {(m, p) for m, p, roles in routes if roles is None}
    # Only signing in, the language switch and the home redirect are open; everything else names its roles.
    assert public <= {("GET", "/console/login"), ("POST", "/console/login"), ("GET", "/console/"),
                      ("GET", "/console/lang/{lang}")}, public


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_role_matrix(as_role, world, role):
    client = as_role(role)
    checked = 0
    for method, path, roles in console_routes():
        if roles is None:
            continue
        url = _fill(path, world)
        allowed = Role(role) in roles
        if method == "GET":
            if allowed and path.endswith(STREAMING_SUFFIX):
                continue
            r = client.get(url)
            if allowed:
                assert r.status_code in (200, 303), f"{role} GET {url}: {r.status_code}"
                if r.status_code == 303:
                    assert "/console/login" not in r.headers["location"], f"{role} GET {url} sent to login"
            else:
                assert r.status_code == 403, f"{role} GET {url}: {r.status_code}, expected 403"
        elif not allowed:
            r = client.post(url, {})
            assert r.status_code == 403, f"{role} {method} {url}: {r.status_code}, expected 403"
        checked += 1
    assert checked >= 20


def test_analyst_never_sees_personal_data(as_role, world):
    analyst = as_role("analyst")
    for method, path, roles in console_routes():
        if method != "GET" or roles is None or Role.ANALYST not in roles or path.endswith(STREAMING_SUFFIX):
            continue
        body = analyst.get(_fill(path, world)).text
        assert "13812341234" not in body and "王小明" not in body, path


def test_handler_of_another_unit_gets_nothing_of_the_case(app, world, staff):
    from tests.admin_web.conftest import sign_in

    other = sign_in(app, "yuelu1")
    for method, path, roles in console_routes():
        if "{tracking_no}" not in path or roles is None or Role.HANDLER not in roles:
            continue
        url = _fill(path, world)
        r = other.get(url) if method == "GET" else other.post(url, {"text": "x", "reason": "x"})
        assert r.status_code == 404, f"yuelu1 {method} {url}: {r.status_code}"
        assert "拖欠工资" not in r.text
