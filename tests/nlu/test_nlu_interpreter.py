"""The interpreter end to end, and risk cues."""

from datetime import date

import pytest

from nlu.areas import AreaIndex
from nlu.interpreter import Interpreter, Parse, default_interpreter, risk_cue

AREAS = AreaIndex([
    {"code": "430100", "name": "长沙市", "level": "city", "parent_code": None},
    {"code": "430104", "name": "岳麓区", "level": "district", "parent_code": "430100"},
    {"code": "430104007", "name": "麓谷街道", "level": "street", "parent_code": "430104"},
])


@pytest.fixture(scope="module")
def interpreter():
    return default_interpreter()


def test_default_interpreter_is_shared():
    assert default_interpreter() is default_interpreter()


def test_parse_a_full_message(interpreter):
    text = ("我叫王小明，住在岳麓区麓谷街道枫林三路12号，电话１３８１２３４５６７８。從上周三開始，"
            "楼下烧烤店营业到凌晨，我们小区三十多户都受影响")
    parse = interpreter.parse(text, areas=AREAS, today=date(2026, 12, 4))
    assert isinstance(parse, Parse)
    assert parse.language == "zh"
    assert parse.intent in ("inform", "file_petition")
    assert "从上周三开始" in parse.text and "13812345678" in parse.text
    assert parse.first("name").value == "王小明"
    assert parse.first("area").value == "430104007"
    assert parse.first("address").value == "岳麓区麓谷街道枫林三路12号"
    assert parse.first("phone").value == "13812345678"
    assert parse.first("date").value == "2026-11-25"
    assert parse.first("head_count").value == 30
    assert parse.first("tracking_no") is None
    assert parse.all("phone") == [parse.first("phone")]
    assert parse.all("id_number") == []
    assert parse.risk is None
    for entity in parse.entities:
        assert parse.text[entity.start:entity.end] == entity.text


def test_parse_english(interpreter):
    parse = interpreter.parse("Hi, check the status of my case xf-20261120-000007 please", today=date(2026, 12, 4))
    assert parse.language == "en"
    assert parse.intent == "query_status"
    assert parse.first("tracking_no").value == "XF-20261120-000007"
    assert [(i, round(p, 6)) for i, p in parse.ranking][0] == (parse.intent, round(parse.confidence, 6))


def test_parse_short_answers(interpreter):
    assert interpreter.parse("转人工").intent == "human_handoff"
    parse = interpreter.parse("30个人")
    assert parse.intent == "inform"
    assert parse.first("head_count").value == 30


def test_interpreter_with_its_own_classifier():
    from nlu.intents import IntentClassifier

    custom = Interpreter(IntentClassifier({"greet": ["你好", "hello"], "inform": ["楼下很吵", "工资没发"]}))
    assert custom.parse("工资还是没发").intent == "inform"


@pytest.mark.parametrize(("text", "risk"), [
    ("再不解决我就去跳楼", "self_harm"),
    ("我真的不想活了", "self_harm"),
    ("逼得我只能喝农药了", "self_harm"),
    ("我要割腕", "self_harm"),
    ("活不下去了，想自杀", "self_harm"),
    ("I'm going to kill myself", "self_harm"),
    ("I just want to end my life", "self_harm"),
    ("大不了跟他同归于尽", "violence"),
    ("我要杀了他", "violence"),
    ("把他们公司炸了他们才知道厉害", "violence"),
    ("我要报复社会", "violence"),
    ("I will kill him if he doesn't pay", "violence"),
    ("I'm going to blow up their office", "violence"),
])
def test_risk_cues(interpreter, text, risk):
    assert risk_cue(text) == risk
    assert interpreter.parse(text).risk == risk


def test_traditional_risk_cue_is_seen_after_normalisation(interpreter):
    assert interpreter.parse("我不想活了，要去跳樓").risk == "self_harm"


@pytest.mark.parametrize("text", ["楼下餐馆油烟很大", "跳楼价甩卖的广告贴满了楼道", "老板说要开除我",
                                  "the boss killed the project", "my pension has not arrived"])
def test_no_risk(text):
    assert risk_cue(text) is None


def test_negation_is_a_known_limitation():
    # Cue phrases do not understand negation: this is flagged, and a person will look at it.
    assert risk_cue("我不会自杀的，放心") == "self_harm"
