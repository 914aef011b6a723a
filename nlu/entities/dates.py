"""Dates, absolute and relative (去年三月, 上周五, 两个月前, last Tuesday), resolved against a given day."""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

from nlu.entities.base import Entity, Spans
from nlu.entities.numerals import EN_WORDS, ZH_NUM, parse_number

_N12 = rf"(?:\d{{1,2}}|{ZH_NUM}{{1,3}})"
_WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "末": 5}
_EN_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_EN_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m} | {
    m.lower(): i for i, m in enumerate(calendar.month_abbr) if m} | {"sept": 9}
_EN_MONTH = "|".join(sorted(_EN_MONTHS, key=len, reverse=True))
_EN_FULL_MONTH = "|".join(m.lower() for m in calendar.month_name if m)
_EN_COUNT = rf"\d+|a|an|one|a couple of|a few|{EN_WORDS}"

_DATE_PATTERNS: list[tuple[str, re.Pattern]] = [(name, re.compile(pattern, re.IGNORECASE)) for name, pattern in [
    ("ymd", rf"(?<!\d)(\d{{4}}|[〇零一二三四五六七八九]{{4}})\s*年\s*({_N12})\s*月\s*({_N12})\s*[日号]?"),
    ("ym", rf"(?<!\d)(\d{{4}}|[〇零一二三四五六七八九]{{4}})\s*年\s*({_N12})\s*月份?"),
    ("y", r"(?<!\d)(\d{4})\s*年(?!\d|代|纪|级|龄|限|月|前|来|多)"),
    ("iso", r"(?<![\d.])(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?!\d|\.\d)"),
    ("md", rf"(?<![\d年])({_N12})\s*月\s*({_N12})\s*[日号]"),
    ("rel_year", rf"(今年|去年|前年|大前年)(?:\s*({_N12})\s*月份?(?:\s*({_N12})\s*[日号])?)?"),
    ("rel_month", rf"(上上个?月|上个?月|这个月|本月|当月)(?:\s*({_N12})\s*[日号])?"),
    ("day_word", r"大前天|前天|昨天|昨日|昨晚|昨夜|今天|今日|今早|今晚"),
    ("week", r"(?<![每一二两三四五六七八九十\d])(上上个?|上个?|本|这个?)?(?:周|星期|礼拜)([一二三四五六日天末1-7])"),
    ("ago", rf"({ZH_NUM}{{1,4}}|\d{{1,3}}|半)\s*[多余]?\s*个?\s*[多余]?\s*(天|星期|礼拜|周|月|年)(半)?\s*(?:以前|之前|前)"),
    ("month", rf"(?<![\d年个第上这本每])({_N12})\s*月份?(?![\d日号份])"),
    ("en_day", r"\b(?:the day before yesterday|yesterday|today|last night|this morning|tonight)\b"),
    ("en_week", rf"\b(last|this|on|past)?\s*({'|'.join(_EN_WEEKDAYS)})\b"),
    ("en_ago", rf"\b({_EN_COUNT}|half a)\s+(day|week|month|year)s?\s+ago\b"),
    ("en_rel", r"\b(last|this|past) (month|year)\b|\bthe year before last\b"),
    ("en_mdy", rf"\b(?:on\s+)?({_EN_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s*(\d{{4}}))?"),
    ("en_dmy", rf"\b(?:on\s+)?(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_EN_MONTH})\b\.?(?:,?\s*(\d{{4}}))?"),
    ("en_my", rf"\b(?:(?:in|since|during|last|of|early|late|mid)\s+)({_EN_FULL_MONTH})\b(?:\s+(\d{{4}}))?"
              rf"|\b({_EN_FULL_MONTH})\s+(\d{{4}})\b"),
]]


def _num(text: str | None) -> int | None:
    return parse_number(text) if text else None


def _shift_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _day(year: int, month: int | None, day: int | None) -> date | None:
    try:
        return date(year, month or 0, day or 0)
    except ValueError:
        return None


def _month_value(year: int, month: int | None, today: date) -> str | None:
    if month is None or not 1 <= month <= 12 or (year, month) > (today.year, today.month):
        return None
    return f"{year:04d}-{month:02d}"


def _past(day: date | None, today: date) -> str | None:
    return day.isoformat() if day is not None and day <= today else None


def _recent(month: int | None, day: int | None, today: date) -> str | None:
    # A date without a year is this year's, or last year's when this year's has not come yet.
    found = _day(today.year, month, day)
    if found is not None and found > today:
        found = _day(today.year - 1, month, day)
    return _past(found, today)


def _recent_month(month: int | None, today: date) -> str | None:
    if month is None or not 1 <= month <= 12:
        return None
    return _month_value(today.year if month <= today.month else today.year - 1, month, today)


def _week_day(weekday: int, weeks_back: int | None, today: date) -> str | None:
    monday = today - timedelta(days=today.weekday())
    if weeks_back is None:
        # A bare weekday is the latest one on or before today.
        return (today - timedelta(days=(today.weekday() - weekday) % 7)).isoformat()
    return _past(monday - timedelta(weeks=weeks_back) + timedelta(days=weekday), today)


