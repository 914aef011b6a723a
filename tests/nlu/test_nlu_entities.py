"""Entities: identifiers, numbers, head-counts, dates against a fixed day, places, addresses and names."""

from datetime import date

import pytest

from nlu.areas import AreaIndex
from nlu.entities import extract, id_number_valid, parse_number
from nlu.normalize import normalize

# 2026-12-04 is a Friday; its week runs from Monday 2026-11-30.
TODAY = date(2026, 12, 4)

AREAS = AreaIndex([
    {"code": "430100", "name": "长沙市", "level": "city", "parent_code": None},
    {"code": "430104", "name": "岳麓区", "level": "district", "parent_code": "430100", "name_en": "Yuelu District"},
    {"code": "430104007", "name": "麓谷街道", "level": "street", "parent_code": "430104"},
    {"code": "430111", "name": "雨花区", "level": "district", "parent_code": "430100"},
])


def found(text, **kwargs):
    return [(e.type, e.value) for e in extract(text, today=TODAY, **kwargs)]


def of_type(text, type_, **kwargs):
    return [e.value for e in extract(text, today=TODAY, **kwargs) if e.type == type_]


# Identifiers


@pytest.mark.parametrize(("text", "phone"), [
    ("我的电话是13812345678", "13812345678"),
    ("手机 138 1234 5678 随时联系", "13812345678"),
    ("call +86 139-0000-1111 please", "13900001111"),
    ("电话8613900001111", "13900001111"),
    ("座机0731-8888 8888", "073188888888"),
    ("座机0731-88888888转2", "073188888888"),
    ("(0731)88889999", "073188889999"),
])
def test_phone(text, phone):
    assert of_type(text, "phone") == [phone]


def test_phone_span_and_surface():
    (entity,) = extract("电话：138-1234-5678。")
    assert (entity.type, entity.text, entity.start, entity.end) == ("phone", "138-1234-5678", 3, 16)


def test_id_number_with_valid_checksum():
    assert found("身份证号11010519491231002x，谢谢") == [("id_number", "11010519491231002X")]
    assert found("430104199003071237") == [("id_number", "430104199003071237")]


def test_id_number_with_bad_checksum_is_not_extracted_nor_split_into_a_phone():
    assert found("身份证号430104199003071234") == []
    assert found("身份证11010519491231002Y") == []


def test_id_number_valid():
    assert id_number_valid("11010519491231002X")
    assert id_number_valid("11010519491231002x")
    assert not id_number_valid("110105194912310021")
    assert not id_number_valid("1101051949123100")
    assert not id_number_valid("1101051949123100AX")


def test_phone_is_not_taken_out_of_an_id_number():
    # Both ID numbers carry the mobile number 13800138000 inside them; the first is valid, the second not.
    assert found("身份证213800138000211236") == [("id_number", "213800138000211236")]
    assert found("身份证213800138000211230") == []


@pytest.mark.parametrize("text", ["XF-20240305-000123", "xf-20240305-000123", "XF－20240305－000123", "XF20240305000123"])
def test_tracking_number(text):
    assert found(f"编号{text}查一下") == [("tracking_no", "XF-20240305-000123")]


def test_tracking_number_after_normalisation_of_full_width_dashes():
    assert found(normalize("ｘｆ－２０２４０３０５－０００１２３")) == [("tracking_no", "XF-20240305-000123")]


def test_tracking_number_is_not_read_as_phone_or_number():
    assert found("XF-20261204-138123 的进度") == [("tracking_no", "XF-20261204-138123")]


# Numbers


@pytest.mark.parametrize(("text", "value"), [
    ("12", 12), ("3,000", 3000), ("1.5万", 15000), ("3千", 3000), ("30+", 30),
    ("零", 0), ("两", 2), ("十", 10), ("十二", 12), ("二十", 20), ("一百", 100), ("一百零五", 105), ("一百五", 150),
    ("两千三百", 2300), ("两千三", 2300), ("三千", 3000), ("五万", 50000), ("三万五", 35000), ("一万零五百", 10500),
    ("十万", 100000), ("三十多", 30), ("十几", 10), ("三十多万", 300000), ("二〇二四", 2024),
    ("twelve", 12), ("twenty-five", 25), ("one hundred and five", 105), ("a dozen", 12), ("two thousand three hundred", 2300),
    ("about 40", 40),
])
def test_parse_number(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["", "abc", "三四", "3.5", "多"])
def test_parse_number_rejects(text):
    assert parse_number(text) is None


def test_numbers_in_text():
    assert of_type("欠了三万五千块,一共12个月,工资3,000元,补贴1.5万", "number") == [35000, 12, 3000, 15000]


def test_chinese_number_words_inside_ordinary_words_are_not_numbers():
    assert of_type("一直没有人管,万一出事怎么办,我十分着急,第一次反映", "number") == []


def test_a_bare_chinese_numeral_answer_is_a_number():
    assert found("三十") == [("number", 30)]
    assert found("两百") == [("number", 200)]


def test_english_number_words():
    assert of_type("it happened twenty five times, not one", "number") == [25]


# Head-counts


@pytest.mark.parametrize(("text", "value"), [
    ("我们有30个人", 30), ("三十多户", 30), ("五十多名工人", 50), ("全村两百多人", 200), ("十几个人", 10),
    ("上百人聚集", 100), ("家里五口人", 5), ("about 40 people", 40), ("12 of us", 12), ("a dozen workers", 12),
    ("twenty-five residents", 25), ("more than 300 households", 300),
])
def test_head_count(text, value):
    assert of_type(text, "head_count") == [value]


def test_head_count_is_not_also_a_number():
    assert found("我们有30个人") == [("head_count", 30)]


# Dates, all against Friday 2026-12-04


