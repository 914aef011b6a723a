"""Quantities: head-counts (三十多户, 200 workers) and the bare numbers no other entity covers."""

from __future__ import annotations

import re

from nlu.entities.base import Entity, Spans
from nlu.entities.numerals import EN_WORDS, ZH_NUM, parse_number

_HEAD_NOUNS = "口人|人|户|名工人|工人|农民工|村民|居民|业主|家长|学生|员工|职工|老人|住户|群众|商户|人员|同事|工友|患者|租户|家庭"
_HEAD_ZH = re.compile(rf"(?<!第)(?:(上|成)([百千万])|(\d{{1,3}}(?:,\d{{3}})*|\d+|{ZH_NUM}+)([多余来几])?)\s*"
                      rf"(?:个|名|位)?\s*(?:{_HEAD_NOUNS})")
_HEAD_EN = re.compile(rf"\b(?:(?:about|around|approximately|roughly|over|more than|nearly|almost|some|at least)\s+)?"
                      rf"(\d+(?:,\d{{3}})*|(?:a\s+)?(?:(?:{EN_WORDS})(?:\s+and\s+|[\s-]+)?)+?)\+?\s+"
                      r"(?:of us|of them|people|persons|workers|migrant workers|residents|families|households|villagers|"
                      r"employees|staff|tenants|homeowners|owners|students|parents|members|colleagues|neighbou?rs|"
                      r"patients)\b", re.IGNORECASE)

_NUM_ARABIC = re.compile(r"(?<![A-Za-z\d.])(?<!\d,)(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?:\s*([多余])?([十百千万亿]+))?(?![\d])")
_NUM_ZH = re.compile(rf"(?<!第){ZH_NUM}+[多余来几]?")
_NUM_EN = re.compile(rf"\b(?:a\s+(?=hundred|thousand|dozen))?(?:(?:{EN_WORDS})\b(?:\s+and\s+|[\s-]+)?)+", re.IGNORECASE)
# A Chinese numeral only counts as a number before a measure word: 一直, 万一 and 千万 are words.
_MEASURE = re.compile(r"个|人|户|名|位|元|块|次|岁|天|年|周|月|小时|分钟|套|间|栋|层|平|米|公里|斤|吨|亩|辆|台|张|份|件|"
                      r"项|条|家|口|所|倍")
_WHOLE_NUMBER = re.compile(rf"^(?:大约|大概|约|差不多)?({ZH_NUM}+[多余来几]?)(?:个|左右|吧|啊|呀)?[。.!！?？]*$")


def find_head_counts(text: str, found: list[Entity], taken: Spans) -> None:
    """Add the head-counts in text to found and claim their spans."""
    for m in _HEAD_ZH.finditer(text):
        # 上百人 and 成千 give the round figure; otherwise the approximate word is dropped (三十多 → 30).
        if m.group(3) and m.group(3)[0] in "零〇百千万亿":
            continue  # 万人 and 千万人 are manners of speaking
        value = parse_number(m.group(3)) if m.group(3) else {"百": 100, "千": 1000, "万": 10_000}[m.group(2)]
        if value == 1 and len(text) > 12:
            continue  # 一个人 in a story is rarely a head-count; as a short answer it is
        if value and taken.free(m.start(), m.end()):
            found.append(Entity("head_count", value, m.group(0), m.start(), m.end()))
            taken.take(m.start(), m.end())
    for m in _HEAD_EN.finditer(text):
        value = parse_number(m.group(1))
        if value and taken.free(m.start(), m.end()):
            found.append(Entity("head_count", value, m.group(0), m.start(), m.end()))
            taken.take(m.start(), m.end())


def find_numbers(text: str, found: list[Entity], taken: Spans) -> None:
    """Add the numbers in text that no claimed span or found entity covers to found."""
    covered = Spans()
    covered.spans = [*taken.spans, *((e.start, e.end) for e in found)]
    for m in _NUM_ARABIC.finditer(text):
        digits = m.group(1).replace(",", "").split(".")[0]
        value = parse_number(m.group(0).replace(" ", ""))
        # Longer digit runs are account or case numbers, not quantities.
        if value is None or len(digits) > 10 or (len(digits) > 1 and digits.startswith("0")):
            continue  # long or zero-padded digit runs are codes, not quantities
        if covered.free(m.start(), m.end()):
            found.append(Entity("number", value, m.group(0), m.start(), m.end()))
    whole = _WHOLE_NUMBER.match(text.strip())
    for m in _NUM_ZH.finditer(text):
        surface = m.group(0)
        if not (whole or (surface[0] in "一二两三四五六七八九十" and surface != "一" and _MEASURE.match(text, m.end()))):
            continue
        value = parse_number(surface)
        if value is not None and covered.free(m.start(), m.end()):
            found.append(Entity("number", value, surface, m.start(), m.end()))
    for m in _NUM_EN.finditer(text):
        surface = m.group(0).rstrip(" -")
        if surface.lower() in ("one", "a") and surface.lower() != text.strip().lower():
            continue
        value = parse_number(surface)
        end = m.start() + len(surface)
        if value is not None and covered.free(m.start(), end):
            found.append(Entity("number", value, surface, m.start(), end))
