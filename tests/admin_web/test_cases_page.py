"""The console's case page: facts, history, unit scope, masking, actions, extensions and attachments, on both databases."""

from __future__ import annotations

import re

from sqlalchemy import select

from cases import audit, catalog, service
from cases.enums import Action, Status
from cases.handling import service as handling
from cases.handling.models import CaseAttachment, CaseNote, ExtensionRequest
from cases.models import Assignment, Reply
from cases.schemas import TransitionIn
from core.accounts import Actor, Role
from core.db import utcnow
from risk.models import PetitionRisk
from routing import service as routing
from routing.models import RoutingDecision, SimilarLink
from tests.cases.helpers import register
from tests.conftest import ADMIN

WAGES = {"title": "公司拖欠三个月工资", "content": "我在某建筑公司务工，公司已拖欠三个月工资共一万二千元。",
         "category": "劳动和社会保障", "area_code": "430104", "demand": "尽快发放工资"}
TEMPLATE = "经核查，我局已责令该公司于十日内足额支付拖欠工资，并将跟踪落实。"


def dispatched(s, unit: str = "CS-HRSS", **overrides):
    """Register a petition and dispatch it to a unit before acceptance, the way the router does."""
    petition, code = register(s, **{**WAGES, **overrides})
    lead = catalog.get_unit_by_code(s, unit)
    petition.lead_unit_id = lead.id
    s.add(Assignment(petition_id=petition.id, unit_id=lead.id, role="lead", assigned_by="router", assigned_at=utcnow()))
    s.flush()
    s.expire(petition, ["assignments", "lead_unit"])
    return petition


def make_case(db, status: Status = Status.REGISTERED, **overrides) -> str:
    """Create a petition dispatched to CS-HRSS and move it (as an admin) to ``status``; return its tracking number."""
    with db.transaction() as s:
        p = dispatched(s, **overrides)
        steps = {Status.REGISTERED: [], Status.ASSIGNED: [Action.ACCEPT],
                 Status.IN_PROGRESS: [Action.ACCEPT, Action.START]}[status]
        for action in steps:
            service.do_transition(s, tracking_no=p.tracking_no, change=TransitionIn(action=action), actor=ADMIN)
        return p.tracking_no


def url(no: str) -> str:
    return f"/console/cases/{no}"


def history(html: str) -> list[str]:
    return re.findall(r'<tr data-action="([a-z_]+)">', html)


def test_handler_accepts_starts_and_replies_with_a_template(db, as_role):
    with db.transaction() as s:
        handling.create_template(s, kind="reply", name="欠薪答复", text=TEMPLATE, actor=ADMIN)
    no = make_case(db)
    hrss = as_role("hrss1")
    page = hrss.get(url(no))
    assert page.status_code == 200
    assert no in page.text and WAGES["title"] in page.text and "已登记" in page.text
    assert 'data-testid="action-accept"' in page.text and 'data-testid="action-start"' not in page.text
    # A handler neither assigns nor merges.
    assert 'data-testid="action-assign"' not in page.text and 'data-testid="action-merge"' not in page.text

    r = hrss.post(f"{url(no)}/actions", {"action": "accept"})
    assert r.status_code == 303 and r.headers["location"] == f"{url(no)}?done=accept"
    page = hrss.get(r.headers["location"])
    assert "已完成：受理" in page.text and "已交办" in page.text and 'data-testid="action-start"' in page.text

    assert hrss.post(f"{url(no)}/actions", {"action": "start"}).status_code == 303
    page = hrss.get(url(no))
    assert "办理中" in page.text
    # The reply form offers the template as a fill button for its textarea.
    assert 'data-fill="#text-reply"' in page.text and f'data-text="{TEMPLATE}"' in page.text
    assert 'id="text-reply"' in page.text

    assert hrss.post(f"{url(no)}/actions", {"action": "reply", "text": TEMPLATE}).status_code == 303
    with db.session() as s:
        replies = list(s.scalars(select(Reply)))
        assert [(r.text, r.author, r.kind) for r in replies] == [(TEMPLATE, "hrss1", "reply")]
    page = hrss.get(url(no))
    # The reply is shown once; with nothing left to reply to, the template buttons are gone.
    assert "已答复" in page.text and page.text.count(TEMPLATE) == 1
    assert history(page.text) == ["register", "accept", "assign", "start", "reply"]
    assert 'data-testid="action-reply"' not in page.text


