"""Risk scores on both databases: lexicon hits, head-count, repeat petitioners, overdue; lexicon edits apply at once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.db import utcnow
from risk import service
from risk.models import PetitionRisk, SensitiveTerm
from tests.cases.helpers import register


def test_levels_reasons_and_hits(db):
    with db.transaction() as s:
        assert service.seed_lexicon(s) > 30 and service.seed_lexicon(s) == 0
        red, _ = register(s, title="再不解决我就跳楼", content="拖了半年没人管，我不想活了！",
                          petitioner={"name": "甲", "phone": "13900000001"})
        wages, _ = register(s, title="工地拖欠工资", content="六名工友被拖欠工资三个月。", head_count=6,
                            petitioner={"name": "乙", "phone": "13900000002"})
        plain, _ = register(s, title="路灯不亮", content="小区门口路灯坏了两周。",
                            petitioner={"name": "丙", "phone": "13900000003"})
        ids = red.id, wages.id, plain.id
    with db.transaction() as s:
        r = service.do_assess(s, petition_id=ids[0])
        assert r.level == "red" and any("自伤自残" in x["text_zh"] for x in r.reasons)
        spans = {(h["field"], h["term"], h["start"], h["end"]) for h in r.hits}
        assert ("title", "跳楼", 6, 8) in spans and ("content", "不想活了", 9, 13) in spans
        w = service.do_assess(s, petition_id=ids[1])
        assert w.level == "orange" and {x["kind"] for x in w.reasons} == {"lexicon", "head_count"}
        assert service.do_assess(s, petition_id=ids[2]).level == "blue"
    # Assessing again replaces the row (one per petition).
    with db.transaction() as s:
        service.do_assess(s, petition_id=ids[2])
        assert len(list(s.scalars(select(PetitionRisk).where(PetitionRisk.petition_id == ids[2])))) == 1


def test_lexicon_edits_take_effect_without_restart(db):
    with db.transaction() as s:
        p, _ = register(s, title="小区门口有人卖假药", content="多次投诉无果。")
        assert service.do_assess(s, petition_id=p.id).level == "blue"
        term = SensitiveTerm(term="假药", klass="other", weight=2.0, created_by="test")
        s.add(term)
        s.flush()
        assert service.do_assess(s, petition_id=p.id).level == "yellow"
        term.active = False
        s.flush()
        assert service.do_assess(s, petition_id=p.id).level == "blue"


def test_repeat_petitioner_and_overdue_raise_the_score(db):
    with db.transaction() as s:
        for _ in range(3):
            last, _ = register(s, title="噪音扰民", content="楼下酒吧夜夜噪音。")
        last.overdue_since = utcnow() - timedelta(days=1)
        s.flush()
        r = service.do_assess(s, petition_id=last.id)
        kinds = {x["kind"] for x in r.reasons}
        assert {"repeat", "overdue"} <= kinds and r.score == 2.0 and r.level == "yellow"
