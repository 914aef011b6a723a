"""Console sign-in: sessions, CSRF, throttling, sign-out and password change, on both databases."""

from __future__ import annotations

from fastapi.testclient import TestClient

from admin_web.web import COOKIE
from tests.admin_web.conftest import PASSWORD, sign_in


def test_unsigned_requests_go_to_login(app, staff):
    client = TestClient(app, follow_redirects=False)
    r = client.get("/console/account")
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login?next=/console/account")
    assert client.post("/console/logout").status_code == 401
    login = client.get("/console/login")
    assert login.status_code == 200 and "登录" in login.text and 'name="password"' in login.text


def test_login_sets_a_strict_httponly_cookie_and_lands_on_the_role_home(app, staff):
    client = TestClient(app, follow_redirects=False)
    r = client.post("/console/login", data={"username": "triage1", "password": PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == "/console/triage"
    cookie = r.headers["set-cookie"].lower()
    assert f"{COOKIE}=" in cookie and "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
    # The cookie holds a random token; the table keeps only its digest.
    token = r.cookies[COOKIE]
    from core.db import get_database

    with get_database().engine.connect() as conn:
        from sqlalchemy import text

        digests = [row[0] for row in conn.execute(text("SELECT digest FROM console_sessions"))]
    assert digests and token not in digests


def test_wrong_password_and_next_redirect(app, staff):
    client = TestClient(app, follow_redirects=False)
    r = client.post("/console/login", data={"username": "triage1", "password": "nope"})
    assert r.status_code == 401 and "用户名或密码错误" in r.text
    r = client.post("/console/login", data={"username": "triage1", "password": PASSWORD, "next": "https://evil.example/"})
    assert r.headers["location"] == "/console/triage"
    r = client.post("/console/login", data={"username": "triage1", "password": PASSWORD, "next": "/console/account"})
    assert r.headers["location"] == "/console/account"


def test_throttle_after_five_failures_even_with_the_right_password(app, staff):
    client = TestClient(app, follow_redirects=False)
    for _ in range(5):
        assert client.post("/console/login", data={"username": "agent1", "password": "bad-guess"}).status_code == 401
    r = client.post("/console/login", data={"username": "agent1", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0 and "登录尝试过多" in r.text
    # Another account is not locked by it.
    assert client.post("/console/login", data={"username": "triage1", "password": PASSWORD}).status_code == 303


def test_csrf_is_required_on_every_post(app, staff):
    c = sign_in(app, "super1")
    r = c.client.post("/console/account/password", data={"current": PASSWORD, "new": "another-pass-2026",
                                                         "confirm": "another-pass-2026"})
    assert r.status_code == 403 and "请求无效" in r.text
    r = c.client.post("/console/account/password", data={"csrf": "forged", "current": PASSWORD,
                                                         "new": "another-pass-2026", "confirm": "another-pass-2026"})
    assert r.status_code == 403
    # Nothing changed: the old password still signs in.
    sign_in(app, "super1")


def test_logout_ends_the_session(app, staff):
    c = sign_in(app, "analyst1")
    assert c.post("/console/logout").status_code == 303
    r = c.get("/console/account")
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")


def test_password_change_ends_other_sessions(app, staff):
    first, second = sign_in(app, "admin1"), sign_in(app, "admin1")
    r = first.post("/console/account/password", {"current": "wrong-one", "new": "brand-new-pass-1", "confirm": "brand-new-pass-1"})
    assert r.status_code == 400 and "当前密码错误" in r.text
    r = first.post("/console/account/password", {"current": PASSWORD, "new": "short", "confirm": "short"})
    assert r.status_code == 400
    r = first.post("/console/account/password", {"current": PASSWORD, "new": "brand-new-pass-1", "confirm": "brand-new-pass-1"})
    assert r.status_code == 200 and "密码已修改" in r.text
    assert first.get("/console/account").status_code == 200
    assert second.get("/console/account").status_code == 303
    sign_in(app, "admin1", "brand-new-pass-1")


def test_language_switch_keeps_chinese_default(app, staff):
    c = sign_in(app, "triage1")
    assert "退出" in c.get("/console/account").text
    r = c.get("/console/lang/en?next=/console/account")
    assert r.status_code == 303 and r.headers["location"] == "/console/account"
    page = c.get("/console/account").text
    assert "Sign out" in page and "退出" not in page