def test_refused_action_rerenders_the_page_and_changes_nothing(db, as_role):
    no = make_case(db, Status.IN_PROGRESS)
    hrss = as_role("hrss1")
    r = hrss.post(f"{url(no)}/actions", {"action": "reply", "text": "   "})
    assert r.status_code == 422 and "无法完成" in r.text and "reply text" in r.text
    r = hrss.post(f"{url(no)}/actions", {"action": "accept"})
    assert r.status_code == 409 and "无法完成" in r.text
    r = hrss.post(f"{url(no)}/actions", {"action": "assign", "unit": "YL-GOV"})
    assert r.status_code == 403
    r = hrss.post(f"{url(no)}/actions", {"action": "nonsense"})
    assert r.status_code == 422
    r = hrss.post(f"{url(no)}/actions", {"action": "object", "reason": ""})
    assert r.status_code == 409  # objecting is only possible before handling starts
    with db.session() as s:
        p = service.get_by_tracking_no(s, no)
        assert p.status == Status.IN_PROGRESS and not p.replies
        assert [e.action for e in audit.list_for_petition(s, p.id)] == ["register", "accept", "assign", "start"]


def test_handler_of_another_unit_gets_404_everywhere(db, as_role):
    no = make_case(db, Status.ASSIGNED)
    with db.transaction() as s:
        p = service.get_by_tracking_no(s, no)
        note = handling.do_supervise(s, petition=p, kind="urge", text="请加快办理", respond_within_days=3,
                                     actor=Actor("super1", Role.SUPERVISOR))
        att = handling.create_attachment(s, petition=p, filename="a.txt", content_type="text/plain", data=b"x",
                                         actor=ADMIN)
        note_id, att_id = note.id, att.id
    yuelu = as_role("yuelu1")
    page = yuelu.get(url(no))
    assert page.status_code == 404 and "没有此信访件" in page.text and WAGES["title"] not in page.text
    posts = [(f"{url(no)}/actions", {"action": "start"}),
             (f"{url(no)}/actions", {"action": "object", "reason": "不归我们管"}),
             (f"{url(no)}/actions", {"action": "reply", "text": "答复"}), (f"{url(no)}/notes", {"text": "偷看"}),
             (f"{url(no)}/extension-requests", {"days": "5", "reason": "需要时间"}),
             (f"{url(no)}/supervision/{note_id}/response", {"text": "已处理"})]
    for target, data in posts:
        r = yuelu.post(target, data)
        assert r.status_code == 404, target
        assert WAGES["title"] not in r.text and "请加快办理" not in r.text
    r = yuelu.post(f"{url(no)}/attachments", files={"file": ("b.txt", b"hello", "text/plain")})
    assert r.status_code == 404 and WAGES["title"] not in r.text
    assert yuelu.get(f"{url(no)}/attachments/{att_id}").status_code == 404
    workbench = yuelu.get("/console/workbench")
    assert workbench.status_code == 200 and no not in workbench.text
    assert no in as_role("hrss1").get("/console/workbench").text
    with db.session() as s:
        p = service.get_by_tracking_no(s, no)
        assert p.status == Status.ASSIGNED
        assert s.scalar(select(CaseNote)) is None and s.scalar(select(ExtensionRequest)) is None
        assert len(list(s.scalars(select(CaseAttachment)))) == 1


