"""The triage desk: the queue with the router's suggestions, and assign / merge / forward / not accept, on both databases."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from admin_web.pages import triage
from admin_web.web import LANG_COOKIE
from cases import catalog
from cases import service as cases
from cases.enums import Action, Status
from cases.models import Assignment, AuditEvent, Petition
from cases.schemas import TransitionIn
from core.accounts import Actor, Role
from core.settings import configure as configure_settings
from routing import service as routing
from routing.models import RoutingDecision, SimilarLink
from tests.cases.helpers import register
from tests.conftest import ADMIN

QUEUE = "/console/triage"

YL_REASONS = [
    {"kind": "category", "text_zh": "职责清单包含「城乡建设」（分类置信度0.82）",
     "text_en": "Duty list covers 城乡建设 (category confidence 0.82)", "weight": 0.369},
    {"kind": "area", "text_zh": "管辖范围包含岳麓区", "text_en": "Jurisdiction covers 岳麓区", "weight": 0.25},
]
SUGGESTIONS = [
    {"unit": "YL-GOV", "name": "岳麓区人民政府", "name_en": "Yuelu District Government", "score": 0.62, "reasons": YL_REASONS},
    {"unit": "YH-ZJJ", "name": "雨花区住房和城乡建设局", "name_en": None, "score": 0.37,
     "reasons": [{"kind": "category", "text_zh": "职责清单包含「城乡建设」", "text_en": "Duty list covers 城乡建设",
                  "weight": 0.37}]},
    {"unit": "CS-HRSS", "name": "长沙市人力资源和社会保障局", "name_en": None, "score": 0.1,
     "reasons": [{"kind": "rule", "text_zh": "规则「物业专班」：物业", "text_en": "Rule \"物业专班\": 物业", "weight": 0.1}]},
]


@pytest.fixture
def fresh_index(settings, tmp_path):
    """Route with a new, empty similar-case index for this test."""
    local = settings.model_copy(update={"index_dir": str(tmp_path / "index")})
    configure_settings(local)
    routing.INDEX.reset()
    yield local
    configure_settings(settings)
    routing.INDEX.reset()


def waiting(s, **overrides) -> Petition:
    """Register a petition the router was unsure of: a decision with suggestions, no unit, needs triage."""
    petition, _ = register(s, category=None, **overrides)
    s.add(RoutingDecision(petition_id=petition.id, category="城乡建设/物业管理", category_confidence=0.82,
                          category_source="model", category_top3=[["城乡建设/物业管理", 0.82], ["民政/社区治理", 0.1]],
                          suggestions=SUGGESTIONS, auto_assigned=False, needs_triage=True))
    s.flush()
    return petition


def item_html(page: str, no: str) -> str:
    """Return the HTML of one queue item."""
    match = re.search(rf'<article[^>]*id="item-{re.escape(no)}".*?</article>', page, re.S)
    assert match, f"{no} is not in the queue"
    return match.group(0)


def status_of(db, no: str) -> Petition:
    with db.session() as s:
        return cases.get_by_tracking_no(s, no)


def test_queue_lists_petitions_with_suggestions_reasons_and_links(db, as_role):
    with db.transaction() as s:
        first = waiting(s, title="小区物业乱收费", channel="phone")
        again = waiting(s, title="物业又多收停车费", channel="wechat", petitioner={"name": "王小明", "phone": "13812341234"})
        s.add(SimilarLink(petition_id=again.id, similar_id=first.id, score=0.91, kind="repeat", rank=0))
        # Not waiting: the router dispatched it, and another one is already in a unit's hands.
        dispatched, _ = register(s)
        s.add(RoutingDecision(petition_id=dispatched.id, suggestions=SUGGESTIONS, auto_assigned=True, needs_triage=False))
        dispatched.lead_unit_id = catalog.get_unit_by_code(s, "YL-GOV").id
        handled = waiting(s)
        cases.do_transition(s, tracking_no=handled.tracking_no, change=TransitionIn(action=Action.ACCEPT), actor=ADMIN)
        cases.do_transition(s, tracking_no=handled.tracking_no, change=TransitionIn(action=Action.ASSIGN, unit="CS-HRSS"),
                            actor=ADMIN)
    c = as_role("triage")
    r = c.get(QUEUE)
    assert r.status_code == 200, r.text
    assert "共 2 件待分办" in r.text
    assert dispatched.tracking_no not in r.text and handled.tracking_no not in r.text
    one = item_html(r.text, first.tracking_no)
    assert f'href="/console/cases/{first.tracking_no}"' in one
    assert "小区物业乱收费" in one and "电话" in one and "岳麓区" in one
    assert "城乡建设/物业管理" in one and "82%" in one and "民政/社区治理" in one
    # The top three suggestions with their scores and reasons, best first.
    assert one.index("岳麓区人民政府") < one.index("雨花区住房和城乡建设局") < one.index("长沙市人力资源和社会保障局")
    assert "0.62" in one and "0.37" in one
    assert "职责清单包含「城乡建设」（分类置信度0.82）" in one and "管辖范围包含岳麓区" in one and "规则「物业专班」" in one
    # The best suggestion is pre-selected as the lead unit; only a registered one offers forward and not accept.
    assert re.search(r'<select id="lead-[^"]+" name="unit"[^>]*>.*?<option value="YL-GOV" selected>', one, re.S)
    assert "受理并交办" in one and 'action="/console/triage/' + first.tracking_no + '/forward"' in one
    two = item_html(r.text, again.tracking_no)
    assert "重复信访" in two and f'href="/console/cases/{first.tracking_no}"' in two and "0.91" in two
    assert f'<option value="{first.tracking_no}">' in two  # offered as the merge target
    # In English the reasons come in English.
    c.client.cookies.set(LANG_COOKIE, "en", path="/console")
    r = c.get(QUEUE)
    one = item_html(r.text, first.tracking_no)
    assert "2 waiting" in r.text and "Duty list covers 城乡建设 (category confidence 0.82)" in one
    assert "Yuelu District Government" in one and "管辖范围包含岳麓区" not in one


def test_route_again_runs_the_router_and_shows_its_decision(db, as_role, fresh_index):
    with db.transaction() as s:
        petition, _ = register(s, category=None, area_code="430104", title="有个事情想问问", content="我想了解一下相关的情况，谢谢。")
    c = as_role("triage")
    page = item_html(c.get(QUEUE).text, petition.tracking_no)
    assert "尚未经过系统分析" in page
    r = c.post(f"/console/triage/{petition.tracking_no}/route")
    assert r.status_code == 303 and f"no={petition.tracking_no}" in r.headers["location"]
    with db.session() as s:
        decision = routing.get_decision(s, cases.get_by_tracking_no(s, petition.tracking_no))
        assert decision is not None and decision.needs_triage
    page = c.get(r.headers["location"]).text
    assert f"{petition.tracking_no} 已重新分析" in page
    assert "尚未经过系统分析" not in item_html(page, petition.tracking_no)


def test_assign_accepts_then_puts_it_in_the_lead_units_hands(db, as_role):
    with db.transaction() as s:
        petition = waiting(s)
        other = waiting(s, title="另一件")
    no = petition.tracking_no
    c = as_role("triage")
    r = c.post(f"/console/triage/{no}/assign", {"unit": "YL-GOV", "assisting": ["CS-HRSS", "YH-ZJJ"],
                                               "reason": "请会同人社局办理", "back": "channel=walk_in"})
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith(f"{QUEUE}?channel=walk_in&done=assign&no={no}")
    with db.session() as s:
        p = cases.get_by_tracking_no(s, no)
        assert p.status == Status.ASSIGNED and p.lead_unit.code == "YL-GOV" and p.accepted_at is not None
        rows = s.execute(select(Assignment).where(Assignment.petition_id == p.id, Assignment.active.is_(True))).scalars()
        assert sorted((a.unit.code, a.role) for a in rows) == [("CS-HRSS", "assist"), ("YH-ZJJ", "assist"), ("YL-GOV", "lead")]
        actions = [e.action for e in s.scalars(select(AuditEvent).where(AuditEvent.petition_id == p.id).order_by(AuditEvent.seq))]
        assert actions[-2:] == ["accept", "assign"]
        assert s.scalar(select(AuditEvent.actor).where(AuditEvent.petition_id == p.id, AuditEvent.action == "assign")) == "triage1"
    page = c.get(r.headers["location"]).text
    assert f"{no} 已交办给 岳麓区人民政府" in page
    assert f'id="item-{no}"' not in page and "共 1 件待分办" in page and other.tracking_no in page
    # A unit that does not exist is refused with the queue and a message; nothing changes.
    r = c.post(f"/console/triage/{other.tracking_no}/assign", {"unit": "NOPE"})
    assert r.status_code == 422 and "NOPE" in item_html(r.text, other.tracking_no)
    r = c.post(f"/console/triage/{other.tracking_no}/assign", {"unit": ""})
    assert r.status_code == 422 and "请选择主办单位" in r.text
    assert status_of(db, other.tracking_no).status == Status.REGISTERED
    assert c.post("/console/triage/XF-20200101-999999/assign", {"unit": "YL-GOV"}).status_code == 404


def test_merge_marks_it_merged_into_the_target(db, as_role):
    with db.transaction() as s:
        target = waiting(s)
        duplicate = waiting(s, title="同一件事再反映")
        s.add(SimilarLink(petition_id=duplicate.id, similar_id=target.id, score=0.95, kind="group", rank=0))
    c = as_role("triage")
    url = f"/console/triage/{duplicate.tracking_no}/merge"
    r = c.post(url, {"target": target.tracking_no, "reason": "  "})
    assert r.status_code == 422 and "请填写合并理由" in item_html(r.text, duplicate.tracking_no)
    r = c.post(url, {"target": "XF-1", "reason": "重复"})
    assert r.status_code == 422 and "编号格式不对" in r.text
    r = c.post(url, {"target": duplicate.tracking_no, "reason": "重复"})
    assert r.status_code == 422 and "不能合并到自身" in r.text
    r = c.post(url, {"target": "XF-20200101-999999", "reason": "重复"})
    assert r.status_code == 422 and "没有信访件 XF-20200101-999999" in r.text
    assert status_of(db, duplicate.tracking_no).status == Status.REGISTERED
    r = c.post(url, {"target": target.tracking_no.lower(), "reason": "同一事项重复反映"})
    assert r.status_code == 303
    with db.session() as s:
        p = cases.get_by_tracking_no(s, duplicate.tracking_no)
        assert p.status == Status.MERGED and p.merged_into_id == target.id
    page = c.get(r.headers["location"]).text
    assert f"{duplicate.tracking_no} 已合并到 {target.tracking_no}" in page
    assert f'id="item-{duplicate.tracking_no}"' not in page and f'id="item-{target.tracking_no}"' in page


def test_forward_and_not_accept_need_a_reason(db, as_role):
    with db.transaction() as s:
        first = waiting(s)
        second = waiting(s)
    c = as_role("supervisor")
    r = c.post(f"/console/triage/{first.tracking_no}/forward", {"to": "湖南省市场监督管理局", "reason": ""})
    assert r.status_code == 422 and "请填写转送理由" in item_html(r.text, first.tracking_no)
    assert 'value="湖南省市场监督管理局"' in item_html(r.text, first.tracking_no)  # what was typed is kept
    r = c.post(f"/console/triage/{first.tracking_no}/forward", {"to": "", "reason": "不属本市管辖"})
    assert r.status_code == 422 and "请填写转送的机关" in r.text
    r = c.post(f"/console/triage/{second.tracking_no}/not-accept", {"reason": " "})
    assert r.status_code == 422 and "请填写不予受理理由" in item_html(r.text, second.tracking_no)
    assert status_of(db, first.tracking_no).status == Status.REGISTERED
    assert status_of(db, second.tracking_no).status == Status.REGISTERED
    r = c.post(f"/console/triage/{first.tracking_no}/forward", {"to": "湖南省市场监督管理局", "reason": "不属本市管辖"})
    assert r.status_code == 303
    p = status_of(db, first.tracking_no)
    assert p.status == Status.FORWARDED and p.forwarded_to == "湖南省市场监督管理局"
    r = c.post(f"/console/triage/{second.tracking_no}/not-accept", {"reason": "已通过诉讼途径解决"})
    assert r.status_code == 303 and "done=not_accept" in r.headers["location"]
    assert status_of(db, second.tracking_no).status == Status.NOT_ACCEPTED
    page = c.get(r.headers["location"]).text
    assert f"{second.tracking_no} 已不予受理" in page and "没有待分办的信访件" in page


def test_objected_petition_comes_back_with_the_reason(db, as_role):
    with db.transaction() as s:
        petition = waiting(s)
        plain = waiting(s, channel="phone")
        for change in (TransitionIn(action=Action.ACCEPT), TransitionIn(action=Action.ASSIGN, unit="YL-GOV")):
            cases.do_transition(s, tracking_no=petition.tracking_no, change=change, actor=ADMIN)
        yuelu = Actor("yuelu1", Role.HANDLER, catalog.get_unit_by_code(s, "YL-GOV").id)
        cases.do_transition(s, tracking_no=petition.tracking_no, actor=yuelu,
                            change=TransitionIn(action=Action.OBJECT, reason="停车收费属住建部门职责，不属本单位"))
    no = petition.tracking_no
    c = as_role("triage")
    one = item_html(c.get(QUEUE).text, no)
    assert "主办单位提出异议" in one and "停车收费属住建部门职责，不属本单位" in one and "YL-GOV" in one
    # The unit that objected is not pre-selected again; the next suggestion is. No forward or not accept after acceptance.
    assert '<option value="YH-ZJJ" selected>' in one and '<option value="YL-GOV" selected>' not in one
    assert f"/console/triage/{no}/forward" not in one and "受理并交办" not in one
    objected = c.get(QUEUE + "?objected=1").text
    assert f'id="item-{no}"' in objected and f'id="item-{plain.tracking_no}"' not in objected
    assert "符合条件 1 件，共 2 件待分办" in objected
    # Forwarding is only for registered petitions: refused, unchanged.
    r = c.post(f"/console/triage/{no}/forward", {"to": "省厅", "reason": "不属本市", "back": "objected=1"})
    assert r.status_code == 409 and 'name="objected" value="1" checked' in r.text
    r = c.post(f"/console/triage/{no}/assign", {"unit": "YH-ZJJ", "back": "objected=1"})
    assert r.status_code == 303 and r.headers["location"].startswith(f"{QUEUE}?objected=1&done=assign")
    with db.session() as s:
        p = cases.get_by_tracking_no(s, no)
        assert p.status == Status.ASSIGNED and p.lead_unit.code == "YH-ZJJ"


@pytest.mark.parametrize("role", ["handler", "analyst", "agent"])
def test_other_roles_are_refused(db, as_role, role):
    with db.transaction() as s:
        petition = waiting(s)
    no = petition.tracking_no
    c = as_role(role)
    assert c.get(QUEUE).status_code == 403
    posts = {"assign": {"unit": "CS-HRSS"}, "merge": {"target": no, "reason": "x"}, "forward": {"to": "x", "reason": "x"},
             "not-accept": {"reason": "x"}, "route": {}}
    for action, data in posts.items():
        r = c.post(f"/console/triage/{no}/{action}", data)
        assert r.status_code == 403, (action, r.status_code)
    assert status_of(db, no).status == Status.REGISTERED


def test_post_without_csrf_is_refused(db, as_role):
    with db.transaction() as s:
        petition = waiting(s)
    c = as_role("triage")
    r = c.client.post(f"/console/triage/{petition.tracking_no}/not-accept", data={"reason": "重复"})
    assert r.status_code == 403
    r = c.client.post(f"/console/triage/{petition.tracking_no}/assign", data={"unit": "YL-GOV", "csrf": "forged"})
    assert r.status_code == 403
    p = status_of(db, petition.tracking_no)
    assert p.status == Status.REGISTERED and p.lead_unit_id is None


def test_filters_by_channel_and_area(db, as_role):
    with db.transaction() as s:
        yuelu = waiting(s, channel="phone", area_code="430104")
        yuhua = waiting(s, channel="sms", area_code="430111")
    c = as_role("admin")
    page = c.get(QUEUE + "?channel=sms").text
    assert f'id="item-{yuhua.tracking_no}"' in page and f'id="item-{yuelu.tracking_no}"' not in page
    assert "符合条件 1 件，共 2 件待分办" in page
    page = c.get(QUEUE + "?area=430104").text
    assert f'id="item-{yuelu.tracking_no}"' in page and f'id="item-{yuhua.tracking_no}"' not in page
    page = c.get(QUEUE + "?area=430100").text  # the city: all of its districts
    assert f'id="item-{yuelu.tracking_no}"' in page and f'id="item-{yuhua.tracking_no}"' in page
    page = c.get(QUEUE + "?channel=phone&area=430111").text
    assert "没有待分办的信访件" in page and "符合条件 0 件" in page
    # Nonsense filters are ignored rather than echoed.
    page = c.get(QUEUE + "?channel=<b>x</b>&area=abc").text
    assert "<b>x</b>" not in page and "共 2 件待分办" in page


def test_citizen_html_is_escaped(db, as_role):
    with db.transaction() as s:
        petition = waiting(s, title="<script>alert(1)</script>物业", content="<img src=x onerror=alert(2)>多收费")
        s.add(SimilarLink(petition_id=petition.id, similar_id=waiting(s, title="<b>粗</b>").id, score=0.5, kind="similar"))
    page = as_role("triage").get(QUEUE).text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;物业" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(2)&gt;多收费" in page
    assert "<b>粗</b>" not in page and "&lt;b&gt;粗&lt;/b&gt;" in page


def test_the_queue_is_paged_oldest_first_and_actions_come_back_to_their_page(db, as_role):
    page_size = triage.PAGE_SIZE
    with db.transaction() as s:
        numbers = [waiting(s, channel="sms" if i % 2 else "phone").tracking_no for i in range(page_size + 7)]
    c = as_role("triage")

    def shown(html: str) -> list[str]:
        return re.findall(r'<article[^>]*data-tracking-no="([^"]+)"', html)

    first = c.get(QUEUE).text
    assert shown(first) == numbers[:page_size]
    assert f"共 {page_size + 7} 件待分办" in first and "第 1 / 2 页" in first
    assert 'href="/console/triage?page=2#queue" rel="next"' in first and 'rel="prev"' not in first
    second = c.get(QUEUE + "?page=2").text
    assert shown(second) == numbers[page_size:] and 'href="/console/triage#queue"' not in second
    assert 'rel="next"' not in second and f"第 {page_size + 1}–{page_size + 7} 件" in second
    # Past the end shows the last page; nonsense shows the first.
    assert shown(c.get(QUEUE + "?page=99").text) == numbers[page_size:]
    assert shown(c.get(QUEUE + "?page=-1").text) == numbers[:page_size]
    # Filters are applied before paging: every SMS petition fits one page, and the pager keeps the filter.
    sms = c.get(QUEUE + "?channel=sms").text
    assert shown(sms) == numbers[1::2] and f"符合条件 {len(numbers[1::2])} 件，共 {page_size + 7} 件待分办" in sms
    assert "triage-pager-top" not in sms
    phone = c.get(QUEUE + "?channel=phone&page=2").text
    assert phone.count('data-testid="triage-pager-top"') == 0 and shown(phone) == numbers[0::2]
    # An action taken on page 2 brings the desk back to page 2 with the filters.
    no = numbers[-1]
    assert 'name="back" value="page=2"' in item_html(second, no)
    r = c.post(f"/console/triage/{no}/assign", {"unit": "YL-GOV", "back": "page=2"})
    assert r.status_code == 303 and r.headers["location"].startswith(f"{QUEUE}?page=2&done=assign")
    after = c.get(r.headers["location"]).text
    assert shown(after) == numbers[page_size:-1] and f"共 {page_size + 6} 件待分办" in after
