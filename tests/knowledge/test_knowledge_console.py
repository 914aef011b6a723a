"""The knowledge base in the console: admins curate and promote, handlers see suggestions, staff correct and filter
contact types (SQLite and PostgreSQL)."""

from __future__ import annotations

import re

from sqlalchemy import select

from cases import service
from cases.enums import Action
from cases.schemas import TransitionIn
from knowledge import service as kb
from knowledge.models import KnowledgeEntry
from tests.admin_web import test_cases_page as case_pages
from tests.conftest import ADMIN

FORM = {"question": "异地如何缴纳城乡居民基本养老保险", "answer": "可通过“湘税社保”微信小程序或户籍所在地社区服务中心缴纳。",
        "category": "劳动和社会保障", "unit": "CS-HRSS", "source": "《长沙市城乡居民基本养老保险实施办法》",
        "issued_on": "2025-03-01", "valid_from": "", "valid_until": "", "language": "zh", "status": "published"}
WAGES_ANSWER = "经核查，用人单位拖欠工资的，可向劳动保障监察大队投诉，我局将责令限期支付。"


def _entry_id(location: str) -> int:
    match = re.search(r"/console/knowledge/(\d+)\?done=", location)
    assert match, location
    return int(match.group(1))


def test_admin_adds_edits_tries_retires_and_publishes_an_entry(db, as_role):
    admin = as_role("admin")
    assert "知识库" in admin.get("/console/knowledge").text
    r = admin.post("/console/knowledge/new", FORM)
    assert r.status_code == 303
    entry_id = _entry_id(r.headers["location"])
    page = admin.get(f"/console/knowledge/{entry_id}")
    assert page.status_code == 200 and "湘税社保" in page.text
    assert "来源：《长沙市城乡居民基本养老保险实施办法》 · 长沙市人力资源和社会保障局 · 2025年3月1日" in page.text
    # What a citizen asking this would get.
    tried = admin.get("/console/knowledge", params={"ask": "请问在外地怎么缴纳城乡居民养老保险？"}).text
    assert re.search(rf'data-testid="tried">\s*<li><a href="/console/knowledge/{entry_id}">', tried)
    bad = admin.post(f"/console/knowledge/{entry_id}", {**FORM, "valid_until": "2026-13-40", "answer": ""})
    assert bad.status_code == 422 and 'data-testid="form-errors"' in bad.text and "失效日期不是有效日期" in bad.text
    r = admin.post(f"/console/knowledge/{entry_id}", {**FORM, "valid_until": "2021-06-30"})
    assert r.status_code == 303
    expired = admin.get("/console/knowledge", params={"expired": "yes"}).text
    assert f'data-entry="{entry_id}"' in expired and "已过期" in expired
    assert admin.get("/console/knowledge", params={"ask": "请问在外地怎么缴纳城乡居民养老保险？"}).text.count(
        f'href="/console/knowledge/{entry_id}"') == 1  # listed, but no longer offered
    assert admin.post(f"/console/knowledge/{entry_id}/retire", {"reason": "政策已调整"}).status_code == 303
    with db.session() as s:
        entry = s.get(KnowledgeEntry, entry_id)
        assert (entry.status, entry.retire_reason, entry.valid_until.isoformat()) == ("retired", "政策已调整", "2021-06-30")
    assert admin.post(f"/console/knowledge/{entry_id}/publish").status_code == 303
    shown = admin.get(f"/console/knowledge/{entry_id}?done=published")
    assert "已发布" in shown.text and 'data-testid="retire"' in shown.text
    assert admin.get("/console/knowledge/999999").status_code == 404


def test_only_admins_curate(db, as_role):
    for role in ("agent", "handler", "triage", "analyst", "supervisor"):
        client = as_role(role)
        assert client.get("/console/knowledge").status_code == 403, role
        assert client.post("/console/knowledge/new", FORM).status_code == 403, role
        assert client.post("/console/knowledge/promote", {"reply_id": "1"}).status_code == 403, role
    admin = as_role("admin")
    assert admin.client.post("/console/knowledge/new", data=FORM).status_code == 403  # no CSRF token


