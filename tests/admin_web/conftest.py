"""Console fixtures: the app under a test client, one staff account per role, and signed-in clients."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from cases import catalog
from core.accounts import create_user
from server.app import create_app

PASSWORD = "console-test-2026"
# username -> (role, unit code); two handlers of different units check the unit scope.
STAFF = {
    "agent1": ("agent", None), "triage1": ("triage", None), "super1": ("supervisor", None),
    "analyst1": ("analyst", None), "admin1": ("admin", None),
    "hrss1": ("handler", "CS-HRSS"), "yuelu1": ("handler", "YL-GOV"),
}
ROLE_USER = {"agent": "agent1", "triage": "triage1", "supervisor": "super1", "analyst": "analyst1", "admin": "admin1",
             "handler": "hrss1"}


@pytest.fixture
def staff(db):
    """Create one account per role (and a second handler of another unit)."""
    with db.transaction() as s:
        for username, (role, unit) in STAFF.items():
            unit_id = catalog.get_unit_by_code(s, unit).id if unit else None
            create_user(s, username=username, password=PASSWORD, role=role, unit_id=unit_id, display_name=username)
    return STAFF


@pytest.fixture
def app(db, settings):
    return create_app(settings)


def csrf_of(html: str) -> str:
    """Return the CSRF token a console page carries."""
    match = re.search(r'<meta name="csrf-token" content="([^"]*)"', html)
    assert match and match.group(1), "page has no CSRF token"
    return match.group(1)


class ConsoleClient:
    """A test client signed in as one staff member, with the session's CSRF token at hand."""

    def __init__(self, client: TestClient, csrf: str):
        self.client, self.csrf = client, csrf

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def post(self, url, data=None, **kw):
        data = dict(data or {})
        data.setdefault("csrf", self.csrf)
        return self.client.post(url, data=data, **kw)


def sign_in(app, username: str, password: str = PASSWORD) -> ConsoleClient:
    """Return a client signed in as ``username``."""
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    r = client.post("/console/login", data={"username": username, "password": password})
    assert r.status_code == 303, r.text
    page = client.get("/console/account")
    assert page.status_code == 200, page.text
    return ConsoleClient(client, csrf_of(page.text))


@pytest.fixture
def as_role(app, staff):
    """Return a function that signs in as the standard user of a role (or a named user)."""
    def make(role_or_user: str) -> ConsoleClient:
        return sign_in(app, ROLE_USER.get(role_or_user, role_or_user))
    return make
