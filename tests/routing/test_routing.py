"""Routing: duty list × jurisdiction × rules × similar cases, explanations, dispatch, triage, repeats, corrections."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cases import service as cases
from cases.enums import Status
from core.accounts import Actor, Role, create_token, create_user
from core.settings import configure as configure_settings
from routing import scoring
from routing import service as routing
from routing.models import CategoryCorrection, SimilarLink
from server.app import create_app
from tests.cases.helpers import full_change, register
from tests.conftest import ADMIN


@pytest.fixture
def fresh_index(settings, tmp_path):
    """Route with a new, empty similar-case index for this test."""
    local = settings.model_copy(update={"index_dir": str(tmp_path / "index")})
    configure_settings(local)
    routing.INDEX.reset()
    yield local
    configure_settings(settings)
    routing.INDEX.reset()


def unit(code, categories, areas, level="city", uid=1):
    return scoring.UnitInfo(uid, code, code, None, level, tuple(areas), tuple(categories))


def test_scoring_prefers_duty_and_the_closest_jurisdiction():
    units = [unit("CITY-HOUSING", ["城乡建设"], ["430100"], uid=1),
             unit("YL-GOV", ["城乡建设", "环境保护"], ["430104"], "district", uid=2),
             unit("YH-GOV", ["城乡建设"], ["430111"], "district", uid=3),
             unit("CITY-LABOUR", ["劳动和社会保障"], ["430100"], uid=4)]
    ranked = scoring.score_units(units=units, text="小区物业乱收费", category=["城乡建设"], category_confidence=0.9,
                                 area_code="430104012", area_label="岳麓区麓谷街道", rules=[], similar=[])
    assert [s.unit.code for s in ranked] == ["YL-GOV", "CITY-HOUSING"]
    kinds = [r.kind for r in ranked[0].reasons]
    assert kinds == ["category", "area"] and "岳麓区麓谷街道" in ranked[0].reasons[1].zh
    rule = scoring.Rule(1, "物业专班", "keyword", "物业", 4, 0.6)
    ranked = scoring.score_units(units=units, text="小区物业乱收费", category=["城乡建设"], category_confidence=0.9,
                                 area_code="430104012", area_label=None, rules=[rule],
                                 similar=[scoring.SimilarCase(9, "XF-20260101-000001", 0.9, 4)])
    labour = next(s for s in ranked if s.unit.code == "CITY-LABOUR")
    assert [r.kind for r in labour.reasons] == ["rule", "similar"] and "XF-20260101-000001" in labour.reasons[1].zh
    sure = scoring.score_units(units=units, text="", category=["城乡建设"], category_confidence=1.0,
                               area_code="430104", area_label=None, rules=[], similar=[])
    assert scoring.decide(sure, threshold=0.6, margin=0.1)
    unsure = scoring.score_units(units=units, text="", category=["城乡建设"], category_confidence=0.3,
                                 area_code=None, area_label=None, rules=[], similar=[])
    assert not scoring.decide(unsure, threshold=0.6, margin=0.1)


def test_route_dispatches_when_sure_and_accept_moves_to_the_unit(db, fresh_index):
    with db.transaction() as s:
        petition, _ = register(s, area_code="430104", category="城乡建设")
        decision = routing.do_route(s, petition_id=petition.id)
        assert decision.suggestions[0]["unit"] == "YL-GOV"
        assert decision.auto_assigned and not decision.needs_triage
        assert petition.lead_unit.code == "YL-GOV" and petition.status == Status.REGISTERED
        reasons = [r["kind"] for r in decision.suggestions[0]["reasons"]]
        assert reasons[:2] == ["category", "area"]
        handler = Actor("h", Role.HANDLER, petition.lead_unit_id)
        cases.do_transition(s, tracking_no=petition.tracking_no, change=full_change("accept"), actor=handler)
        assert petition.status == Status.ASSIGNED
        cases.do_transition(s, tracking_no=petition.tracking_no, change=full_change("start"), actor=handler)
        assert petition.status == Status.IN_PROGRESS


def test_unsure_goes_to_triage_with_suggestions(db, fresh_index):
    with db.transaction() as s:
        petition, _ = register(s, area_code="430104", category=None, title="有个事情想问问",
                               content="我想了解一下相关的情况，谢谢。")
        decision = routing.do_route(s, petition_id=petition.id)
        assert not decision.auto_assigned and decision.needs_triage and petition.lead_unit_id is None
        queue = routing.list_triage(s)
        assert [p.tracking_no for p, _ in queue] == [petition.tracking_no]


def test_the_routing_task_runs_its_models_with_no_transaction_open(db, fresh_index, monkeypatch):
    """On SQLite a transaction holds the one write lock: the slow model work must not happen inside one."""
    import sqlite3

    from routing import tasks

    with db.transaction() as s:
        petition, _ = register(s, area_code="430104", category=None, title="小区垃圾无人清运",
                               content="小区垃圾堆了一个星期没人清运，臭气熏天。")
    real, seen = routing.prepare, []

    def watched(text, labels):
        seen.append(db.engine.pool.checkedout())
        if db.settings.is_sqlite:
            # Another process could write now: the write lock is free at once (no waiting).
            other = sqlite3.connect(db.engine.url.database, timeout=0, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            other.close()
        return real(text, labels)

    monkeypatch.setattr(routing, "prepare", watched)
    result = tasks.route_petition(petition_id=petition.id)
    assert seen == [0] and result["petition_id"] == petition.id
    with db.session() as s:
        assert routing.get_decision(s, s.get(type(petition), petition.id)).embedder == "lexical"


def test_prepared_model_work_is_used_only_for_the_text_it_was_made_from(db, fresh_index):
    with db.transaction() as s:
        petition, _ = register(s, area_code="430104", category=None, title="有个事情想问问", content="我想了解一下相关的情况。")
        text = routing.petition_text(petition)
        # Without a trained model or zero-shot (the test settings), only prepared work can carry a category.
        made = routing.prepare(text, None)
        assert made.prediction[0] is None and made.vector is not None
        prediction = (["环境保护"], 0.9, [["环境保护", 0.9]], "model")
        stale = routing.Prepared(text + "（已修改）", prediction, made.vector)
        assert routing.do_route(s, petition_id=petition.id, prepared=stale).category is None
        assert routing.do_route(s, petition_id=petition.id, prepared=routing.Prepared(text, prediction, made.vector)
                                ).category == "环境保护"


def test_zero_shot_reuses_the_similar_case_embedding(db, fresh_index, monkeypatch):
    """One embedding of the petition serves the similar-case search and zero-shot; the category is the same."""
    monkeypatch.setattr(fresh_index, "zero_shot", True)
    embedder, _ = routing.INDEX.get()
    calls = []
    real_embed = embedder.embed

    def counting(texts, *args, **kwargs):
        calls.append(list(texts))
        return real_embed(texts, *args, **kwargs)

    with db.transaction() as s:
        labels = routing.zero_shot_labels(s)
    assert labels  # the taxonomy and the duty lists describe each category
    text = "小区噪音扰民\n楼下餐馆的油烟和噪音每天晚上影响居民休息，请环保部门处理。"
    alone = routing._zero_shot(fresh_index.embedder, labels).predict([text])[0]
    monkeypatch.setattr(embedder, "embed", counting)
    prepared = routing.prepare(text, labels)
    assert calls == [[text]]
    assert prepared.prediction[0] == alone[0].split("/") and prepared.prediction[3] == "zero-shot"
    assert abs(prepared.prediction[1] - alone[1]) < 1e-6


def test_rules_can_point_to_a_unit(db, fresh_index):
    with db.transaction() as s:
        routing.create_rule(s, name="工资专班", kind="keyword", pattern="拖欠工资", unit_code="CS-HRSS", weight=1.0,
                            actor=ADMIN)
        with pytest.raises(routing.RoutingError):
            routing.create_rule(s, name="x", kind="keyword", pattern="y", unit_code="NOPE", weight=1.0, actor=ADMIN)
        with pytest.raises(routing.RoutingError):
            routing.create_rule(s, name="x", kind="area", pattern="999999", unit_code="CS-HRSS", weight=1.0, actor=ADMIN)
        petition, _ = register(s, area_code="430104", category=None, title="老板拖欠工资",
                               content="工地老板拖欠工资三个月了。")
        decision = routing.do_route(s, petition_id=petition.id)
        top = decision.suggestions[0]
        assert top["unit"] == "CS-HRSS" and top["reasons"][0]["kind"] == "rule"


def test_similar_repeat_and_group_links(db, fresh_index):
    text = "岳麓区某小区物业公司每月多收停车费二百元，业主多次反映无果，希望退还。"
    with db.transaction() as s:
        first, _ = register(s, content=text, petitioner={"name": "王小明", "phone": "13812341234"})
        routing.do_route(s, petition_id=first.id)
        other, _ = register(s, title="学校食堂涨价", content="今年学校食堂的饭菜价格上涨，学生吃不饱，希望教育局管一管。",
                            petitioner={"phone": "13900000001"}, category="教育文体")
        routing.do_route(s, petition_id=other.id)
        again, _ = register(s, content=text, petitioner={"phone": "13812341234"})
        decision = routing.do_route(s, petition_id=again.id)
        neighbour, _ = register(s, content=text, petitioner={"phone": "13700000002"})
        routing.do_route(s, petition_id=neighbour.id)
        links = {(link.petition_id, link.similar_id): link.kind for link in s.query(SimilarLink).all()}
    assert decision.repeat_of_id == first.id
    assert links[(again.id, first.id)] == "repeat"
    assert links[(neighbour.id, first.id)] == "group"
    assert (again.id, other.id) not in links


def test_api_routing_view_correction_and_rules(db, settings, fresh_index):
    with db.transaction() as s:
        triage = create_token(s, user=create_user(s, username="tri", password="triage-pass", role="triage"))
        admin = create_token(s, user=create_user(s, username="adm", password="admin-pass-1", role="admin"))
        analyst = create_token(s, user=create_user(s, username="ana", password="analyst-pass", role="analyst"))
        first, _ = register(s, area_code="430104")
        routing.do_route(s, petition_id=first.id)
        cases.do_transition(s, tracking_no=first.tracking_no, change=full_change("accept"), actor=ADMIN)
        cases.do_transition(s, tracking_no=first.tracking_no, change=full_change("start"), actor=ADMIN)
        cases.do_transition(s, tracking_no=first.tracking_no, change=full_change("reply"), actor=ADMIN)
        second, _ = register(s, area_code="430104", category=None)
        # Not routed yet: these two wait for triage, oldest first.
        unrouted = [register(s, area_code="430104", category=None)[0].tracking_no for _ in range(2)]
    h = {"Authorization": f"Bearer {triage}"}
    with TestClient(create_app(fresh_index)) as client:
        r = client.post(f"/api/v1/petitions/{second.tracking_no}/routing", headers=h)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["similar"][0]["tracking_no"] == first.tracking_no
        assert body["similar"][0]["reply"] == "经调查，已责令整改。"
        assert body["suggestions"] and body["suggestions"][0]["reasons"]
        r = client.post(f"/api/v1/petitions/{second.tracking_no}/category", headers=h,
                        json={"category": "环境保护", "reason": "是油烟问题"})
        assert r.status_code == 200 and r.json()["category"] == "环境保护"
        assert r.json()["category_source"] == "given" and r.json()["suggestions"][0]["unit"] == "YL-GOV"
        assert client.post(f"/api/v1/petitions/{second.tracking_no}/category", headers=h,
                           json={"category": "不存在"}).status_code == 422
        assert client.get("/api/v1/triage", headers={"Authorization": f"Bearer {analyst}"}).status_code == 403
        queue = client.get("/api/v1/triage", headers=h)
        waiting = [item["tracking_no"] for item in queue.json()]
        assert queue.status_code == 200 and waiting[-2:] == unrouted
        assert queue.headers["X-Total-Count"] == str(len(waiting))
        paged = client.get("/api/v1/triage?limit=1&offset=" + str(len(waiting) - 1), headers=h)
        assert [item["tracking_no"] for item in paged.json()] == waiting[-1:]
        assert paged.headers["X-Total-Count"] == str(len(waiting))
        assert client.get("/api/v1/triage?limit=0", headers=h).status_code == 422
        assert client.get("/api/v1/triage?offset=-1", headers=h).status_code == 422
        rule = {"name": "油烟", "kind": "keyword", "pattern": "油烟", "unit": "YL-GOV", "weight": 0.8}
        assert client.post("/api/v1/routing/rules", headers=h, json=rule).status_code == 403
        created = client.post("/api/v1/routing/rules", headers={"Authorization": f"Bearer {admin}"}, json=rule)
        assert created.status_code == 201
        rid = created.json()["id"]
        changed = client.put(f"/api/v1/routing/rules/{rid}", headers={"Authorization": f"Bearer {admin}"},
                             json={**rule, "pattern": "噪音"})
        assert changed.json()["pattern"] == "噪音"
        assert client.delete(f"/api/v1/routing/rules/{rid}", headers={"Authorization": f"Bearer {admin}"}).status_code == 204
        assert client.get("/api/v1/routing/rules", headers=h).json()[0]["active"] is False
        assert client.delete("/api/v1/routing/rules/99999", headers={"Authorization": f"Bearer {admin}"}).status_code == 404
        assert client.get("/api/v1/petitions/XF-20200101-000001/routing", headers=h).status_code == 404
    with db.session() as s:
        correction = s.query(CategoryCorrection).one()
        assert correction.to_category == "环境保护" and correction.title == second.title


def test_registration_event_routes_in_the_background(db, fresh_index):
    from core import tasks

    configure_settings(fresh_index.model_copy(update={"route_on_register": True}))
    runner = tasks.EmbeddedRunner(threads=1)
    original, tasks._runner = tasks._runner, runner
    try:
        with db.transaction() as s:
            petition, _ = register(s, area_code="430104", category="城乡建设")
        assert runner.join(timeout=60) and runner.failures == []
        with db.session() as s:
            assert routing.get_decision(s, s.get(type(petition), petition.id)) is not None
    finally:
        tasks._runner = original
        runner.shutdown()


@pytest.mark.parametrize("contact_type", ["report", "praise"])
def test_reports_and_praise_wait_for_a_person_with_the_reason(db, fresh_index, contact_type):
    with db.transaction() as s:
        petition, _ = register(s, area_code="430104", category="城乡建设")
        petition.contact_type = contact_type
        s.flush()
        decision = routing.do_route(s, petition_id=petition.id)
        assert decision.suggestions[0]["unit"] == "YL-GOV"  # what would fit is still said
        assert not decision.auto_assigned and decision.needs_triage and petition.lead_unit_id is None
        assert decision.suggestions[0]["reasons"][-1]["kind"] == "contact_type"
        petition2, _ = register(s, area_code="430104", category="城乡建设")
        petition2.contact_type = "complaint"
        s.flush()
        assert routing.do_route(s, petition_id=petition2.id).auto_assigned
