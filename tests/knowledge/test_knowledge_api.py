"""The knowledge-base JSON API: entries for admins, search and suggestions for staff, contact types (both databases)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cases import catalog
from cases.enums import Status
from core.accounts import create_token, create_user
from server.app import create_app
from tests.cases.helpers import drive, register

ENTRY = {"question": "异地如何缴纳城乡居民基本养老保险", "answer": "可通过“湘税社保”微信小程序或户籍所在地社区服务中心缴纳。",
         "unit": "CS-HRSS", "source": "《长沙市城乡居民基本养老保险实施办法》", "issued_on": "2025-03-01",
         "category": "劳动和社会保障"}
ASK = "请问在外地怎么缴纳城乡居民养老保险？"


@pytest.fixture
def client(db, settings):
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def tokens(db):
    with db.transaction() as s:
        out = {}
        for role in ("admin", "triage", "agent", "handler"):
            unit = catalog.get_unit_by_code(s, "YL-GOV").id if role == "handler" else None
            user = create_user(s, username=f"kb-{role}", password="correct horse", role=role, unit_id=unit)
            out[role] = {"Authorization": f"Bearer {create_token(s, user=user)}"}
        return out


def test_admin_curates_entries(client, tokens):
    admin = tokens["admin"]
    r = client.post("/api/v1/knowledge/entries", json=ENTRY, headers=admin)
    assert r.status_code == 201, r.text
    entry = r.json()
    assert entry["status"] == "published" and entry["unit"] == "CS-HRSS" and entry["valid_now"] and entry["kind"] == "policy"
    assert client.post("/api/v1/knowledge/entries", json=ENTRY, headers=tokens["triage"]).status_code == 403
    assert client.get("/api/v1/knowledge/entries", headers=tokens["agent"]).status_code == 403
    assert client.post("/api/v1/knowledge/entries", json={**ENTRY, "unit": "NOPE"}, headers=admin).status_code == 422
    assert client.post("/api/v1/knowledge/entries", json={**ENTRY, "answer": ""}, headers=admin).status_code == 422
    assert client.post("/api/v1/knowledge/entries", json=ENTRY).status_code == 401
    changed = client.put(f"/api/v1/knowledge/entries/{entry['id']}", json={**ENTRY, "valid_until": "2020-12-31"},
                         headers=admin).json()
    assert changed["valid_until"] == "2020-12-31" and not changed["valid_now"]
    listed = client.get("/api/v1/knowledge/entries", params={"expired": True}, headers=admin).json()
    assert listed["total"] == 1 and listed["entries"][0]["id"] == entry["id"]
    retired = client.post(f"/api/v1/knowledge/entries/{entry['id']}/retire", json={"reason": "旧政策"}, headers=admin).json()
    assert retired["status"] == "retired" and retired["retire_reason"] == "旧政策"
    assert client.post(f"/api/v1/knowledge/entries/{entry['id']}/publish", headers=admin).json()["status"] == "published"
    assert client.get("/api/v1/knowledge/entries/999999", headers=admin).status_code == 404
    stats = client.get("/api/v1/knowledge/stats", headers=admin).json()
    assert stats["entries"]["published"] == 1 and stats["answers"]["answered"] == 0


def test_staff_search_and_see_suggestions_for_petitions_they_may_see(client, tokens, db):
    client.post("/api/v1/knowledge/entries", json=ENTRY, headers=tokens["admin"])
    client.post("/api/v1/knowledge/entries", json={**ENTRY, "question": "草稿：异地缴纳养老保险", "status": "draft"},
                headers=tokens["admin"])
    staff = client.get("/api/v1/knowledge/search", params={"q": ASK}, headers=tokens["agent"]).json()
    citizen = client.get("/api/v1/knowledge/search", params={"q": ASK, "audience": "citizen"}, headers=tokens["agent"]).json()
    assert len(staff) == 2 and len(citizen) == 1
    assert citizen[0]["source_line"].startswith("来源：《长沙市城乡居民基本养老保险实施办法》") and citizen[0]["lexical"] > 0
    assert client.get("/api/v1/knowledge/search", params={"q": ASK, "on": "2000-01-01"}, headers=tokens["agent"]).json()
    with db.transaction() as s:
        petition, _ = register(s, title="外地怎么交养老保险", content=ASK, area_code="430111")
        number = petition.tracking_no
    suggestions = client.get(f"/api/v1/petitions/{number}/knowledge", headers=tokens["triage"]).json()
    assert [f["entry"]["question"] for f in suggestions][0] in (ENTRY["question"], "草稿：异地缴纳养老保险")
    # A handler of a unit that does not have the petition gets nothing of it.
    assert client.get(f"/api/v1/petitions/{number}/knowledge", headers=tokens["handler"]).status_code == 404


def test_promote_a_reply_and_harvest(client, tokens, db):
    with db.transaction() as s:
        petition = drive(s, Status.CLOSED)
        reply_id = petition.replies[-1].id
    assert client.post(f"/api/v1/knowledge/replies/{reply_id}/promote", headers=tokens["triage"]).status_code == 403
    r = client.post(f"/api/v1/knowledge/replies/{reply_id}/promote", headers=tokens["admin"])
    assert r.status_code == 201 and r.json()["kind"] == "reply" and r.json()["status"] == "draft"
    assert r.json()["source_tracking_no"] == petition.tracking_no
    assert client.post("/api/v1/knowledge/harvest", headers=tokens["admin"]).json() == {"added": 0}
    assert client.post("/api/v1/knowledge/replies/999999/promote", headers=tokens["admin"]).status_code == 404


def test_contact_types_are_classified_and_corrected(client, tokens, db):
    r = client.post("/api/v1/contact-type", json={"text": "建议在麓谷增设公交线路"}, headers=tokens["agent"])
    assert r.json()["contact_type"] == "proposal" and r.json()["label_zh"] == "建议" and r.json()["cues"]
    with db.transaction() as s:
        number = register(s)[0].tracking_no
    url = f"/api/v1/petitions/{number}/contact-type"
    assert client.put(url, json={"contact_type": "praise"}, headers=tokens["agent"]).status_code == 403
    assert client.put(url, json={"contact_type": "rant"}, headers=tokens["triage"]).status_code == 422
    assert client.put(url, json={"contact_type": "help"}, headers=tokens["handler"]).status_code == 404
    r = client.put(url, json={"contact_type": "help", "reason": "生活困难"}, headers=tokens["triage"])
    assert r.json() == {"tracking_no": number, "contact_type": "help"}
