"""Numerals read as integers: Arabic (3,000, 1.5万), Chinese (十二, 两千三百, 二〇二四) and English (twelve, a dozen)."""

from __future__ import annotations

import re

_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
              "壹": 1, "贰": 2, "叁": 3, "肆": 4, "伍": 5, "陆": 6, "柒": 7, "捌": 8, "玖": 9}
_ZH_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_ZH_BIG = {"万": 10_000, "亿": 100_000_000}
_EN_SMALL = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split())}
_EN_TENS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)}
_EN_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
EN_WORDS = "|".join(sorted([*_EN_SMALL, *_EN_TENS, *_EN_SCALES, "dozen"], key=len, reverse=True))

_APPROX_PREFIX = re.compile(r"^(?:大约|大概|约|将近|近|差不多|超过|about|around|approximately|roughly|over|more than|nearly|"
                            r"almost|some)\s*", re.IGNORECASE)
_APPROX_SUFFIX = re.compile(r"(?:多|余|来|几|左右|上下|\+|-ish)$")
_ARABIC = re.compile(r"^(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?:多|余)?([十百千万亿]*)$")

ZH_NUM = "[零〇一二两三四五六七八九十百千万亿]"


def _parse_zh(text: str) -> int | None:
    if not text or any(c not in _ZH_DIGITS and c not in _ZH_UNITS and c not in _ZH_BIG for c in text):
        return None
    if all(c in _ZH_DIGITS for c in text) and (len(text) > 2 or "〇" in text or "零" in text):
        # Read digit by digit, as years and house numbers are said: 二〇二四.
        return int("".join(str(_ZH_DIGITS[c]) for c in text))
    total = section = 0
    digit: int | None = None
    last_unit = 0
    zero = False
    seen_big: set[int] = set()
    for ch in text:
        if ch in "零〇":
            zero = True
        elif ch in _ZH_DIGITS:
            if digit is not None:
                return None
            digit = _ZH_DIGITS[ch]
        elif ch in _ZH_UNITS:
            if last_unit and _ZH_UNITS[ch] >= last_unit and last_unit < 10_000:
                return None  # units must fall within a section: 千千 or 十百 is not a number
            section += (1 if digit is None else digit) * _ZH_UNITS[ch]
            digit, last_unit, zero = None, _ZH_UNITS[ch], False
        else:
            big = _ZH_BIG[ch]
            if big in seen_big:
                return None
            seen_big.add(big)
            section += digit or 0
            total = (total + (section or 1)) * big if big > 10_000 else total + (section or 1) * big
            section, digit, last_unit, zero = 0, None, big, False
    if digit is not None:
        # 一百五 is 150 and 三万五 is 35000: a trailing digit counts in the next unit down.
        section += digit * last_unit // 10 if last_unit >= 100 and not zero else digit
    return total + section


def _parse_en(text: str) -> int | None:
    words = [w for w in re.split(r"[\s-]+", text.lower()) if w and w != "and"]
    if not words:
        return None
    total = current = 0
    seen = False
    for i, word in enumerate(words):
        if word in ("a", "an") and i + 1 < len(words) and words[i + 1] in (*_EN_SCALES, "dozen"):
            current = current or 1
        elif word in _EN_SMALL:
            current += _EN_SMALL[word]
        elif word in _EN_TENS:
            current += _EN_TENS[word]
        elif word == "dozen":
            current = (current or 1) * 12
        elif word == "hundred":
            current = (current or 1) * 100
        elif word in _EN_SCALES:
            total += (current or 1) * _EN_SCALES[word]
            current = 0
        else:
            return None
        seen = True
    return total + current if seen else None


def parse_number(text: str) -> int | None:
    """Return the integer written in text (12, 十二, 两千三百, 三十多, twelve, 3,000), or None."""
    text = _APPROX_PREFIX.sub("", (text or "").strip())
    text = _APPROX_SUFFIX.sub("", text).strip()
    if not text:
        return None
    match = _ARABIC.match(text)
    if match:
        value = float(match.group(1).replace(",", ""))
        for ch in match.group(2):
            value *= _ZH_UNITS.get(ch) or _ZH_BIG[ch]
        return int(round(value)) if abs(value - round(value)) < 1e-6 else None
    if text.isascii():
        return _parse_en(text)
    # 三十多万: the approximate word sits before the big unit.
    return _parse_zh(re.sub(r"[多余](?=[万亿])", "", text))
