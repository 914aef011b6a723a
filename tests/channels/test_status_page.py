"""The public status page: tracking number + query code → status and replies, nothing else, nothing unescaped."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cases import service
from cases.enums import Action
from cases.schemas import TransitionIn
from server.app import create_app
from tests.cases.helpers import register
from tests.conftest import ADMIN


@pytest.fixture
def client(db, settings):
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def _replied(db, reply: str):
    with db.transaction() as s:
        p, code = register(s, title="<b>路灯</b>不亮")
        for change in (TransitionIn(action=Action.ACCEPT), TransitionIn(action=Action.ASSIGN, unit="YL-GOV"),
                       TransitionIn(action=Action.START), TransitionIn(action=Action.REPLY, text=reply)):
            service.do_transition(s, tracking_no=p.tracking_no, change=change, actor=ADMIN)
        return p.tracking_no, code


def test_form_then_status_and_reply(client, db):
    no, code = _replied(db, "已安排维修，<script>alert(1)</script>三日内修复。")
    form = client.get("/status")
    assert form.status_code == 200 and 'name="tracking_no"' in form.text and "查询码" in form.text
    r = client.post("/status", data={"tracking_no": no.lower(), "code": code.lower()})
    assert r.status_code == 200
    assert "已答复" in r.text and "Replied" in r.text and "岳麓区人民政府" in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;三日内修复" in r.text and "<script>alert" not in r.text
    assert "&lt;b&gt;路灯&lt;/b&gt;" in r.text
    # No personal data of the petitioner on the public page.
    assert "王小明" not in r.text and "13812341234" not in r.text
    assert r.headers["cache-control"] == "no-store"


def test_wrong_code_and_bad_input_get_the_same_clear_answer(client, db):
    no, code = _replied(db, "答复")
    wrong = client.post("/status", data={"tracking_no": no, "code": "WRONGCOD"})
    missing = client.post("/status", data={"tracking_no": "XF-20990101-000001", "code": code})
    assert wrong.status_code == missing.status_code == 404
    assert "没有找到" in wrong.text and "答复" not in wrong.text.split("</form>")[1]
    bad = client.post("/status", data={"tracking_no": "'; DROP TABLE petitions;--", "code": "x"})
    assert bad.status_code == 400 and "请填写正确的受理编号和查询码" in bad.text
