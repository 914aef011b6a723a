"""The demo content: taxonomy file, Changsha divisions, units and the generated petitions."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from server.demo_data import (
    CHANNELS,
    TARGET_STATUSES,
    changsha_areas,
    demo_petitions,
    demo_units,
    valid_id_checksum,
)

TAXONOMY = Path(__file__).parents[2] / "cases" / "data" / "taxonomy.csv"
FIRST_LEVEL = ["城乡建设", "环境保护", "交通运输", "教育文体", "劳动和社会保障", "商贸旅游", "卫生计生", "农村农业",
               "政法", "民政", "党务政务", "经济管理", "纪检监察", "国土资源", "科技与信息产业"]
DISTRICTS = {"430102": "芙蓉区", "430103": "天心区", "430104": "岳麓区", "430105": "开福区", "430111": "雨花区",
             "430112": "望城区", "430121": "长沙县", "430181": "浏阳市", "430182": "宁乡市"}
NOW = datetime(2026, 3, 15, 10, 30, tzinfo=timezone(timedelta(hours=8)))


def _taxonomy_rows() -> list[dict]:
    with TAXONOMY.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _taxonomy_paths() -> set[str]:
    paths = set()
    for row in _taxonomy_rows():
        paths.add(row["level1"])
        if row["level2"]:
            paths.add(f"{row['level1']}/{row['level2']}")
    return paths


@pytest.fixture(scope="module")
def petitions() -> list[dict]:
    return demo_petitions(now=NOW)


def test_taxonomy_has_the_fifteen_first_level_categories_in_order_with_english_names():
    rows = _taxonomy_rows()
    assert list(rows[0]) == ["level1", "level1_en", "level2", "level2_en", "level3", "level3_en"]
    firsts = [r for r in rows if not r["level2"]]
    assert [r["level1"] for r in firsts] == FIRST_LEVEL
    assert all(r["level1_en"] for r in firsts)
    assert {r["level1"] for r in rows} == set(FIRST_LEVEL)


def test_taxonomy_lower_levels_have_parents_and_english_names():
    rows = _taxonomy_rows()
    seconds = {(r["level1"], r["level2"]) for r in rows if r["level2"] and not r["level3"]}
    for row in rows:
        assert not (row["level3"] and not row["level2"])
        if row["level2"]:
            assert row["level2_en"]
            assert (row["level1"], row["level2"]) in seconds
        if row["level3"]:
            assert row["level3_en"]
    per_first = Counter(first for first, _ in seconds)
    assert all(3 <= per_first[name] <= 6 for name in FIRST_LEVEL)
    thirds = Counter((r["level1"], r["level2"]) for r in rows if r["level3"])
    assert thirds and all(2 <= count <= 4 for count in thirds.values())
    # Every row is one node: no path is defined twice.
    keys = [(r["level1"], r["level2"], r["level3"]) for r in rows]
    assert len(keys) == len(set(keys))


def test_changsha_areas_have_the_nine_real_districts_and_their_streets():
    areas = changsha_areas()
    city = areas[0]
    assert (city["code"], city["name"], city["level"], city["parent_code"]) == ("430100", "长沙市", "city", None)
    districts = {a["code"]: a["name"] for a in areas if a["level"] == "district"}
    assert districts == DISTRICTS
    assert all(a["parent_code"] == "430100" for a in areas if a["level"] == "district")
    streets = [a for a in areas if a["level"] == "street"]
    assert {s["parent_code"] for s in streets} == set(DISTRICTS)
    for street in streets:
        assert street["code"].startswith(street["parent_code"]) and len(street["code"]) == 9
    codes = [a["code"] for a in areas]
    assert len(codes) == len(set(codes))


def test_street_codes_follow_dictionary_order_under_their_county():
    by_name = {(a["parent_code"], a["name"]): a for a in changsha_areas()}
    # jionlp spells it 桔子洲; it is the 11th town-level entry under 岳麓区 in the dictionary.
    assert by_name[("430104", "桔子洲街道")]["code"] == "430104011"
    assert by_name[("430104", "桔子洲街道")]["short_name"] == "桔子洲"
    assert ("430104", "麓谷街道") in by_name and ("430111", "东塘街道") in by_name
    assert ("430181", "大瑶镇") in by_name


def test_changsha_areas_returns_copies():
    first = changsha_areas()
    first[0]["name"] = "changed"
    assert changsha_areas()[0]["name"] == "长沙市"


def test_demo_units_reference_existing_areas_and_taxonomy_categories():
    units = demo_units()
    assert 18 <= len(units) <= 26
    area_codes = {a["code"] for a in changsha_areas()}
    unit_codes = [u["code"] for u in units]
    assert len(unit_codes) == len(set(unit_codes))
    paths = _taxonomy_paths()
    for unit in units:
        assert unit["code"].isascii() and unit["level"] in {"city", "district", "street"}
        assert unit["parent_code"] is None or unit["parent_code"] in unit_codes
        assert unit["area_codes"] and set(unit["area_codes"]) <= area_codes
        assert unit["categories"] and set(unit["categories"]) <= paths
        assert unit["name"] and unit["name_en"] and unit["description"] and unit["description_en"]
    assert {u["level"] for u in units} == {"city", "district", "street"}
    assert "CS-XFJ" in unit_codes
    # Every first-level category has a unit that handles it.
    handled = {c.split("/")[0] for u in units for c in u["categories"]}
    assert handled == set(FIRST_LEVEL)


def test_demo_petitions_are_deterministic_per_seed(petitions):
    assert demo_petitions(now=NOW) == petitions
    other = demo_petitions(seed=8, now=NOW)
    assert [p["content"] for p in other] != [p["content"] for p in petitions]


def test_demo_petitions_cover_categories_languages_channels_and_statuses(petitions):
    assert len(petitions) == 200
    categories = Counter(p["category"] for p in petitions)
    assert set(categories) == set(FIRST_LEVEL)
    top = [name for name, _ in categories.most_common(3)]
    assert set(top) == {"城乡建设", "劳动和社会保障", "教育文体"}
    languages = Counter(p["language"] for p in petitions)
    assert 0.2 <= languages["en"] / 200 <= 0.3 and languages["zh"] + languages["en"] == 200
    assert set(p["channel"] for p in petitions) == set(CHANNELS)
    assert set(p["target_status"] for p in petitions) == set(TARGET_STATUSES)
    paths = _taxonomy_paths()
    for p in petitions:
        assert p["subcategory"] is None or f"{p['category']}/{p['subcategory']}" in paths


def test_demo_petitions_head_counts(petitions):
    counts = [p["head_count"] for p in petitions]
    collective = [c for c in counts if c >= 5]
    assert 0.03 <= len(collective) / len(counts) <= 0.07
    assert all(5 <= c <= 80 for c in collective)
    assert counts.count(1) / len(counts) > 0.7


def test_demo_petitions_times_are_aware_and_inside_the_window(petitions):
    for p in petitions:
        received = p["received_at"]
        assert received.utcoffset() == timedelta(hours=8)
        assert NOW - timedelta(days=120) <= received <= NOW
    assert [p["received_at"] for p in petitions] == sorted(p["received_at"] for p in petitions)
    walk_ins = [p["received_at"] for p in petitions if p["channel"] == "walk_in"]
    assert all(t.weekday() < 5 and 8 <= t.hour < 18 for t in walk_ins)


def test_demo_petitions_older_ones_are_further_along(petitions):
    def mean_age(statuses):
        ages = [(NOW - p["received_at"]).days for p in petitions if p["target_status"] in statuses]
        return sum(ages) / len(ages)

    assert mean_age({"closed", "final", "review_requested"}) > mean_age({"in_progress", "assigned"}) \
        > mean_age({"registered", "accepted"})
    assert all((NOW - p["received_at"]).days <= 30 for p in petitions if p["target_status"] == "registered")


def test_demo_petitions_text_limits_and_replies(petitions):
    for p in petitions:
        assert 0 < len(p["title"]) <= 40
        assert 60 <= len(p["content"]) <= 400
        assert p["demand"]
        assert "{" not in p["title"] + p["content"] + p["demand"] + (p["reply_text"] or "")
        replied = p["target_status"] in {"replied", "closed", "review_requested", "final"}
        assert bool(p["reply_text"]) == replied
    assert len({p["content"] for p in petitions}) == len(petitions)


def test_demo_petitions_places_and_units(petitions):
    areas = {a["code"]: a for a in changsha_areas()}
    units = {u["code"]: u for u in demo_units()}
    for p in petitions:
        area = areas[p["area_code"]]
        assert area["level"] in {"district", "street"}
        district = area if area["level"] == "district" else areas[area["parent_code"]]
        chinese_prefix = district["name"] + (area["name"] if area is not district else "")
        # English petitions carry an English address, except in villages, whose names we have only in Chinese.
        assert p["address"].startswith(chinese_prefix) or (p["language"] == "en" and p["address"].endswith("Changsha"))
        unit = units[p["suggested_unit_code"]]
        if unit["code"] != "CS-XFJ":
            assert p["category"] in unit["categories"] or f"{p['category']}/{p['subcategory']}" in unit["categories"]
            jurisdiction = {p["area_code"], district["code"], "430100"}
            assert jurisdiction & set(unit["area_codes"])


def test_demo_petitions_petitioners(petitions):
    anonymous = [p for p in petitions if p["petitioner"]["name"] is None]
    assert 0.1 <= len(anonymous) / len(petitions) <= 0.2
    assert all(p["petitioner"]["phone"] is None and p["petitioner"]["id_number"] is None for p in anonymous)
    named = [p["petitioner"] for p in petitions if p["petitioner"]["name"]]
    for person in named:
        phone = person["phone"]
        assert len(phone) == 11 and phone.isdigit() and phone[:2] in {"13", "15", "18"}
    ids = [person["id_number"] for person in named if person["id_number"]]
    assert len(ids) >= 20
    for number in ids:
        assert len(number) == 18 and number[:6] in DISTRICTS
        assert valid_id_checksum(number[:17]) == number[17]
        datetime.strptime(number[6:14], "%Y%m%d")


def test_demo_petitions_hold_for_other_seeds_and_sizes():
    for seed in range(1, 6):
        batch = demo_petitions(n=120, seed=seed, now=NOW)
        assert len(batch) == 120
        assert {p["category"] for p in batch} == set(FIRST_LEVEL)
        assert {p["target_status"] for p in batch} == set(TARGET_STATUSES)
        assert all(len(p["title"]) <= 40 and 60 <= len(p["content"]) <= 400 for p in batch)
    assert demo_petitions(n=0, now=NOW) == []


def test_demo_petitions_need_an_aware_now():
    with pytest.raises(ValueError):
        demo_petitions(now=datetime(2026, 3, 15, 10, 30))


def test_valid_id_checksum_on_the_textbook_example():
    # 1*7+1*9+0*10+1*5+0*8+5*4+1*2+9*1+4*6+9*3+1*7+2*9+3*10+1*5+0*8+0*4+2*2 = 167; 167 % 11 = 2 -> "X".
    assert valid_id_checksum("11010519491231002") == "X"
    # 4*7+3*9+1*5+2*4+1*2+9*1+9*6+1*9+1*5+1*2 = 149; 149 % 11 = 6 -> "6".
    assert valid_id_checksum("43010219900101001") == "6"
    with pytest.raises(ValueError):
        valid_id_checksum("1101051949123100")
    with pytest.raises(ValueError):
        valid_id_checksum("1101051949123100X")
