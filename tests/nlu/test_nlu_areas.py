"""The area index: names and short names in text, ambiguity, hierarchy."""

import csv
from pathlib import Path

import pytest

from nlu.areas import AreaIndex

# Real Changsha areas; street codes follow the demo data's county code + sequence form.
CHANGSHA = [
    {"code": "430100", "name": "长沙市", "level": "city", "parent_code": None, "name_en": "Changsha"},
    {"code": "430104", "name": "岳麓区", "level": "district", "parent_code": "430100", "name_en": "Yuelu District"},
    {"code": "430104007", "name": "麓谷街道", "level": "street", "parent_code": "430104"},
    {"code": "430104010", "name": "望岳街道", "level": "street", "parent_code": "430104"},
    {"code": "430111", "name": "雨花区", "level": "district", "parent_code": "430100", "name_en": "Yuhua District"},
    {"code": "430111003", "name": "东塘街道", "level": "street", "parent_code": "430111"},
    {"code": "430121", "name": "长沙县", "level": "district", "parent_code": "430100"},
    {"code": "430121001", "name": "星沙街道", "level": "street", "parent_code": "430121"},
]
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="module")
def index():
    return AreaIndex(CHANGSHA)


def codes(index, text):
    return [(ref.code, text[start:end]) for ref, start, end in index.find(text)]


def test_full_names_most_specific_first(index):
    assert codes(index, "长沙市岳麓区麓谷街道枫林三路") == [
        ("430104007", "麓谷街道"), ("430104", "岳麓区"), ("430100", "长沙市")]


def test_longest_match_wins_an_overlap(index):
    # 长沙县 contains the short form 长沙 of nothing (it is ambiguous), and must not split into 长沙 + 县.
    assert codes(index, "长沙县星沙街道") == [("430121001", "星沙街道"), ("430121", "长沙县")]


def test_short_forms_in_context(index):
    assert codes(index, "岳麓那边") == [("430104", "岳麓")]
    assert codes(index, "我住在麓谷附近") == [("430104007", "麓谷")]
    assert codes(index, "东塘的那家店") == [("430111003", "东塘")]
    assert codes(index, "雨花") == [("430111", "雨花")]
    assert codes(index, "在星沙,离家不远") == [("430121001", "星沙")]


def test_short_forms_inside_longer_words_do_not_match(index):
    assert codes(index, "周末去岳麓山") == []
    assert codes(index, "雨花亭那边") == []


def test_ambiguous_short_form_is_dropped(index):
    # 长沙 is short for both 长沙市 and 长沙县.
    assert codes(index, "我在长沙") == []
    assert index.lookup("长沙") is None
    assert index.lookup("长沙市").code == "430100"
    assert index.lookup("长沙县").code == "430121"


def test_english_names(index):
    assert codes(index, "I live in Yuelu District, near the river") == [("430104", "Yuelu District")]
    assert codes(index, "somewhere in yuhua") == [("430111", "yuhua")]
    assert codes(index, "Yueluxyz") == []
    assert codes(index, "住在Yuelu那边") == [("430104", "Yuelu")]
    assert index.lookup("yuelu").code == "430104"
    assert index.lookup("Changsha").code == "430100"


def test_lookup(index):
    assert index.lookup("岳麓区").code == "430104"
    assert index.lookup("岳麓").code == "430104"
    assert index.lookup("麓谷").code == "430104007"
    assert index.lookup("岳麓山") is None
    assert index.lookup("") is None


def test_get_path_children(index):
    assert index.get("430111").name == "雨花区"
    assert index.get("999999") is None
    assert [a.name for a in index.path("430104007")] == ["长沙市", "岳麓区", "麓谷街道"]
    assert index.path("999999") == []
    assert [a.code for a in index.children("430104")] == ["430104007", "430104010"]
    assert [a.name for a in index.children("430100")] == ["岳麓区", "雨花区", "长沙县"]
    assert index.children("430104007") == []
    ref = index.get("430104007")
    assert (ref.level, ref.parent_code) == ("street", "430104")


def test_explicit_short_name_and_missing_fields():
    index = AreaIndex([
        {"code": "430100", "name": "长沙市", "level": "city", "parent_code": None, "short_name": "星城"},
        {"code": "430102", "name": "芙蓉区", "level": "district", "parent_code": "430100", "short_name": None},
    ])
    assert index.lookup("星城").code == "430100"
    assert index.lookup("芙蓉").code == "430102"


def test_same_street_name_in_two_districts_needs_its_district():
    index = AreaIndex([*CHANGSHA,
                       {"code": "430104099", "name": "新城街道", "level": "street", "parent_code": "430104"},
                       {"code": "430111099", "name": "新城街道", "level": "street", "parent_code": "430111"}])
    assert codes(index, "新城街道") == []
    assert codes(index, "雨花区新城街道")[0] == ("430111099", "新城街道")
    assert index.lookup("新城街道") is None


def test_empty_index_and_text(index):
    assert AreaIndex([]).find("岳麓区") == []
    assert index.find("") == []


def test_thousands_of_real_areas():
    source = SHARED_DATA / "geo" / "china_adcode_centers.csv"
    if not source.exists():
        pytest.skip(f"shared geo data not found at {source.parent}")
    with source.open(encoding="utf-8") as handle:
        rows = [{"code": r["adcode"], "name": r["name"], "level": r["level"], "parent_code": r["parent_adcode"]}
                for r in csv.DictReader(handle)]
    index = AreaIndex(rows)
    assert len(index) > 3000
    text = "湖南省长沙市岳麓区的问题,还有北京市朝阳区也有"
    found = [(ref.name, ref.level) for ref, _, _ in index.find(text)]
    assert found[:2] == [("岳麓区", "district"), ("朝阳区", "district")]
    assert {name for name, _ in found} == {"湖南省", "长沙市", "岳麓区", "北京市", "朝阳区"}
    # 朝阳区 exists in Beijing and in Changchun; the Beijing one is meant here.
    chaoyang = next(ref for ref, _, _ in index.find(text) if ref.name == "朝阳区")
    assert [a.name for a in index.path(chaoyang.code)][:1] == ["北京市"]
