"""CSRF on every console form: each state-changing console route, posted by a signed-in user of a role allowed on it,
is refused without the session's token (and with a forged one) before it does anything."""

from __future__ import annotations

import importlib
import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from admin_web.api import PAGE_MODULES
from core.accounts import Role, create_user
from server.app import create_app

PASSWORD = "csrf-sweep-2026"
# Path parameters need only the right shape: the token is checked before anything is looked up.
VALUES = {"tracking_no": "XF-20260101-000001", "code": "CS-HRSS", "username": "nobody", "lang": "en",
          "code_area": "430104"}


def state_changing_routes() -> list[tuple[str, str, frozenset[Role]]]:
    """Return (method, path, allowed roles) of every console route that is not a GET."""
    found = []
    for name in PAGE_MODULES:
        module = importlib.import_module(f"admin_web.pages.{name}")
        for route in module.router.routes:
            if not isinstance(route, APIRoute):
                continue
            roles = None
            for dep in route.dependant.dependencies:
                roles = getattr(dep.call, "roles", None) or roles
                for sub in dep.dependencies:
                    roles = getattr(sub.call, "roles", None) or roles
            for method in sorted(route.methods - {"GET", "HEAD", "OPTIONS"}):
                found.append((method, "/console" + route.path, roles))
    return found


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_every_state_changing_console_route_needs_the_csrf_token(db, settings):
    routes = state_changing_routes()
    assert len(routes) >= 30
    # Only signing in is open (a login form has no session to bind a token to yet).
    assert {(m, p) for m, p, roles in routes if roles is None} == {("POST", "/console/login")}
    app = create_app(settings)
    clients: dict[Role, TestClient] = {}
    checked = 0
    for method, path, roles in routes:
        if roles is None:
            continue
        role = Role.ADMIN if Role.ADMIN in roles else sorted(roles)[0]
        if role not in clients:
            with db.transaction() as s:
                create_user(s, username=f"csrf-{role}", password=PASSWORD, role=role,
                            unit_id=None if role != Role.HANDLER else _unit_id(s))
            clients[role] = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
            signed = clients[role].post("/console/login", data={"username": f"csrf-{role}", "password": PASSWORD})
            assert signed.status_code == 303, signed.text
        url = re.sub(r"{([^}:]+)(:[^}]*)?}", lambda m: str(VALUES.get(m.group(1), 1)), path)
        for headers in ({}, {"X-CSRF-Token": "forged"}):
            r = clients[role].request(method, url, data={"text": "x", "reason": "x"}, headers=headers)
            assert r.status_code == 403 and "请求无效" in r.text, f"{role} {method} {url} {headers}: {r.status_code}"
        checked += 1
    assert checked >= 30


def _unit_id(session) -> int:
    from cases import catalog

    return catalog.get_unit_by_code(session, "CS-HRSS").id
