"""Input the database cannot hold is the caller's error (422 or 404), on SQLite and on PostgreSQL, never a 500.

Found by the schemathesis run: an id beyond 64 bits overflowed SQLite, and a NUL character in a chat message
was refused by PostgreSQL, both as 500 before server/app.py mapped them.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from server.app import create_app

TOKEN = "unstorable-admin-token"


@pytest.fixture
def client(db, settings):
    app = create_app(settings.model_copy(update={"bootstrap_admin_token": SecretStr(TOKEN)}))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_huge_ids_and_nul_characters_get_a_clear_4xx(client, settings):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for path in ("/api/v1/knowledge/entries/10000000000000000000000/retire",
                 "/api/v1/risk/alerts/99999999999999999999/ack"):
        r = client.post(path, headers=auth, json={})
        assert r.status_code in (404, 422), (path, r.status_code, r.text)
    r = client.get("/api/v1/mediation/sessions/123456789012345678901234567890", headers=auth)
    assert r.status_code in (404, 422), r.text

    nul = client.post("/api/v1/chat", json={"conversation_id": "conv-nul-0001", "message_id": "msg-nul-0001",
                                            "text": "我要投诉\x00噪音"})
    if settings.is_sqlite:
        assert nul.status_code == 200  # SQLite keeps the character as it came
    else:
        assert nul.status_code == 422 and "NUL" in nul.json()["detail"] and "无法保存" in nul.json()["detail"]
    page = client.post("/console/login", data={"username": "admin\x00", "password": "x"},
                       headers={"Accept": "text/html"})
    assert page.status_code < 500