def test_handler_sees_suggestions_beside_a_petition_and_admin_promotes_a_good_reply(db, as_role):
    with db.transaction() as s:
        kb.create_entry(s, data=kb.EntryIn(question="公司拖欠工资怎么办", answer=WAGES_ANSWER, unit="CS-HRSS",
                                           source="《保障农民工工资支付条例》"), actor=ADMIN)
    number = case_pages.make_case(db, case_pages.Status.IN_PROGRESS)
    handler = as_role("hrss1")
    page = handler.get(f"/console/cases/{number}").text
    assert 'data-testid="kb-suggestion"' in page and "公司拖欠工资怎么办" in page and "《保障农民工工资支付条例》" in page
    assert 'data-fill="#text-reply"' in page and 'data-testid="kb-use"' in page
    assert 'data-testid="kb-promote"' not in page  # handlers do not curate
    # The handler replies; the petition is closed; an admin promotes the reply.
    r = handler.post(f"/console/cases/{number}/actions", {"action": "reply", "text": WAGES_ANSWER + "已责令十日内支付。"})
    assert r.status_code == 303
    with db.transaction() as s:
        service.do_transition(s, tracking_no=number, change=TransitionIn(action=Action.CLOSE, reason="已答复"), actor=ADMIN)
        reply_id = service.get_by_tracking_no(s, number).replies[-1].id
    admin = as_role("admin")
    page = admin.get(f"/console/cases/{number}").text
    assert 'data-testid="kb-promote"' in page and f'name="reply_id" value="{reply_id}"' in page
    r = admin.post("/console/knowledge/promote", {"reply_id": str(reply_id)})
    assert r.status_code == 303 and r.headers["location"].endswith("?done=promoted")
    entry_id = _entry_id(r.headers["location"])
    draft = admin.get(r.headers["location"]).text
    assert "请核对（去除个人信息）后发布" in draft and "已责令十日内支付" in draft and number in draft
    page = admin.get(f"/console/cases/{number}").text
    assert 'data-testid="kb-entry-link"' in page and f"/console/knowledge/{entry_id}" in page
    # Promoting twice gives the same entry.
    assert _entry_id(admin.post("/console/knowledge/promote", {"reply_id": str(reply_id)}).headers["location"]) == entry_id
    with db.session() as s:
        assert s.scalar(select(KnowledgeEntry.status).where(KnowledgeEntry.id == entry_id)) == "draft"


def test_contact_type_is_shown_corrected_and_filtered(db, as_role):
    number = case_pages.make_case(db)
    triage = as_role("triage")
    page = triage.get(f"/console/cases/{number}").text
    assert re.search(r'data-testid="contact-type">[^<]*<span class="badge">投诉</span>', page)
    r = triage.post(f"/console/knowledge/petitions/{number}/contact-type", {"contact_type": "help", "reason": "生活困难"})
    assert r.status_code == 303 and r.headers["location"].endswith("?done=contact#knowledge")
    page = triage.get(f"/console/cases/{number}?done=contact").text
    assert "来件类型已更正" in page and re.search(r'data-testid="contact-type">[^<]*<span class="badge">求助</span>', page)
    assert triage.post(f"/console/knowledge/petitions/{number}/contact-type", {"contact_type": "rant"}).status_code == 422
    assert as_role("yuelu1").post(f"/console/knowledge/petitions/{number}/contact-type",
                                  {"contact_type": "praise"}).status_code == 404
    assert as_role("agent").post(f"/console/knowledge/petitions/{number}/contact-type",
                                 {"contact_type": "praise"}).status_code == 403
    other = case_pages.make_case(db, title="请问如何办理居住证", content="请问如何办理居住证？需要哪些材料？", demand=None)
    analyst = as_role("analyst")
    listed = analyst.get("/console/analyst", params={"contact": "help"}).text
    assert f'data-tracking="{number}"' in listed and f'data-tracking="{other}"' not in listed
    listed = analyst.get("/console/analyst", params={"contact": "consultation"}).text
    assert f'data-tracking="{other}"' in listed and f'data-tracking="{number}"' not in listed and "咨询" in listed
    assert analyst.get("/console/analyst", params={"contact": "rant"}).status_code == 422


def test_every_knowledge_route_admits_its_roles_only(db, as_role):
    """The role × route matrix of tests/admin_web/test_role_matrix.py, for this module's routes."""
    from fastapi.routing import APIRoute

    from admin_web.pages import knowledge as pages
    from core.accounts import Role

    number = case_pages.make_case(db)
    with db.transaction() as s:
        entry_id = kb.create_entry(s, data=kb.EntryIn(question="如何办理居住证", answer="到社区警务室申请。"), actor=ADMIN).id
    values = {"entry_id": entry_id, "tracking_no": number}
    routes = []
    for route in pages.router.routes:
        if isinstance(route, APIRoute):
            roles = next(d.call.roles for d in route.dependant.dependencies if hasattr(d.call, "roles"))
            routes.extend((m, "/console" + route.path.format(**values), roles) for m in route.methods - {"HEAD"})
    assert len(routes) == 11
    for role in Role:
        client = as_role(role.value)
        for method, url, roles in routes:
            if method == "GET":
                r = client.get(url)
                assert r.status_code == (200 if role in roles else 403), (role, url, r.status_code)
            elif role not in roles:
                assert client.post(url, {}).status_code == 403, (role, url)
