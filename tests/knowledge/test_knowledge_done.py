"""The issue's "done": a citizen asking what an earlier official reply answers gets that reply in the chat at once,
with its source, and can still file a petition if it did not help (SQLite and PostgreSQL)."""

from __future__ import annotations

from cases import catalog
from cases.enums import Status
from knowledge import service as kb
from tests.bot import test_stories as runner
from tests.cases.helpers import drive
from tests.conftest import ADMIN

REPLY = "经核实，灵活就业人员可通过“湘税社保”微信小程序按月缴纳职工养老保险，缴费基数在上下限之间自选。"


def test_an_earlier_reply_answers_a_new_question_in_the_chat(db):
    with db.transaction() as s:
        earlier = drive(s, Status.CLOSED)
        earlier.title, earlier.content = "灵活就业人员怎么缴纳养老保险", "我是灵活就业人员，想问怎么缴纳职工养老保险？"
        reply = earlier.replies[-1]
        reply.text, reply.unit_id = REPLY, catalog.get_unit_by_code(s, "CS-HRSS").id
        s.flush()
        assert kb.do_harvest(s, actor=ADMIN) == 1
        entry = kb.list_entries(s, kind="reply")[0][0]
        issued = entry.issued_on
    story = {"story": "done", "steps": [
        # Drawn in but not yet checked by an admin: a draft is not offered to citizens.
        {"user": "请问灵活就业人员怎么交养老保险？", "bot_not": ["可参考以下答复"]},
    ]}
    runner.test_story(db, story)
    with db.transaction() as s:
        kb.do_publish(s, entry_id=entry.id, actor=ADMIN)
    story = {"story": "done", "steps": [
        {"user": "请问灵活就业人员怎么交养老保险？",
         "bot": ["可参考以下答复", "湘税社保", "类似诉求的答复意见", "长沙市人力资源和社会保障局",
                 f"{issued.year}年{issued.month}月{issued.day}日", "有帮助吗"], "quick": "没有帮助"},
        {"user": "没有帮助", "bot": ["没能解决", "发生在哪里"]},
        {"user": "雨花区"}, {"user": "跳过"}, {"user": "跳过"}, {"user": "希望告诉我缴费基数怎么选"}, {"user": "1"},
        {"user": "没有"}, {"user": "匿名"}, {"user": "同意", "bot": ["请核对", "请问灵活就业人员怎么交养老保险"]},
        {"user": "确认提交", "bot": "受理编号", "petition": {"area_code": "430111", "contact_type": "consultation"}},
    ]}
    runner.test_story(db, story)
    with db.session() as s:
        assert kb.answer_stats(s) == {"answered": 1, "helped": 0, "not_helped": 1, "no_verdict": 0, "became_petitions": 1}
        stored = kb.get_entry(s, entry.id)
        assert (stored.offered, stored.helpful, stored.not_helpful) == (1, 0, 1)
