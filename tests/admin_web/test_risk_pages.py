"""The risk desk in the console: dashboard, map with drill-down, alerts acknowledged and resolved, key persons."""

from __future__ import annotations

import re

from risk import service
from risk.tasks import assess_petition
from tests.cases.helpers import register


def _red_and_group(db):
    with db.transaction() as s:
        service.seed_lexicon(s)
        red, _ = register(s, title="再不发工资我就<b>跳楼</b>", content="老板跑路三个月", area_code="430104",
                          petitioner={"name": "张三", "phone": "13911112222"})
        ids = [red.id]
    assess_petition(petition_id=ids[0])
    for k in range(3):
        with db.transaction() as s:
            p, _ = register(s, title="星城花园开发商延期交房", content="开发商承诺去年交房至今未交，业主住不进去",
                            area_code="430111", petitioner={"name": f"业主{k}", "phone": f"1370000000{k}"})
            ids.append(p.id)
        assess_petition(petition_id=p.id)
    return ids


def test_dashboard_map_and_drill_down(as_role, db):
    _red_and_group(db)
    supervisor = as_role("supervisor")
    page = supervisor.get("/console/risk")
    assert page.status_code == 200
    assert re.search(r'data-testid="open-red"[^>]*>\s*红色 1', page.text)
    assert re.search(r'data-testid="open-yellow"[^>]*>\s*黄色 1', page.text)
    assert page.text.count("<path") == 9 and 'href="/console/risk/area/430104"' in page.text
    area = supervisor.get("/console/risk/area/430104")
    assert area.status_code == 200 and "红色" in area.text
    assert "再不发工资我就&lt;b&gt;跳楼&lt;/b&gt;" in area.text and "<b>跳楼" not in area.text
    assert supervisor.get("/console/risk/map?days=7").status_code == 200
    # The weekly forecast is drawn, and the two near-identical group petitions make a hot topic.
    assert 'data-testid="forecast-line"' in page.text
    assert 'data-testid="topic"' in page.text and "开发商" in page.text


def test_dashboard_statistics_are_reused_for_their_max_age_and_say_when_they_were_computed(as_role, db, settings,
                                                                                           monkeypatch):
    from admin_web import risk_stats

    risk_stats._CACHE.clear()
    monkeypatch.setattr(settings, "risk_statistics_max_age_s", 300)
    _red_and_group(db)
    supervisor = as_role("supervisor")
    first = supervisor.get("/console/risk").text
    as_of = re.search(r'data-testid="statistics-as-of">([^<]*)<', first).group(1)
    assert "开发商" in first and "公交" not in first
    with db.transaction() as s:
        for k in range(3):
            register(s, title="公交站台被拆除候车无处遮雨", content="公交站台被拆除，市民候车无处遮雨，请尽快恢复",
                     area_code="430104", petitioner={"name": f"乘客{k}", "phone": f"1360000000{k}"})
    # New petitions arrived, but the statistics are younger than their max age: the page shows them as they were.
    again = supervisor.get("/console/risk").text
    assert "公交" not in again and f'data-testid="statistics-as-of">{as_of}<' in again
    monkeypatch.setattr(settings, "risk_statistics_max_age_s", 0)
    fresh = supervisor.get("/console/risk").text
    assert re.search(r'data-testid="topic">[^<]*公交', fresh)


def test_alerts_ack_and_resolve_with_evidence(as_role, db):
    ids = _red_and_group(db)
    supervisor = as_role("supervisor")
    page = supervisor.get("/console/risk/alerts").text
    alert_ids = re.findall(r'data-alert-id="(\d+)" data-kind="collective"', page)
    assert len(alert_ids) == 1 and page.count('data-testid="evidence"') == 4
    analyst = as_role("analyst")
    assert analyst.get("/console/risk/alerts").status_code == 200
    assert analyst.post(f"/console/risk/alerts/{alert_ids[0]}/ack").status_code == 403
    assert supervisor.post(f"/console/risk/alerts/{alert_ids[0]}/resolve", {"note": ""}).status_code == 422
    r = supervisor.post(f"/console/risk/alerts/{alert_ids[0]}/ack")
    assert r.status_code == 303
    r = supervisor.post(f"/console/risk/alerts/{alert_ids[0]}/resolve", {"note": "已约谈开发商，承诺月底交房"})
    assert r.status_code == 303
    done = supervisor.get("/console/risk/alerts?status=resolved").text
    assert "已约谈开发商，承诺月底交房" in done and alert_ids[0] in done
    assert supervisor.post("/console/risk/alerts/999999/ack").status_code == 404
    assert len(ids) == 4


def test_key_persons_masked_nowhere_but_shown_to_supervisors(as_role, db):
    with db.transaction() as s:
        for channel in ("sms", "phone", "webchat"):
            register(s, channel=channel, petitioner={"name": "老李", "phone": "13600000001"})
    page = as_role("supervisor").get("/console/risk/persons").text
    assert "老李" in page and "13600000001" in page and page.count('data-testid="person"') == 1
    assert as_role("analyst").get("/console/risk/persons").status_code == 403
    assert as_role("handler").get("/console/risk").status_code == 403
