"""Normalisation (width, script, whitespace) and language detection."""

import pytest

from nlu.normalize import detect_language, normalize, to_simplified


def test_full_width_letters_digits_and_punctuation_become_half_width():
    assert normalize("ＡＢＣ１２３，电话：１３８００００００００！") == "ABC123,电话:13800000000!"


def test_full_width_dashes_and_ideographic_space():
    assert normalize("XF－20240305－000123\u3000好的") == "XF-20240305-000123 好的"


@pytest.mark.parametrize(("traditional", "simplified"), [
    ("我們", "我们"),
    ("臺灣", "台湾"),
    ("舉報", "举报"),
    ("這裡", "这里"),
    ("我們要舉報這裡的違章建築", "我们要举报这里的违章建筑"),
    ("對答覆不滿意，申請覆核", "对答复不满意,申请复核"),
])
def test_traditional_becomes_simplified(traditional, simplified):
    assert normalize(traditional) == simplified


def test_simplified_text_is_left_alone():
    # 著, 乾 and 覆 are also ordinary simplified characters; converting them would corrupt these words.
    text = "著名的乾坤大厦覆盖了整个街区"
    assert to_simplified(text) == text


def test_whitespace_is_collapsed_and_stripped():
    assert normalize("  我要\t\t投诉 \n\n 噪音  ") == "我要 投诉 噪音"


def test_emoji_is_kept():
    assert normalize("谢谢👍😀") == "谢谢👍😀"


def test_empty_text():
    assert normalize("") == ""
    assert normalize("   ") == ""


@pytest.mark.parametrize(("text", "language"), [
    ("我家楼下餐馆油烟很大", "zh"),
    ("my boss has not paid me", "en"),
    ("Hello", "en"),
    ("我的case怎么样了", "zh"),
    ("我要投诉 my landlord", "zh"),
    ("I live in 岳麓区", "en"),
    ("OK好的", "zh"),
    ("A栋3单元", "zh"),
    ("XF-20260301-000002", "zh"),
    ("check XF-20260301-000002 please", "en"),
    ("😀👍", "zh"),
    ("13812345678", "zh"),
    ("", "zh"),
])
def test_detect_language(text, language):
    assert detect_language(text) == language
