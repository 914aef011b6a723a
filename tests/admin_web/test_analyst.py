"""The analyst desk: filters, category corrections, charts, the CSV export, roles and escaping."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from admin_web import charts
from admin_web.pages.analyst import safe_cell
from cases import catalog, service
from cases.enums import Action
from cases.schemas import TransitionIn
from core.db import utcnow
from risk.models import PetitionRisk
from routing.models import CategoryCorrection, RoutingDecision
from tests.cases.helpers import register
from tests.conftest import ADMIN

SH = ZoneInfo("Asia/Shanghai")
PHONE, NAME = "13812341234", "王小明"


def rows_of(html: str) -> list[str]:
    """Return the tracking numbers listed in the intake table, in order."""
    return re.findall(r'data-testid="stream-row" data-tracking="([^"]+)"', html)


@pytest.fixture
def intake(db):
    """Five petitions across channels, categories, statuses, dates, units and risk levels."""
    with db.transaction() as s:
        a, _ = register(s, now=datetime(2026, 3, 2, 10, tzinfo=SH), channel="wechat", category="城乡建设",
                        title="小区物业乱收费")
        b, _ = register(s, now=datetime(2026, 3, 10, 10, tzinfo=SH), channel="sms", category="劳动和社会保障",
                        title="公司拖欠工资三个月")
        c, _ = register(s, now=datetime(2026, 3, 20, 23, 30, tzinfo=SH), channel="wechat", category="环境保护",
                        title="工地夜间施工噪音")
        d, _ = register(s, now=datetime(2026, 4, 5, 9, tzinfo=SH), channel="phone",
                        category="城乡建设/物业管理/物业收费", title="物业费上涨")
        e, _ = register(s, now=datetime(2026, 4, 6, 9, tzinfo=SH), channel="webchat", category=None,
                        title="=HYPERLINK(\"http://evil.example\",\"点我\")", petitioner={"name": "李四", "phone": "13900001111"})
        for action in (Action.ACCEPT, Action.ASSIGN):
            service.do_transition(s, tracking_no=b.tracking_no, actor=ADMIN, change=TransitionIn(action=action, unit="CS-HRSS"),
                                  now=datetime(2026, 3, 11, 9, tzinfo=SH))
        s.add(PetitionRisk(petition_id=a.id, score=0.9, level="red", reasons=[], hits=[]))
        s.add(PetitionRisk(petition_id=c.id, score=0.3, level="blue", reasons=[], hits=[]))
        s.add(RoutingDecision(petition_id=c.id, category="环境保护/噪声污染", category_confidence=0.87, suggestions=[]))
        nos = {k: p.tracking_no for k, p in dict(a=a, b=b, c=c, d=d, e=e).items()}
    return nos


def test_filters_select_the_right_rows(db, as_role, intake):
    n = intake
    client = as_role("analyst")
    everything = client.get("/console/analyst")
    assert everything.status_code == 200, everything.text
    assert rows_of(everything.text) == [n["e"], n["d"], n["c"], n["b"], n["a"]]  # newest first
    cases = {
        "channel=wechat": {n["a"], n["c"]},
        "category=城乡建设": {n["a"], n["d"]},  # a first-level category includes its sub-categories
        "category=": set(n.values()),
        "status=assigned": {n["b"]},
        "from=2026-03-10&to=2026-03-20": {n["b"], n["c"]},  # both ends inclusive, local days
        "to=2026-03-09": {n["a"]},
        "unit=CS-HRSS": {n["b"]},
        "area=430104": set(n.values()),
        "area=430111": set(),
        "risk=red": {n["a"]},
        "risk=none": {n["b"], n["d"], n["e"]},
        "channel=wechat&risk=blue": {n["c"]},
    }
    for query, expected in cases.items():
        r = client.get(f"/console/analyst?{query}")
        assert r.status_code == 200, (query, r.text)
        assert set(rows_of(r.text)) == expected, query
        assert f'data-testid="total">共 {len(expected)} 件' in r.text, query
    for bad in ("channel=pigeon", "status=lost", "category=不存在", "unit=NOPE", "risk=purple", "from=2026-13-01",
                "from=2026-03-10&to=2026-03-01"):
        assert client.get(f"/console/analyst?{bad}").status_code == 422, bad


def test_row_shows_classification_and_risk_without_petitioner_data(db, as_role, intake):
    page = as_role("analyst").get("/console/analyst").text
    row = page[page.index(f'data-tracking="{intake["c"]}"'):]
    row = row[:row.index("</tr>")]
    assert "环境保护" in row and "环境保护/噪声污染" in row and "87%" in row
    assert 'class="badge level-blue"' in row and "岳麓区" in row
    red = page[page.index(f'data-tracking="{intake["a"]}"'):]
    assert 'class="badge level-red"' in red[:red.index("</tr>")]
    assert f'href="/console/cases/{intake["a"]}"' in page
    for secret in (PHONE, NAME, "13900001111", "李四", "138****", "王*", "李*"):
        assert secret not in page


def test_charts_are_inline_svg_with_titles_and_tables(db, as_role, intake):
    r = as_role("supervisor").get("/console/analyst?from=2026-03-01&to=2026-04-10")
    html = r.text
    assert html.count("<svg ") == 3 and 'role="img"' in html
    for chart in ("chart-day", "chart-category", "chart-channel"):
        assert f'<svg xmlns="http://www.w3.org/2000/svg" id="{chart}"' in html
        assert f'<title id="{chart}-title">' in html
    channel = html[html.index('data-testid="chart-channel"'):]
    channel = channel[:channel.index("</section>")]
    assert "<td>微信公众号</td><td>2</td>" in channel and "<td>短信</td><td>1</td>" in channel
    category = html[html.index('data-testid="chart-category"'):]
    category = category[:category.index("</section>")]
    assert "<td>城乡建设</td><td>2</td>" in category and "<td>未分类</td><td>1</td>" in category
    day = html[html.index('data-testid="chart-day"'):]
    day = day[:day.index("</section>")]
    # 41 days, one bar each; 23:30 on 20 March (Shanghai) counts on 20 March.
    assert day.count('<rect class="bar"') == 41 and "<td>03-20</td><td>1</td>" in day and "<td>03-21</td><td>0</td>" in day
    assert "<title>03-20: 1</title>" in day


def test_chart_functions_escape_and_handle_empty_data():
    svg = charts.bar_chart("c1", "<t>", [("<script>", 3), ("b", 1)])
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&lt;t&gt;" in svg
    assert svg.count('<rect class="bar"') == 2
    empty = charts.column_chart("c2", "x", [("01-01", 0)], empty="无数据")
    assert "无数据" in empty and "<rect" not in empty
    long = charts.column_chart("c3", "x", [(f"{i:02d}", i) for i in range(60)])
    assert long.count('<rect class="bar"') == 60 and long.count('text-anchor="middle">') <= 12


def test_category_correction_is_stored_and_keeps_the_filters(db, as_role, intake):
    client = as_role("analyst")
    with db.session() as s:
        env = catalog.resolve_category(s, "环境保护").code
    back = "channel=wechat&from=2026-03-01&evil=https://x.example"
    r = client.post(f"/console/analyst/{intake['a']}/category", {"category": env, "reason": "实为噪声", "back": back})
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    assert location.startswith("/console/analyst?") and "channel=wechat" in location and "from=2026-03-01" in location
    assert "evil" not in location and "done=recat" in location
    assert "分类已更正" in client.get(location).text
    with db.session() as s:
        fix = s.scalars(select(CategoryCorrection)).one()
        assert (fix.from_category, fix.to_category, fix.actor, fix.reason) == ("城乡建设", "环境保护", "analyst1", "实为噪声")
        assert service.get_by_tracking_no(s, intake["a"]).category.name == "环境保护"
    # A typed path wins over the select and may name a third-level category.
    r = client.post(f"/console/analyst/{intake['e']}/category", {"category": env, "path": "城乡建设/物业管理/物业收费"})
    assert r.status_code == 303
    with db.session() as s:
        assert service.get_by_tracking_no(s, intake["e"]).category.name == "物业收费"
        assert s.scalars(select(CategoryCorrection).order_by(CategoryCorrection.id)).all()[-1].from_category is None
    # An unknown category changes nothing and says so.
    bad = client.post(f"/console/analyst/{intake['b']}/category", {"path": "不存在/的分类", "back": "channel=sms"})
    assert bad.status_code == 422 and 'class="flash error"' in bad.text and rows_of(bad.text) == [intake["b"]]
    assert client.post("/console/analyst/XF-20000101-000001/category", {"category": env}).status_code == 404
    with db.session() as s:
        assert len(s.scalars(select(CategoryCorrection)).all()) == 2


def read_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf"), "no UTF-8 byte order mark"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_csv_export_matches_filters_without_pii_and_neutralises_formulas(db, as_role, intake):
    client = as_role("analyst")
    r = client.get("/console/analyst/export.csv?channel=wechat")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv") and "attachment" in r.headers["content-disposition"]
    table = read_csv(r.content)
    assert table[0] == ["tracking_no", "received_at", "channel", "category", "area_code", "lead_unit", "status",
                        "risk_level", "title"]
    assert [row[0] for row in table[1:]] == [intake["c"], intake["a"]]
    c = dict(zip(table[0], table[1], strict=True))
    assert c == {"tracking_no": intake["c"], "received_at": "2026-03-20 23:30:00", "channel": "wechat",
                 "category": "环境保护", "area_code": "430104", "lead_unit": "", "status": "registered",
                 "risk_level": "blue", "title": "工地夜间施工噪音"}
    everything = client.get("/console/analyst/export.csv")
    rows = read_csv(everything.content)
    assert len(rows) == 6
    by_no = {row[0]: row for row in rows[1:]}
    assert by_no[intake["e"]][8] == "'=HYPERLINK(\"http://evil.example\",\"点我\")"
    assert by_no[intake["d"]][3] == "城乡建设 / 物业管理 / 物业收费" and by_no[intake["b"]][5] == "CS-HRSS"
    text = everything.content.decode("utf-8-sig")
    for secret in (PHONE, NAME, "13900001111", "李四"):
        assert secret not in text
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    assert client.get("/console/analyst/export.csv?risk=none&status=assigned").content.decode("utf-8-sig").count("\n") == 2
    assert client.get("/console/analyst/export.csv?channel=pigeon").status_code == 422


def test_safe_cell():
    assert [safe_cell(v) for v in ("=1+1", "+86", "-2", "@SUM(A1)", "\tx", "ok", None, 5)] == \
        ["'=1+1", "'+86", "'-2", "'@SUM(A1)", "'\tx", "ok", "", "5"]


def test_paging_keeps_the_filters(db, as_role):
    with db.transaction() as s:
        start = utcnow() - timedelta(days=2)
        for i in range(55):
            register(s, now=start + timedelta(minutes=i), channel="sms", title=f"短信来件{i}")
        register(s, now=start, channel="phone")
    client = as_role("analyst")
    first = client.get("/console/analyst?channel=sms")
    assert len(rows_of(first.text)) == 50 and 'href="/console/analyst?channel=sms&amp;page=2"' in first.text
    second = client.get("/console/analyst?channel=sms&page=2")
    assert len(rows_of(second.text)) == 5 and "短信来件0" in second.text
    # Without dates the volume chart covers the last 30 days, with the same filters as the table.
    day = first.text[first.text.index('data-testid="chart-day"'):]
    counts = [int(n) for n in re.findall(r"<tr><td>\d\d-\d\d</td><td>(\d+)</td></tr>", day[:day.index("</section>")])]
    assert len(counts) == 30 and sum(counts) == 55


@pytest.mark.parametrize("role", ["handler", "agent", "triage"])
def test_other_roles_may_not_use_the_analyst_desk(db, as_role, intake, role):
    client = as_role(role)
    assert client.get("/console/analyst").status_code == 403
    assert client.get("/console/analyst/export.csv").status_code == 403
    assert client.post(f"/console/analyst/{intake['a']}/category", {"category": "环境保护"}).status_code == 403
    with db.session() as s:
        assert s.scalars(select(CategoryCorrection)).first() is None


def test_citizen_html_in_titles_is_escaped(db, as_role):
    with db.transaction() as s:
        register(s, title='<img src=x onerror="alert(1)">噪音')
    page = as_role("analyst").get("/console/analyst").text
    assert "<img src=x" not in page and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;噪音" in page
