"""The knowledge base: entries, validity, hybrid search, replies drawn in and promoted, the bot's record (both databases)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from cases import service as cases
from cases.enums import Status
from knowledge import service as kb
from knowledge.index import HybridIndex, document_text
from tests.cases.helpers import drive
from tests.conftest import ADMIN

PENSION = kb.EntryIn(question="异地如何缴纳城乡居民基本养老保险",
                     answer="参保人在外地居住的，可通过“湘税社保”微信小程序或户籍所在地社区服务中心缴纳。",
                     unit="CS-HRSS", source="《长沙市城乡居民基本养老保险实施办法》", issued_on=date(2025, 3, 1),
                     category="劳动和社会保障")
PERMIT = kb.EntryIn(question="居住证怎么办理，需要哪些材料", answer="携带身份证、居住证明到社区警务室申请，十五个工作日内办结。",
                    unit="YL-GOV", issued_on=date(2024, 5, 10))
ASK = "请问在外地怎么缴纳城乡居民养老保险？"


def _replace(data: kb.EntryIn, **changes) -> kb.EntryIn:
    return kb.EntryIn(**{**data.__dict__, **changes})


def test_published_entry_is_found_with_its_source_and_unrelated_questions_find_nothing(db):
    with db.transaction() as s:
        pension = kb.create_entry(s, data=PENSION, actor=ADMIN)
        kb.create_entry(s, data=PERMIT, actor=ADMIN)
        assert pension.category == "劳动和社会保障" and pension.unit.code == "CS-HRSS" and pension.kind == "policy"
    with db.session() as s:
        found = kb.search(s, ASK)
        assert [f.entry.question for f in found] == [PENSION.question]
        assert found[0].hit.lexical >= kb.LEXICAL_MIN and found[0].hit.dense is None  # the tests' embedder is lexical
        assert kb.source_line(found[0].entry, "zh") == \
            "来源：《长沙市城乡居民基本养老保险实施办法》 · 长沙市人力资源和社会保障局 · 2025年3月1日"
        assert kb.source_line(found[0].entry, "en").startswith("Source: 《长沙市城乡居民基本养老保险实施办法》") and \
            kb.source_line(found[0].entry, "en").endswith("1 March 2025")
        assert kb.search(s, "小区门口的垃圾桶满了没人清理") == []
        # Without the relevance floor the best candidates still come back, best first.
        loose = kb.search(s, "小区门口的垃圾桶满了没人清理", relevant_only=False, k=5)
        assert len(loose) == 2


def test_validity_drafts_and_retirement_decide_who_is_offered_what(db):
    today = kb.today()
    with db.transaction() as s:
        expired = kb.create_entry(s, data=_replace(PENSION, valid_until=today - timedelta(days=1)), actor=ADMIN)
    with db.session() as s:
        assert kb.search(s, ASK) == [] and kb.search(s, ASK, audience="staff") == []
        # The last day of validity still counts; so does a day inside the window given explicitly.
        assert kb.search(s, ASK, on=today - timedelta(days=1))
    with db.transaction() as s:
        kb.update_entry(s, entry_id=expired.id, data=_replace(PENSION, valid_from=today + timedelta(days=3)), actor=ADMIN)
    with db.session() as s:
        assert kb.search(s, ASK) == [] and kb.search(s, ASK, on=today + timedelta(days=3))
    with db.transaction() as s:
        entry = kb.update_entry(s, entry_id=expired.id, data=_replace(PENSION, status="draft"), actor=ADMIN)
        assert entry.updated_by == ADMIN.name
    with db.session() as s:
        assert kb.search(s, ASK) == [] and [f.entry.id for f in kb.search(s, ASK, audience="staff")] == [expired.id]
    with db.transaction() as s:
        kb.do_publish(s, entry_id=expired.id, actor=ADMIN)
    with db.session() as s:
        assert [f.entry.id for f in kb.search(s, ASK)] == [expired.id]
    with db.transaction() as s:
        retired = kb.do_retire(s, entry_id=expired.id, actor=ADMIN, reason="政策已调整")
        assert retired.status == "retired" and retired.retire_reason == "政策已调整"
    with db.session() as s:
        assert kb.search(s, ASK) == [] and kb.search(s, ASK, audience="staff") == []
        assert kb.counts(s)["retired"] == 1
        rows, total = kb.list_entries(s, status="retired")
        assert total == 1 and rows[0].retired_by == ADMIN.name


def test_edits_reach_the_index_at_once(db):
    with db.transaction() as s:
        entry = kb.create_entry(s, data=PERMIT, actor=ADMIN)
    with db.session() as s:
        assert kb.search(s, ASK) == []
    with db.transaction() as s:
        kb.update_entry(s, entry_id=entry.id, data=_replace(PENSION, unit="YL-GOV"), actor=ADMIN)
    with db.session() as s:
        assert [f.entry.id for f in kb.search(s, ASK)] == [entry.id]


def test_bad_entries_are_refused_with_reasons(db):
    with db.transaction() as s:
        for data, reason in ((_replace(PENSION, question=" "), "question"), (_replace(PENSION, unit="NOPE"), "unknown unit"),
                             (_replace(PENSION, category="不存在的分类"), "unknown category"),
                             (_replace(PENSION, valid_from=date(2026, 1, 2), valid_until=date(2026, 1, 1)), "before"),
                             (_replace(PENSION, status="retired"), "status"), (_replace(PENSION, language="fr"), "language")):
            with pytest.raises(kb.KnowledgeError, match=reason):
                kb.create_entry(s, data=data, actor=ADMIN)
        with pytest.raises(kb.EntryNotFound):
            kb.do_retire(s, entry_id=999_999, actor=ADMIN)


def _closed_with_reply(s, text: str, *, satisfied: bool = True):
    petition = drive(s, Status.REPLIED)
    petition.title, petition.content = "外地缴纳养老保险", ASK
    cases.do_feedback(s, tracking_no=petition.tracking_no, satisfied=satisfied, reason=None if satisfied else "没解决",
                      actor=ADMIN)
    if satisfied:
        assert petition.status == Status.CLOSED
    petition.replies[-1].text = text
    s.flush()
    return petition


def test_replies_of_closed_petitions_are_drawn_in_as_drafts_once_and_unhappy_ones_left_out(db):
    with db.transaction() as s:
        good = _closed_with_reply(s, "经核实，您可通过“湘税社保”小程序在外地缴纳城乡居民养老保险。")
        _closed_with_reply(s, "已转交相关部门。", satisfied=False)
        drive(s, Status.IN_PROGRESS)  # still open: nothing to draw
        assert kb.do_harvest(s, actor=ADMIN) == 1
        assert kb.do_harvest(s, actor=ADMIN) == 0
        rows, total = kb.list_entries(s, kind="reply")
        entry = rows[0]
        assert total == 1 and entry.status == "draft" and entry.source_petition_id == good.id
        assert entry.question.startswith("外地缴纳养老保险\n") and "湘税社保" in entry.answer
        reply_day = kb.local_date(good.replies[-1].created_at)
        assert entry.issued_on == reply_day and entry.valid_until == reply_day + timedelta(days=kb.REPLY_VALID_DAYS)
        # Promoting the same reply again returns the same entry.
        assert kb.do_promote_reply(s, reply_id=good.replies[-1].id, actor=ADMIN).id == entry.id
        entry_id = entry.id
    with db.session() as s:
        assert kb.search(s, ASK) == []  # a draft is not for citizens
        asker = drive(s, Status.REGISTERED)
        asker.title, asker.content = "养老保险外地怎么交", ASK
        s.flush()
        assert [f.entry.id for f in kb.suggestions_for(s, asker)] == [entry_id]
        # The petition the reply came from is not offered its own reply.
        assert kb.suggestions_for(s, s.get(type(asker), good.id)) == []
        assert "类似诉求的答复意见" in kb.source_line(s.get(kb.KnowledgeEntry, entry_id), "zh")
        s.rollback()


def test_the_bot_record_counts_verdicts_and_links_the_petition(db):
    with db.transaction() as s:
        kb.create_entry(s, data=PENSION, actor=ADMIN)
    with db.transaction() as s:
        found = kb.search(s, ASK)
        first = kb.do_record_answer(s, conversation_id=7, channel="webchat", question=ASK, language="zh", found=found)
        second = kb.do_record_answer(s, conversation_id=8, channel="sms", question=ASK, language="zh", found=found)
        third = kb.do_record_answer(s, conversation_id=9, channel="sms", question=ASK, language="zh", found=found)
        kb.do_record_verdict(s, answer_id=first.id, helped=True)
        kb.do_record_verdict(s, answer_id=first.id, helped=False)  # the first verdict stands
        kb.do_record_verdict(s, answer_id=second.id, helped=False)
        petition = drive(s, Status.REGISTERED)
        kb.do_link_petition(s, answer_id=second.id, petition_id=petition.id)
        entry = found[0].entry
        assert (entry.offered, entry.helpful, entry.not_helpful) == (3, 1, 1)
        assert first.helped is True and third.helped is None
        assert kb.answer_stats(s) == {"answered": 3, "helped": 1, "not_helped": 1, "no_verdict": 1, "became_petitions": 1}


def test_hybrid_index_fuses_both_sides_and_respects_the_mask():
    texts = ["异地缴纳养老保险", "居住证办理材料", "公交线路调整"]
    # Dense vectors that disagree with the words: the query is "near" the third document.
    dense = np.eye(3, dtype=np.float32)
    index = HybridIndex([10, 20, 30], texts, dense=dense)
    query_vector = np.array([0.0, 0.1, 0.99], dtype=np.float32)
    assert index.search("养老保险异地缴纳", k=1, method="lexical", query_vector=query_vector)[0].id == 10
    assert index.search("养老保险异地缴纳", k=1, method="dense", query_vector=query_vector)[0].id == 30
    fused = index.search("养老保险异地缴纳", k=3, query_vector=query_vector)
    assert {h.id for h in fused} == {10, 20, 30} and fused[-1].id == 20
    masked = index.search("养老保险异地缴纳", k=3, mask=np.array([False, True, True]), query_vector=query_vector)
    assert [h.id for h in masked][0] == 30 and 10 not in [h.id for h in masked]
    assert HybridIndex([], []).search("任何问题") == []
    with pytest.raises(ValueError):
        HybridIndex([1, 2], ["a"])
    assert document_text("问题", "答" * 500) == "问题" and document_text("问题", "答" * 500, answer_chars=3) == "问题\n答答答"


def test_the_scheduled_task_draws_replies_in(db):
    from core.tasks import registered
    from knowledge import tasks

    with db.transaction() as s:
        _closed_with_reply(s, "经核实，您可通过“湘税社保”小程序在外地缴纳城乡居民养老保险。")
    assert "knowledge.harvest_replies" in registered()
    assert tasks.harvest_replies() == {"added": 1} and tasks.harvest_replies() == {"added": 0}
    with db.session() as s:
        assert [e.created_by for e in kb.list_entries(s)[0]] == ["knowledge"]
