"""The risk API: alerts with filters, acknowledge / resolve by role, hotspots, key persons, risk on every petition."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from core.accounts import create_token, create_user
from risk import service
from risk.tasks import assess_petition
from server.app import create_app
from tests.cases.helpers import register


@pytest.fixture
def client(db, settings):
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def tokens(db):
    out = {}
    with db.transaction() as s:
        for role in ("supervisor", "analyst", "handler", "agent"):
            unit_id = None
            if role == "handler":
                from cases import catalog

                unit_id = catalog.get_unit_by_code(s, "CS-HRSS").id
            user = create_user(s, username=f"{role}-api", password="risk-api-2026", role=role, unit_id=unit_id)
            out[role] = {"Authorization": f"Bearer {create_token(s, user=user)}"}
    return out


def test_alerts_flow_and_petition_risk(client, db, tokens):
    with db.transaction() as s:
        service.seed_lexicon(s)
        p, _ = register(s, title="再拖欠工资我就跳楼", content="老板跑路了")
        no, pid = p.tracking_no, p.id
    assess_petition(petition_id=pid)
    r = client.get("/api/v1/risk/alerts", params={"level": "red"}, headers=tokens["analyst"])
    assert r.status_code == 200 and len(r.json()) == 1
    alert = r.json()[0]
    assert alert["kind"] == "red_petition" and alert["evidence"]["tracking_nos"] == [no]
    assert client.get("/api/v1/risk/alerts", headers=tokens["handler"]).status_code == 403
    assert client.post(f"/api/v1/risk/alerts/{alert['id']}/ack", headers=tokens["analyst"]).status_code == 403
    assert client.post(f"/api/v1/risk/alerts/{alert['id']}/ack", headers=tokens["supervisor"]).json()["status"] == "acknowledged"
    assert client.post(f"/api/v1/risk/alerts/{alert['id']}/resolve", json={"note": ""},
                       headers=tokens["supervisor"]).status_code == 422
    done = client.post(f"/api/v1/risk/alerts/{alert['id']}/resolve", json={"note": "已稳控"}, headers=tokens["supervisor"])
    assert done.json()["status"] == "resolved" and done.json()["resolution"] == "已稳控"
    assert client.post("/api/v1/risk/alerts/999999/ack", headers=tokens["supervisor"]).status_code == 404
    petition = client.get(f"/api/v1/petitions/{no}", headers=tokens["supervisor"]).json()
    assert petition["risk_level"] == "red" and any("跳楼" in r["text_zh"] for r in petition["risk_reasons"])
    spots = client.get("/api/v1/risk/hotspots", headers=tokens["supervisor"]).json()
    assert spots[0]["area_code"] == "430104" and spots[0]["name"] == "岳麓区" and spots[0]["by_level"] == {"red": 1}
    assert client.get("/api/v1/risk/hotspots", params={"days": 0}, headers=tokens["supervisor"]).status_code == 422


def test_key_persons_api_has_no_personal_data(client, db, tokens):
    with db.transaction() as s:
        for channel in ("sms", "phone", "webchat"):
            register(s, channel=channel, petitioner={"name": "老李", "phone": "13600000001"})
    r = client.get("/api/v1/risk/key-persons", headers=tokens["supervisor"])
    assert r.status_code == 200 and r.json()[0]["petitions"] == 3
    assert "13600000001" not in r.text and "老李" not in r.text
    assert client.get("/api/v1/risk/key-persons", headers=tokens["agent"]).status_code == 403


def test_trends_api(client, db, tokens):
    from datetime import timedelta

    from core.db import utcnow

    with db.transaction() as s:
        for d in range(20):
            register(s, channel="sms" if d % 2 else "phone", now=utcnow() - timedelta(days=d))
    r = client.get("/api/v1/risk/trends", params={"by": "channel", "days": 30}, headers=tokens["analyst"])
    assert r.status_code == 200
    body = r.json()
    assert set(body["series"]) == {"sms", "phone"}
    assert sum(body["series"]["sms"]["values"]) == 10 and sum(body["series"]["phone"]["values"]) == 10
    assert len(body["forecast"]["mean"]) == 28 and body["forecast"]["method"]
    assert all(low >= 0 for low in body["forecast"]["intervals"]["0.95"]["lower"])
    assert client.get("/api/v1/risk/trends", params={"by": "nonsense"}, headers=tokens["analyst"]).status_code == 422
    assert client.get("/api/v1/risk/trends", headers=tokens["handler"]).status_code == 403