def test_analyst_sees_masked_personal_data_and_no_forms(db, as_role):
    no = make_case(db, Status.ASSIGNED)
    with db.transaction() as s:
        p = service.get_by_tracking_no(s, no)
        att = handling.create_attachment(s, petition=p, filename="id-card.png", content_type="image/png", data=b"\x89PNG",
                                         actor=ADMIN)
        att_id = att.id
    analyst = as_role("analyst1")
    page = analyst.get(url(no))
    assert page.status_code == 200 and WAGES["title"] in page.text
    assert "王*" in page.text and "138****1234" in page.text
    assert "王小明" not in page.text and "13812341234" not in page.text
    assert 'method="post" action="/console/cases' not in page.text
    assert "id-card.png" in page.text and f"/attachments/{att_id}" not in page.text
    assert analyst.get(f"{url(no)}/attachments/{att_id}").status_code == 403
    assert analyst.post(f"{url(no)}/actions", {"action": "start"}).status_code == 403
    assert analyst.post(f"{url(no)}/notes", {"text": "x"}).status_code == 403
    # Staff who see personal data see it in clear; an agent may view but not act.
    agent = as_role("agent")
    page = agent.get(url(no))
    assert page.status_code == 200 and "王小明" in page.text and "13812341234" in page.text
    assert 'method="post" action="/console/cases' not in page.text
    assert agent.post(f"{url(no)}/actions", {"action": "start"}).status_code == 403


def test_object_sends_the_case_back_to_triage(db, as_role):
    no = make_case(db, Status.ASSIGNED)
    hrss = as_role("hrss1")
    page = hrss.get(url(no))
    assert 'data-testid="action-object"' in page.text and "data-confirm" in page.text
    r = hrss.post(f"{url(no)}/actions", {"action": "object", "reason": ""})
    assert r.status_code == 422 and "needs a reason" in r.text
    r = hrss.post(f"{url(no)}/actions", {"action": "object", "reason": "属岳麓区职责，非本局"})
    # The unit no longer sees the case: back to the workbench instead of a 404.
    assert r.status_code == 303 and r.headers["location"].startswith("/console/workbench?done=object")
    assert "已完成" in hrss.get(r.headers["location"]).text
    with db.session() as s:
        p = service.get_by_tracking_no(s, no)
        assert p.status == Status.ACCEPTED and p.lead_unit_id is None
        assert no in [q.tracking_no for q, _ in routing.list_triage(s)]
    assert hrss.get(url(no)).status_code == 404
    # Triage sees the objection in the history and may assign again.
    page = as_role("triage").get(url(no))
    assert history(page.text)[-1] == "object" and "属岳麓区职责，非本局" in page.text
    assert 'data-testid="action-assign"' in page.text


def test_triage_assigns_with_assisting_units_and_merges(db, as_role):
    no = make_case(db, Status.ASSIGNED)
    with db.transaction() as s:
        other = register(s, **WAGES)[0].tracking_no
    triage = as_role("triage")
    r = triage.post(f"{url(no)}/actions", {"action": "assign", "unit": "CS-HRSS", "assisting": ["YL-GOV", "YH-ZJJ"]})
    assert r.status_code == 303
    page = as_role("yuelu1").get(url(no))
    assert page.status_code == 200 and "协办" in page.text
    # An assisting unit contributes notes but does not act for the lead.
    assert 'data-testid="action-start"' not in page.text and 'action="/console/cases/' + no + '/notes"' in page.text
    assert as_role("yuelu1").post(f"{url(no)}/actions", {"action": "start"}).status_code == 403
    r = triage.post(f"{url(no)}/actions", {"action": "merge", "target": "not-a-number", "reason": "重复"})
    assert r.status_code == 422 and 'value="not-a-number"' in r.text
    r = triage.post(f"{url(no)}/actions", {"action": "merge", "target": other, "reason": "同一事项重复登记"})
    assert r.status_code == 303
    page = triage.get(url(no))
    assert "已合并" in page.text and f'href="/console/cases/{other}"' in page.text