@pytest.mark.parametrize(("text", "value"), [
    ("今天", "2026-12-04"),
    ("昨天", "2026-12-03"),
    ("前天", "2026-12-02"),
    ("上周三", "2026-11-25"),
    ("上个星期五", "2026-11-27"),
    ("本周一", "2026-11-30"),
    ("星期天", "2026-11-29"),
    ("三个月前", "2026-09-04"),
    ("两周前", "2026-11-20"),
    ("十天前", "2026-11-24"),
    ("半年前", "2026-06-04"),
    ("半个月前", "2026-11-19"),
    ("去年", "2025"),
    ("去年十月", "2025-10"),
    ("去年10月8日", "2025-10-08"),
    ("上个月", "2026-11"),
    ("上个月15号", "2026-11-15"),
    ("2024年3月5日", "2024-03-05"),
    ("二〇二四年三月五日", "2024-03-05"),
    ("2024年3月", "2024-03"),
    ("2024-03-05", "2024-03-05"),
    ("2024/3/5", "2024-03-05"),
    ("3月5日", "2026-03-05"),
    ("十月一号", "2026-10-01"),
    ("12月25日", "2025-12-25"),
    ("三月份", "2026-03"),
    ("last Wednesday", "2026-11-25"),
    ("yesterday", "2026-12-03"),
    ("the day before yesterday", "2026-12-02"),
    ("3 months ago", "2026-09-04"),
    ("two weeks ago", "2026-11-20"),
    ("a year ago", "2025-12-04"),
    ("on March 5", "2026-03-05"),
    ("on 5th March 2024", "2024-03-05"),
    ("December 25", "2025-12-25"),
    ("since October", "2026-10"),
    ("last month", "2026-11"),
    ("last year", "2025"),
])
def test_date(text, value):
    sentence = f"it began {text}." if text.isascii() else f"问题从{text}开始"
    assert of_type(sentence, "date") == [value]


@pytest.mark.parametrize("text", ["2027年1月1日", "2026年12月25日", "本周日", "this Sunday", "每周一都这样", "3个月了"])
def test_no_future_or_non_dates(text):
    assert of_type(text, "date") == []


def test_months_ago_clamps_to_month_end():
    assert [e.value for e in extract("三个月前", today=date(2026, 5, 31))] == ["2026-02-28"]


def test_date_is_not_also_a_number():
    assert found("2024年3月5日") == [("date", "2024-03-05")]


def test_default_today():
    (entity,) = extract("今天")
    assert entity.value == date.today().isoformat()


# Areas and addresses


def test_area_prefers_the_street_over_its_district():
    assert of_type("岳麓区麓谷街道", "area", areas=AREAS) == ["430104007"]


def test_area_short_form_in_context():
    assert of_type("我住岳麓那边", "area", areas=AREAS) == ["430104"]
    assert of_type("我们去岳麓山爬山", "area", areas=AREAS) == []


def test_area_english_name():
    assert of_type("I live in Yuelu District", "area", areas=AREAS) == ["430104"]


def test_two_unrelated_areas_are_both_kept():
    assert of_type("从岳麓区搬到了雨花区", "area", areas=AREAS) == ["430104", "430111"]


def test_no_areas_without_an_index():
    assert of_type("岳麓区麓谷街道", "area") == []


@pytest.mark.parametrize(("text", "address"), [
    ("我住在岳麓区麓谷街道枫林三路12号,楼下很吵", "岳麓区麓谷街道枫林三路12号"),
    ("地址是阳光小区3栋2单元501室", "阳光小区3栋2单元501室"),
    ("湖南省长沙市芙蓉区五一大道100号附近", "湖南省长沙市芙蓉区五一大道100号"),
    ("我们是星光村3组的", "星光村3组"),
    ("I live at 12 Fenglin Road, Yuelu District", "12 Fenglin Road"),
    ("No. 8 Renmin Street, Apt 502", "No. 8 Renmin Street, Apt 502"),
])
def test_address(text, address):
    assert of_type(text, "address", areas=AREAS) == [address]


def test_address_takes_in_the_area_short_form():
    assert of_type("岳麓枫林三路12号", "address", areas=AREAS) == ["岳麓枫林三路12号"]


@pytest.mark.parametrize("text", ["我家楼下餐馆油烟很大", "我们小区的物业不管", "村民反映路灯坏了", "I have 3 kids on the road"])
def test_no_address(text):
    assert of_type(text, "address", areas=AREAS) == []


def test_numbers_inside_an_address_are_not_numbers():
    assert of_type("枫林三路12号", "number") == []


# Names


@pytest.mark.parametrize(("text", "name"), [
    ("我叫张三", "张三"),
    ("你好,我叫王小明我家住在岳麓区", "王小明"),
    ("我是李四。", "李四"),
    ("我是欧阳娜娜", "欧阳娜娜"),
    ("本人王五,电话13812345678", "王五"),
    ("姓名:赵六", "赵六"),
    ("my name is John Smith and I live here", "John Smith"),
    ("I'm Jane Doe.", "Jane Doe"),
])
def test_name(text, name):
    assert of_type(text, "name") == [name]


@pytest.mark.parametrize("text", ["我是岳麓区的", "我是业主", "我是李四的邻居", "我是成都人", "本人向有关部门反映过",
                                  "本人于2024年起诉", "I'm tired of this", "I am not happy"])
def test_no_name(text):
    assert of_type(text, "name") == []


def test_entities_come_in_text_order_with_spans():
    text = "我叫张三,电话13812345678,上周三开始,我们有30个人"
    entities = extract(text, today=TODAY)
    assert [e.type for e in entities] == ["name", "phone", "date", "head_count"]
    for e in entities:
        assert text[e.start:e.end] == e.text
