"""Alerts on both databases: a red petition, a growing collective group, key persons, acknowledge and resolve."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from cases.models import Petition
from core.accounts import Actor, Role
from core.db import utcnow
from risk import alerts, service
from risk.models import RiskAlert
from risk.tasks import assess_petition
from tests.cases.helpers import register

SUPERVISOR = Actor("super", Role.SUPERVISOR)


def _wage_claim(s, k: int, at, *, area="430104", heads=1):
    p, _ = register(s, title="某建筑工地拖欠农民工工资", area_code=area, head_count=heads, now=at,
                    content=f"我们在岳麓区梅溪湖某工地干活，老板拖欠三个月工资，第{k}位工友反映。",
                    petitioner={"name": f"工友{k}", "phone": f"1390000{k:04d}"})
    return p.id


def test_six_people_from_one_estate_in_two_days_raise_one_growing_alert(db):
    start = utcnow() - timedelta(days=2)
    with db.transaction() as s:
        service.seed_lexicon(s)
        # Same words, another district: not part of the group.
        far = _wage_claim(s, 99, start + timedelta(hours=3), area="430111")
        # Same district, another issue.
        other, _ = register(s, title="小区路灯不亮", content="梅溪湖小区门口路灯坏了", area_code="430104",
                            petitioner={"name": "丁", "phone": "13700000000"}, now=start)
    ids, results = [], []
    for k in range(6):  # as the stream arrives: each petition is assessed when it is registered
        with db.transaction() as s:
            ids.append(_wage_claim(s, k, start + timedelta(hours=8 * k)))
        results.append(assess_petition(petition_id=ids[-1]))
    assert not results[0]["alerts"] and not results[1]["alerts"]  # one or two people are not yet a group
    assert all(r["alerts"] for r in results[2:])
    with db.session() as s:
        found = list(s.scalars(select(RiskAlert).where(RiskAlert.kind == "collective")))
        assert len(found) == 1 and {r["alerts"][0] for r in results[2:]} == {found[0].id}
        alert = found[0]
        assert alert.evidence["petition_ids"] == ids and alert.evidence["people"] == 6
        assert alert.level == "orange" and alert.area_code == "430104" and far not in alert.evidence["petition_ids"]
        assert other.id not in alert.evidence["petition_ids"]
        assert "6 人" in alert.title_zh


def test_red_petition_alert_and_its_lifecycle(db):
    with db.transaction() as s:
        service.seed_lexicon(s)
        p, _ = register(s, title="再不给钱我就去跳楼", content="拖欠工资一年了")
        pid = p.id
    assert assess_petition(petition_id=pid)["level"] == "red"
    assess_petition(petition_id=pid)  # again: still one alert
    with db.transaction() as s:
        [alert] = alerts.list_alerts(s, kind="red_petition")
        assert alert.evidence["petition_ids"] == [pid] and alert.status == "open"
        with pytest.raises(alerts.AlertError):
            alerts.do_resolve(s, alert_id=alert.id, note=" ", actor=SUPERVISOR)
        alerts.do_acknowledge(s, alert_id=alert.id, actor=SUPERVISOR)
        alerts.do_resolve(s, alert_id=alert.id, note="已约谈，工资已垫付", actor=SUPERVISOR)
        assert alert.status == "resolved" and alert.acknowledged_by == "super"
        with pytest.raises(alerts.AlertNotFound):
            alerts.get_alert(s, 10**9)


def test_key_persons_across_channels(db):
    with db.transaction() as s:
        for channel in ("sms", "phone", "webchat", "wechat"):
            register(s, channel=channel, petitioner={"name": "老李", "phone": "13600000001"})
        register(s, petitioner={"name": "小王", "phone": "13600000002"})
        people = alerts.list_key_persons(s, since=utcnow() - timedelta(days=30))
        assert len(people) == 1
        assert people[0]["petitions"] == 4 and people[0]["channels"] == ["phone", "sms", "webchat", "wechat"]
        assert s.get(Petition, s.scalar(select(Petition.id))).petitioner_id == people[0]["petitioner_id"]


def test_bigram_similarity():
    a = alerts.bigrams("某建筑工地拖欠农民工工资")
    assert alerts.cosine(a, alerts.bigrams("某建筑工地拖欠农民工工资！！")) == pytest.approx(1.0)
    assert alerts.cosine(a, alerts.bigrams("小区路灯不亮")) == 0.0 and alerts.cosine(a, alerts.bigrams("")) == 0.0


def test_group_links_from_the_similar_case_index_join_the_group(db):
    """Differently worded petitions that routing linked as a group count towards the warning too."""
    from routing.models import SimilarLink

    start = utcnow() - timedelta(hours=30)
    texts = ["小区门口垃圾站臭气熏天", "每天早上收运车噪音太大影响休息", "垃圾中转站选址离住宅太近"]
    ids = []
    for k, text in enumerate(texts):
        with db.transaction() as s:
            p, _ = register(s, title=text, content=text, area_code="430104", now=start + timedelta(hours=k),
                            petitioner={"name": f"居民{k}", "phone": f"1350000000{k}"})
            for earlier in ids:
                s.add(SimilarLink(petition_id=p.id, similar_id=earlier, score=0.9, kind="group", rank=0))
            ids.append(p.id)
        result = assess_petition(petition_id=p.id)
    assert result["alerts"], "three people linked by the index make a group"
    with db.session() as s:
        [alert] = s.scalars(select(RiskAlert).where(RiskAlert.kind == "collective")).all()
        assert alert.evidence["petition_ids"] == ids


def test_cached_issue_similarity_equals_the_plain_cosine():
    import random

    rng = random.Random(7)
    alphabet = "物业小区停车收费噪音工地拖欠工资学校幼儿园！，。 ab"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(60)]
    for a, b in zip(texts, reversed(texts), strict=True):
        expected = alerts.cosine(alerts.bigrams(a), alerts.bigrams(b))
        assert abs(alerts._issue_similarity(a, b) - expected) < 1e-12
        assert alerts._issue_similarity(a, b) == alerts._issue_similarity(b, a)
    # The cache hands out shared vectors: comparing must not change them.
    before = dict(alerts._issue_vector(texts[0])[0])
    alerts._issue_similarity(texts[0], texts[1])
    assert dict(alerts._issue_vector(texts[0])[0]) == before