def test_extension_request_shows_pending(db, as_role):
    no = make_case(db, Status.IN_PROGRESS)
    hrss = as_role("hrss1")
    assert 'data-testid="extension-form"' in hrss.get(url(no)).text
    r = hrss.post(f"{url(no)}/extension-requests", {"days": "999", "reason": "需调取材料"})
    assert r.status_code == 422 and "无法完成" in r.text
    r = hrss.post(f"{url(no)}/extension-requests", {"days": "10", "reason": "需调取社保缴费记录"})
    assert r.status_code == 303 and "done=extension" in r.headers["location"]
    page = hrss.get(r.headers["location"])
    state = re.search(r'data-testid="extension-state">([^<]*)<', page.text)
    assert state and state.group(1) == "待审批" and "需调取社保缴费记录" in page.text
    assert 'data-testid="extension-form"' not in page.text
    r = hrss.post(f"{url(no)}/extension-requests", {"days": "3", "reason": "again"})
    assert r.status_code == 409 and "already waiting" in r.text
    assert as_role("triage").post(f"{url(no)}/extension-requests", {"days": "3", "reason": "x"}).status_code == 403
    with db.session() as s:
        rows = list(s.scalars(select(ExtensionRequest)))
        assert [(e.days, e.state, e.requested_by) for e in rows] == [(10, "pending", "hrss1")]


def test_attachment_round_trip_and_refusals(db, as_role):
    no = make_case(db, Status.IN_PROGRESS)
    hrss = as_role("hrss1")
    body = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    nasty = '../../<img src=x onerror=alert(1)>"; evil.png'
    r = hrss.post(f"{url(no)}/attachments", files={"file": (nasty, body, "image/png")})
    assert r.status_code == 303 and "done=attachment" in r.headers["location"]
    with db.session() as s:
        row = s.scalar(select(CaseAttachment))
        att_id, stored = row.id, row.filename
    assert "/" not in stored and "<" not in stored
    page = hrss.get(url(no))
    assert "<img src=x" not in page.text and stored in page.text
    r = hrss.get(f"{url(no)}/attachments/{att_id}")
    assert r.status_code == 200 and r.content == body
    assert r.headers["content-type"] == "image/png"
    assert r.headers["x-content-type-options"] == "nosniff"
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment;") and "\n" not in disposition and "<" not in disposition
    assert "sandbox" in r.headers["content-security-policy"]

    too_big = b"0" * (handling.MAX_ATTACHMENT_BYTES + 1)
    r = hrss.post(f"{url(no)}/attachments", files={"file": ("big.pdf", too_big, "application/pdf")})
    assert r.status_code == 422 and "larger than 10 MB" in r.text
    # Far beyond it, the app refuses the body before reading it, with a page rather than JSON.
    r = hrss.post(f"{url(no)}/attachments", files={"file": ("huge.pdf", b"0" * (12 * 1024 * 1024), "application/pdf")})
    assert r.status_code == 413 and "上传内容过大" in r.text
    r = hrss.post(f"{url(no)}/attachments", files={"file": ("page.html", b"<script>alert(1)</script>", "text/html")})
    assert r.status_code == 422 and "text/html cannot be attached" in r.text
    r = hrss.post(f"{url(no)}/attachments", data={})
    assert r.status_code in (400, 422)
    assert hrss.get(f"{url(no)}/attachments/999999").status_code == 404
    with db.session() as s:
        assert len(list(s.scalars(select(CaseAttachment)))) == 1


def test_citizen_text_is_escaped_and_risk_hits_highlighted(db, as_role):
    content = "老板说<script>alert('x')</script>再闹就跳楼也没用"
    no = make_case(db, Status.ASSIGNED, title="<b>欠薪</b>", content=content)
    start = content.index("跳楼")
    with db.transaction() as s:
        p = service.get_by_tracking_no(s, no)
        s.add(PetitionRisk(petition_id=p.id, score=0.9, level="red",
                           reasons=[{"kind": "lexicon", "text_zh": "含极端词：跳楼", "text_en": "extreme term: 跳楼", "weight": 1}],
                           hits=[{"term": "跳楼", "klass": "self_harm", "start": start, "end": start + 2, "field": "content"}]))
    page = as_role("hrss1").get(url(no))
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text
    assert "<b>欠薪</b>" not in page.text and "&lt;b&gt;欠薪&lt;/b&gt;" in page.text
    assert "<mark>跳楼</mark>" in page.text and "level-red" in page.text and "含极端词：跳楼" in page.text


