"""Contact types: the rules in Chinese and English, and every petition typed at registration (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cases.models import AuditEvent, Petition
from knowledge import contact
from nlu.contact import ContactType, classify_contact
from tests.cases.helpers import register
from tests.conftest import ADMIN

EXAMPLES = [
    ("请问异地怎么缴纳城乡居民养老保险？", ContactType.CONSULTATION),
    ("办理居住证需要哪些材料？", ContactType.CONSULTATION),
    ("How do I apply for a residence permit?", ContactType.CONSULTATION),
    ("Do I need a permit to open a small shop, and where can I apply?", ContactType.CONSULTATION),
    ("我要投诉，小区楼下饭店油烟扰民，多次反映无人管", ContactType.COMPLAINT),
    ("公司拖欠我三个月工资至今未发", ContactType.COMPLAINT),
    ("The bar next door is so noisy every night and nobody fixed it", ContactType.COMPLAINT),
    ("建议在麓谷增设一条到火车站的公交线路", ContactType.PROPOSAL),
    ("It would be great if the city could add a bus stop near the school", ContactType.PROPOSAL),
    ("举报某村干部贪污扶贫资金", ContactType.REPORT),
    ("I want to report an official taking bribes at the permit office", ContactType.REPORT),
    ("感谢岳麓区人社局工作人员的热心帮助，为他们点赞", ContactType.PRAISE),
    ("Thank you so much to the staff for helping my mother, great job", ContactType.PRAISE),
    ("家里老人生病没钱看病，生活困难，求助", ContactType.HELP),
    ("Please help, my family is homeless after the flood and we can't afford a room", ContactType.HELP),
]


@pytest.mark.parametrize("text,expected", EXAMPLES, ids=[t[:24] for t, _ in EXAMPLES])
def test_rules_tell_the_six_types_apart(text, expected):
    guess = classify_contact(text)
    assert guess.type is expected, (guess.scores, guess.cues)
    assert guess.cues and 0.5 <= guess.confidence <= 0.99


def test_a_named_type_outweighs_cues_and_a_title_weighs_double():
    # 投诉 names the type; the question mark and 怎么 alone would make it a consultation.
    assert classify_contact("我要投诉，物业乱收费怎么没人管？").type is ContactType.COMPLAINT
    assert classify_contact("我要投诉，物业乱收费怎么没人管？").labelled
    assert classify_contact("物业收费标准是什么？", title="投诉物业乱收费").type is ContactType.COMPLAINT
    assert not classify_contact("物业收费标准是什么？").labelled
    neutral = classify_contact("今天")
    assert neutral.type is ContactType.COMPLAINT and neutral.confidence < 0.5 and not neutral.cues


def test_every_petition_is_typed_at_registration(db):
    with db.transaction() as s:
        question, _ = register(s, title="咨询异地缴纳养老保险", content="请问在外地怎么缴纳城乡居民养老保险？", demand=None)
        report, _ = register(s, title="举报村干部", content="举报某村干部贪污扶贫资金，请纪委调查。", demand=None)
        plain, _ = register(s)  # 物业乱收费 … 多次反映无果
        ids = question.id, report.id, plain.id
    with db.session() as s:
        types = [s.get(Petition, i).contact_type for i in ids]
    assert types == ["consultation", "report", "complaint"]


def test_staff_correct_a_type_with_an_audit_event_and_older_petitions_are_filled_in(db):
    with db.transaction() as s:
        petition, _ = register(s)
        contact.do_set_contact_type(s, petition=petition, contact_type="Proposal", actor=ADMIN, reason="其实是建议")
        assert petition.contact_type == "proposal"
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "contact_type"))
        assert event.data == {"from": "complaint", "to": "proposal"} and event.reason == "其实是建议"
        with pytest.raises(contact.ContactTypeError):
            contact.do_set_contact_type(s, petition=petition, contact_type="rant", actor=ADMIN)
        older, _ = register(s, title="请问如何办理居住证", content="请问如何办理居住证？需要哪些材料？", demand=None)
        older.contact_type = None
        s.flush()
        assert contact.do_backfill(s) == 1
        assert older.contact_type == "consultation" and contact.do_backfill(s) == 0
