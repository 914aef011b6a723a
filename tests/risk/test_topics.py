"""Hot topics: near-duplicate petitions form one theme with telling keywords; growth against the period before."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from core.db import utcnow
from risk import topics as topics_module
from risk.topics import hot_topics, query_hot_topics, terms
from tests.cases.helpers import register

PARKING = [
    ("p1", "投诉伊景园滨河苑捆绑销售车位", "A7县伊景园滨河苑开发商强制业主购买车位，不买车位不给交房。"),
    ("p2", "伊景园滨河苑车位捆绑销售问题", "我们是广铁集团职工，伊景园滨河苑要求捆绑销售车位，每个车位十几万。"),
    ("p3", "A7县伊景园滨河苑强制捆绑车位", "伊景园滨河苑购房必须同时购买车位，这种捆绑销售合法吗？"),
    ("p4", "伊景园滨河苑捆绑销售车位何时整改", "伊景园滨河苑的车位捆绑销售至今没有整改，业主很无奈。"),
    ("p5", "再次反映伊景园滨河苑车位捆绑", "伊景园滨河苑开发商继续捆绑销售车位，请相关部门查处。"),
]
MIXER = [
    ("m1", "丽发新城附近搅拌站噪音扰民", "A2区丽发新城小区旁边的搅拌站日夜施工，噪音和粉尘严重。"),
    ("m2", "投诉丽发新城违建搅拌站", "丽发新城小区附近违建搅拌站，粉尘污染，噪音扰民。"),
    ("m3", "丽发新城搅拌站粉尘污染", "搅拌站离丽发新城小区太近，粉尘噪音影响居民休息。"),
    ("m4", "请取缔丽发新城旁搅拌站", "丽发新城业主强烈要求取缔搅拌站，噪音粉尘污染严重。"),
]
OTHERS = [
    ("o1", "A3区郝家坪小学何时改扩建", "郝家坪小学学位紧张，希望尽快改扩建。"),
    ("o2", "地铁3号线松雅湖站地下通道", "松雅湖站附近的地下通道积水严重，行人无法通行。"),
    ("o3", "人才新政购房补贴迟迟不发", "申请人才购房补贴两个月了还没有发放。"),
    ("o4", "A5区某驾校收取押金", "驾校向学员收取高额押金且不退还。"),
    ("o5", "农村自来水到户问题", "春华镇金鼎村村民希望自来水尽快通到户。"),
    ("o6", "公积金贷款额度咨询", "公积金贷款买二套房的额度是多少？"),
]


def test_terms_keep_places_and_meaningful_words():
    words = terms("A7县伊景园滨河苑捆绑销售车位，A市相关部门请处理。")
    assert "A7县" in words and "A市" in words
    assert "车位" in words and "捆绑" in words
    assert "部门" not in words and "相关" not in words and "，" not in words


def test_near_duplicates_form_themes_with_telling_keywords():
    topics = hot_topics(PARKING + MIXER + OTHERS, [], k=5)
    assert [t.size for t in topics[:2]] == [5, 4]
    assert set(topics[0].ids) == {d[0] for d in PARKING}
    assert set(topics[1].ids) == {d[0] for d in MIXER}
    assert "车位" in topics[0].keywords[:4] and "搅拌站" in topics[1].keywords[:4]
    assert len(topics[0].examples) == 3 and set(topics[0].examples) <= set(topics[0].ids)
    # Unrelated petitions stay out of the themes (singletons are not themes).
    assert all(t.size >= 2 for t in topics)
    assert not {d[0] for d in OTHERS} & {i for t in topics for i in t.ids}


def test_large_inputs_use_leader_clustering_with_the_same_themes(monkeypatch):
    monkeypatch.setattr(topics_module, "MAX_AGGLOMERATIVE", 0)
    topics = hot_topics(PARKING + MIXER + OTHERS, [], k=5)
    assert set(topics[0].ids) == {d[0] for d in PARKING} and set(topics[1].ids) == {d[0] for d in MIXER}


def test_growth_against_the_period_before_and_ranking_by_growth():
    before = [("b1", "伊景园滨河苑捆绑销售车位", "伊景园滨河苑开发商捆绑销售车位，业主不满。"),
              ("b2", "伊景园滨河苑车位问题", "伊景园滨河苑要求购房者捆绑购买车位。"),
              ("b3", "郝家坪小学扩建", "郝家坪小学什么时候扩建？")]
    topics = hot_topics(PARKING + MIXER + OTHERS, before, k=5, prior=1.0)
    parking, mixer = topics[0], topics[1]
    assert parking.earlier == 2 and parking.growth == pytest.approx((5 + 1) / (2 + 1))
    assert mixer.earlier == 0 and mixer.growth == pytest.approx(5.0)
    by_growth = hot_topics(PARKING + MIXER + OTHERS, before, k=5, rank_by="growth")
    assert set(by_growth[0].ids) == {d[0] for d in MIXER}
    assert by_growth[0].to_dict()["growth"] == 5.0


def test_heat_ranks_by_engagement_and_lets_single_messages_count():
    likes = {"o2": 2000, "m1": 3}
    topics = hot_topics(PARKING + MIXER + OTHERS, [], k=20, rank_by="heat", weights=likes, min_size=1)
    assert topics[0].ids == ("o2",) and topics[0].heat == pytest.approx(1 + math.log1p(2000))
    mixer = next(t for t in topics if "m1" in t.ids)
    assert mixer.heat == pytest.approx(4 + math.log1p(3))
    # Without weights heat is the size.
    assert all(t.heat == t.size for t in hot_topics(PARKING + MIXER + OTHERS, [], k=5))


def test_empty_or_tiny_input():
    assert hot_topics([], []) == []
    assert hot_topics([("x", "你好")], []) == []
    assert hot_topics(OTHERS, []) == []
    with pytest.raises(ValueError):
        hot_topics(PARKING, [], rank_by="likes")


def test_query_hot_topics_reads_the_last_days(db):
    now = utcnow()
    with db.transaction() as s:
        ids = [register(s, title=title, content=content, received_at=now - timedelta(days=1, hours=i))[0].id
               for i, (_, title, content) in enumerate(MIXER)]
        earlier = register(s, title=MIXER[0][1], content=MIXER[0][2], received_at=now - timedelta(days=10))[0].id
        register(s, title=OTHERS[0][1], content=OTHERS[0][2], received_at=now - timedelta(days=2))
    with db.session() as s:
        topics = query_hot_topics(s, days=7, now=now)
        assert len(topics) == 1 and set(topics[0].ids) == set(ids) and earlier not in topics[0].ids
        assert topics[0].earlier == 1 and topics[0].growth == pytest.approx((4 + 1) / (1 + 1))