def test_routing_suggestions_and_similar_cases_respect_the_unit_scope(db, as_role):
    no = make_case(db, Status.IN_PROGRESS)
    with db.transaction() as s:
        p = service.get_by_tracking_no(s, no)
        mine = dispatched(s, title="建筑公司欠薪", content="另一工地同样欠薪。")
        theirs = dispatched(s, unit="YL-GOV", title="岳麓某工地欠薪", content="工地欠薪两个月。")
        for q, text in ((mine, "本局已督促支付。"), (theirs, "区政府已协调发放。")):
            for action in (Action.ACCEPT, Action.START):
                service.do_transition(s, tracking_no=q.tracking_no, change=TransitionIn(action=action), actor=ADMIN)
            service.do_transition(s, tracking_no=q.tracking_no, actor=ADMIN,
                                  change=TransitionIn(action=Action.REPLY, text=text))
        s.add_all([SimilarLink(petition_id=p.id, similar_id=mine.id, score=0.91, kind="similar", rank=0),
                   SimilarLink(petition_id=p.id, similar_id=theirs.id, score=0.88, kind="similar", rank=1)])
        s.add(RoutingDecision(petition_id=p.id, category="劳动和社会保障", category_confidence=0.83, category_source="model",
                              suggestions=[{"unit": "CS-HRSS", "name": "长沙市人力资源和社会保障局", "score": 0.8,
                                            "reasons": [{"kind": "duty", "text_zh": "职责清单：工资支付", "text_en": "duty list",
                                                         "weight": 0.5}]}]))
        mine_no, theirs_no = mine.tracking_no, theirs.tracking_no
    page = as_role("hrss1").get(url(no))
    assert "职责清单：工资支付" in page.text and "置信度 83%" in page.text
    assert f'href="/console/cases/{mine_no}"' in page.text and f'href="/console/cases/{theirs_no}"' not in page.text
    assert theirs_no not in page.text
    assert "岳麓某工地欠薪" in page.text and 'data-text="区政府已协调发放。"' in page.text
    assert 'data-text="本局已督促支付。"' in page.text
    # Staff who see every case get links to both.
    page = as_role("triage").get(url(no))
    assert f'href="/console/cases/{theirs_no}"' in page.text


def test_notes_and_supervision_response(db, as_role):
    no = make_case(db, Status.IN_PROGRESS)
    with db.transaction() as s:
        p = service.get_by_tracking_no(s, no)
        note_id = handling.do_supervise(s, petition=p, kind="supervise", text="请三日内报告进展", respond_within_days=3,
                                        actor=Actor("super1", Role.SUPERVISOR)).id
    hrss = as_role("hrss1")
    page = hrss.get(url(no))
    assert "请三日内报告进展" in page.text and f"/supervision/{note_id}/response" in page.text
    assert hrss.post(f"{url(no)}/supervision/{note_id}/response", {"text": ""}).status_code == 422
    r = hrss.post(f"{url(no)}/supervision/{note_id}/response", {"text": "已约谈企业，本周内支付"})
    assert r.status_code == 303
    r = hrss.post(f"{url(no)}/notes", {"text": "企业负责人电话已核实<script>"})
    assert r.status_code == 303 and r.headers["location"].endswith("#notes")
    page = hrss.get(url(no))
    assert "已约谈企业，本周内支付" in page.text and f"/supervision/{note_id}/response" not in page.text
    assert "企业负责人电话已核实&lt;script&gt;" in page.text
    assert history(page.text)[-2:] == ["supervision_response", "note"]


def test_page_speaks_english(db, as_role):
    no = make_case(db, Status.ASSIGNED)
    hrss = as_role("hrss1")
    assert hrss.get("/console/lang/en").status_code == 303
    page = hrss.get(url(no))
    assert page.status_code == 200 and "Start handling" in page.text and "History" in page.text and "开始办理" not in page.text
