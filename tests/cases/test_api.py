"""The REST API: happy paths, authentication and bad input to every endpoint (4xx, never 5xx)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from core.accounts import create_token, create_user
from server.app import create_app

GOOD = {"title": "拖欠工资三个月", "content": "我在雨花区某工地打工，老板拖欠三个月工资共计一万二千元。",
        "channel": "phone", "area_code": "430111", "category": "劳动和社会保障", "head_count": 6,
        "demand": "尽快支付工资", "petitioner": {"name": "李四", "phone": "139 0000 1111", "id_number": "11010519491231002X"}}


@pytest.fixture
def client(db, settings):
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def token(db):
    with db.transaction() as s:
        user = create_user(s, username="triage1", password="correct horse", role="triage")
        return create_token(s, user=user)


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_reference_endpoints(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["database"] == "ok"
    areas = client.get("/api/v1/areas").json()
    assert {"code": "430104", "name": "岳麓区", "level": "district", "parent": "430100", "name_en": "Yuelu District"} in areas
    streets = {a["name"]: a["code"] for a in client.get("/api/v1/areas", params={"parent": "430104"}).json()}
    assert streets["桔子洲街道"] == "430104011" and "麓谷街道" in streets
    units = {u["code"]: u for u in client.get("/api/v1/units").json()}
    assert units["CS-HRSS"]["categories"] == ["劳动和社会保障"]
    level1 = client.get("/api/v1/categories", params={"level": 1}).json()
    assert len(level1) == 15 and level1[0]["name"] == "城乡建设"
    assert client.get("/docs").status_code == 200
    assert "/api/v1/petitions" in client.get("/openapi.json").json()["paths"]


def test_create_list_get_transition_and_public_view(client, token):
    r = client.post("/api/v1/petitions", json=GOOD, headers=auth(token))
    assert r.status_code == 201, r.text
    created = r.json()
    no, code = created["tracking_no"], created["query_code"]
    assert created["status"] == "registered" and created["petition"]["is_collective"] is True
    assert created["petition"]["petitioner"] == {"name": "李四", "phone": "13900001111", "id_number": "11010519491231002X"}

    page = client.get("/api/v1/petitions", params={"status": "registered", "category": "劳动和社会保障"},
                      headers=auth(token)).json()
    assert page["total"] == 1 and page["items"][0]["tracking_no"] == no
    assert client.get("/api/v1/petitions", params={"area_code": "430104"}, headers=auth(token)).json()["total"] == 0

    for body in ({"action": "accept"}, {"action": "assign", "unit": "CS-HRSS", "assisting": ["YH-ZJJ"]},
                 {"action": "start"}, {"action": "reply", "text": "已责令用人单位七日内支付。"}):
        r = client.post(f"/api/v1/petitions/{no}/transitions", json=body, headers=auth(token))
        assert r.status_code == 200, r.text
    detail = client.get(f"/api/v1/petitions/{no}", headers=auth(token)).json()
    assert detail["status"] == "replied" and detail["lead_unit"] == "CS-HRSS"
    assert detail["assisting_units"] == ["YH-ZJJ"]
    assert [h["action"] for h in detail["history"]] == ["register", "accept", "assign", "start", "reply"]

    r = client.post(f"/api/v1/petitions/{no}/transitions", json={"action": "accept"}, headers=auth(token))
    assert r.status_code == 409 and "cannot accept" in r.json()["detail"]

    public = client.get(f"/api/v1/public/petitions/{no}", params={"code": code})
    assert public.status_code == 200
    body = public.json()
    assert body["status_label"] == "已答复" and body["unit"] == "长沙市人力资源和社会保障局"
    assert body["replies"][0]["text"] == "已责令用人单位七日内支付。"
    assert "李四" not in public.text and "13900001111" not in public.text and "拖欠" not in public.text


def test_staff_endpoints_need_a_valid_token(client, token, settings):
    assert client.get("/api/v1/petitions").status_code == 401
    assert client.get("/api/v1/petitions", headers=auth("not-a-token")).status_code == 401
    assert client.post("/api/v1/petitions", json=GOOD).status_code == 401
    assert client.get("/api/v1/petitions/XF-20260101-000001").status_code == 401


def test_bootstrap_admin_token(db, settings):
    boot = settings.model_copy(update={"bootstrap_admin_token": __import__("pydantic").SecretStr("boot-secret-123")})
    with TestClient(create_app(boot)) as c:
        assert c.get("/api/v1/petitions", headers=auth("boot-secret-123")).status_code == 200
        assert c.get("/api/v1/petitions", headers=auth("boot-secret-124")).status_code == 401


def test_analyst_sees_personal_data_masked(client, token, db):
    no = client.post("/api/v1/petitions", json=GOOD, headers=auth(token)).json()["tracking_no"]
    with db.transaction() as s:
        analyst = create_token(s, user=create_user(s, username="ana", password="analyst-pass", role="analyst"))
    person = client.get(f"/api/v1/petitions/{no}", headers=auth(analyst)).json()["petitioner"]
    assert person == {"name": "李*", "phone": "139****1111", "id_number": "1101**********002X"}
    r = client.post(f"/api/v1/petitions/{no}/transitions", json={"action": "accept"}, headers=auth(analyst))
    assert r.status_code == 403


BAD_CREATES = [
    ({k: v for k, v in GOOD.items() if k != "title"}, 422, "title"),
    ({k: v for k, v in GOOD.items() if k != "area_code"}, 422, "area_code"),
    ({**GOOD, "area_code": "999999"}, 422, "unknown area"),
    ({**GOOD, "category": "不存在的分类"}, 422, "unknown category"),
    ({**GOOD, "title": "长" * 100_000}, 422, "at most 200 characters"),
    ({**GOOD, "title": "x" * 201}, 422, "title"),
    ({**GOOD, "head_count": "many"}, 422, "head_count"),
    ({**GOOD, "head_count": 0}, 422, "head_count"),
    ({**GOOD, "channel": "pigeon"}, 422, "channel"),
    ({**GOOD, "petitioner": {"id_number": "110105194912310021"}}, 422, "id_number"),
    ({**GOOD, "petitioner": {"phone": "call me"}}, 422, "phone"),
    ({**GOOD, "received_at": "2026-01-01T10:00:00"}, 422, "received_at"),
    ({**GOOD, "received_at": "2999-01-01T10:00:00+08:00"}, 422, "future"),
    ({**GOOD, "title": "   "}, 422, "title"),
    ({**GOOD, "unexpected": 1}, 422, "unexpected"),
    ([1, 2, 3], 422, None),
]


@pytest.mark.parametrize(("body", "status", "mentions"), BAD_CREATES)
def test_bad_petition_input_is_a_clear_4xx(client, token, body, status, mentions):
    r = client.post("/api/v1/petitions", json=body, headers=auth(token))
    assert r.status_code == status, r.text
    if mentions:
        assert mentions in r.text
    assert client.get("/api/v1/petitions", headers=auth(token)).json()["total"] == 0


def test_oversized_bodies_refused_before_parsing(client, token):
    r = client.post("/api/v1/petitions", content=b"{" + b" " * 2_000_000 + b"}",
                    headers={**auth(token), "Content-Type": "application/json"})
    assert r.status_code == 413


def test_malformed_json_and_wrong_content(client, token):
    r = client.post("/api/v1/petitions", content=b"{not json", headers={**auth(token), "Content-Type": "application/json"})
    assert r.status_code == 422
    r = client.post("/api/v1/petitions", content="title=x", headers={**auth(token), "Content-Type": "text/plain"})
    assert r.status_code == 422


def test_bad_lookups_and_transitions(client, token):
    no = client.post("/api/v1/petitions", json=GOOD, headers=auth(token)).json()["tracking_no"]
    assert client.get("/api/v1/petitions/XF-20200101-999999", headers=auth(token)).status_code == 404
    assert client.get("/api/v1/petitions/' OR 1=1 --", headers=auth(token)).status_code == 404
    cases = [
        ("XF-20200101-999999", {"action": "accept"}, 404),
        (no, {"action": "fly"}, 422),
        (no, {}, 422),
        (no, {"action": "not_accept"}, 422),
        (no, {"action": "accept", "reason": "r" * 3000}, 422),
        (no, {"action": "reply", "text": "too early"}, 409),
        (no, {"action": "merge", "reason": "dup", "target": no}, 422),
        (no, {"action": "merge", "reason": "dup", "target": "XF-20200101-000001"}, 404),
        (no, {"action": "merge", "reason": "dup", "target": "nonsense"}, 422),
    ]
    for tracking_no, body, status in cases:
        r = client.post(f"/api/v1/petitions/{tracking_no}/transitions", json=body, headers=auth(token))
        assert r.status_code == status, (body, r.text)
    assert client.get(f"/api/v1/petitions/{no}", headers=auth(token)).json()["status"] == "registered"
    for params in ({"page": 0}, {"page_size": 1000}, {"status": "sleeping"}, {"area_code": "abc"},
                   {"received_from": "yesterday"}, {"received_from": "2026-01-01T00:00:00"}, {"category": "nope"},
                   {"unit": "NOPE"}):
        r = client.get("/api/v1/petitions", params=params, headers=auth(token))
        assert r.status_code == 422, (params, r.text)


def test_public_view_refuses_wrong_number_or_code(client, token):
    created = client.post("/api/v1/petitions", json=GOOD, headers=auth(token)).json()
    no, code = created["tracking_no"], created["query_code"]
    for path, params in ((f"/api/v1/public/petitions/{no}", {"code": "ZZZZZZZZ"}),
                         ("/api/v1/public/petitions/XF-20200101-000001", {"code": code}),
                         ("/api/v1/public/petitions/<script>", {"code": code})):
        r = client.get(path, params=params)
        assert r.status_code == 404 and r.json()["detail"] == "no petition with this tracking number and query code"
    assert client.get(f"/api/v1/public/petitions/{no}").status_code == 422
    assert client.get(f"/api/v1/public/petitions/{no}", params={"code": "x" * 100}).status_code == 422
    assert client.get(f"/api/v1/public/petitions/{no}", params={"code": code.lower()}).status_code == 200