def _ago(count: float, unit: str, today: date) -> str | None:
    if "天" in unit or "日" in unit or unit == "day":
        return (today - timedelta(days=round(count))).isoformat()
    if "周" in unit or "星期" in unit or "礼拜" in unit or unit == "week":
        return (today - timedelta(days=round(count * 7))).isoformat()
    months = count * 12 if "年" in unit or unit == "year" else count
    if months != int(months):
        return (today - timedelta(days=round(months * 30))).isoformat()
    return _shift_months(today, -int(months)).isoformat()


def _resolve_date(kind: str, m: re.Match, today: date) -> str | None:
    g = m.groups()
    if kind == "ymd":
        year = _num(g[0])
        return _past(_day(year, _num(g[1]), _num(g[2])), today) if year else None
    if kind == "ym":
        year = _num(g[0])
        return _month_value(year, _num(g[1]), today) if year else None
    if kind == "y":
        return g[0] if 1900 <= int(g[0]) <= today.year else None
    if kind == "iso":
        return _past(_day(int(g[0]), int(g[2]), int(g[3])), today)
    if kind == "md":
        return _recent(_num(g[0]), _num(g[1]), today)
    if kind == "rel_year":
        year = today.year - {"今年": 0, "去年": 1, "前年": 2, "大前年": 3}[g[0]]
        if g[2]:
            return _past(_day(year, _num(g[1]), _num(g[2])), today)
        if g[1]:
            return _month_value(year, _num(g[1]), today)
        return str(year)
    if kind == "rel_month":
        back = 2 if g[0].startswith("上上") else 1 if g[0].startswith("上") else 0
        first = _shift_months(today.replace(day=1), -back)
        if g[1]:
            return _past(_day(first.year, first.month, _num(g[1])), today)
        return f"{first.year:04d}-{first.month:02d}"
    if kind == "day_word":
        back = {"大前天": 3, "前天": 2, "昨天": 1, "昨日": 1, "昨晚": 1, "昨夜": 1}.get(m.group(0), 0)
        return (today - timedelta(days=back)).isoformat()
    if kind == "week":
        prefix, day_char = g[0] or "", g[1]
        weekday = int(day_char) - 1 if day_char.isdigit() else _WEEKDAY[day_char]
        weeks_back = 2 if prefix.startswith("上上") else 1 if prefix.startswith("上") else 0 if prefix else None
        return _week_day(weekday, weeks_back, today)
    if kind == "ago":
        count = 0.5 if g[0] == "半" else _num(g[0])
        if count is None:
            return None
        return _ago(count + (0.5 if g[2] else 0), g[1], today)
    if kind == "month":
        return _recent_month(_num(g[0]), today)
    if kind == "en_day":
        text = m.group(0).lower()
        back = 2 if "before" in text else 1 if text in ("yesterday", "last night") else 0
        return (today - timedelta(days=back)).isoformat()
    if kind == "en_week":
        prefix = (g[0] or "").lower()
        weeks_back = 1 if prefix == "last" else 0 if prefix == "this" else None
        return _week_day(_EN_WEEKDAYS.index(g[1].lower()), weeks_back, today)
    if kind == "en_ago":
        word = g[0].lower()
        count = {"half a": 0.5, "a": 1, "an": 1, "a couple of": 2, "a few": 3}.get(word) or parse_number(word)
        return _ago(count, g[1].lower(), today) if count else None
    if kind == "en_rel":
        text = m.group(0).lower()
        if text == "the year before last":
            return str(today.year - 2)
        back = 0 if g[0].lower() == "this" else 1
        if g[1].lower() == "year":
            return str(today.year - back)
        first = _shift_months(today.replace(day=1), -back)
        return f"{first.year:04d}-{first.month:02d}"
    if kind in ("en_mdy", "en_dmy"):
        month_word, day_text = (g[0], g[1]) if kind == "en_mdy" else (g[1], g[0])
        month, day = _EN_MONTHS[month_word.lower()], int(day_text)
        return _past(_day(int(g[2]), month, day), today) if g[2] else _recent(month, day, today)
    if kind == "en_my":
        month_word, year_text = (g[0], g[1]) if g[0] else (g[2], g[3])
        month = _EN_MONTHS[month_word.lower()]
        return _month_value(int(year_text), month, today) if year_text else _recent_month(month, today)
    return None


def find_dates(text: str, today: date, found: list[Entity], taken: Spans) -> None:
    """Add the dates in text, resolved against today, to found and claim their spans."""
    hits = []
    for kind, pattern in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            if m.group(0).strip():
                hits.append((m.start(), m.end(), kind, m))
    hits.sort(key=lambda h: (h[0] - h[1], h[0]))
    for start, end, kind, m in hits:
        if not taken.free(start, end):
            continue
        value = _resolve_date(kind, m, today)
        # The span is claimed even when it gives no usable date (a future day, 2月30日), so that a
        # shorter reading inside it (the month of a future day) does not slip through.
        taken.take(start, end)
        if value is not None:
            surface = m.group(0)
            lead = len(surface) - len(surface.lstrip())
            found.append(Entity("date", value, surface.strip(), start + lead, start + lead + len(surface.strip())))
