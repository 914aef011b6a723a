"""Entities in one message: identifiers, numbers, head-counts, dates, places and self-introductions.

Spans index into the text as given; pass ``normalize()``d text so that full-width digits and traditional
characters are handled. Identifiers are found first and their spans are closed to the later patterns, so
a phone number is never read out of an ID number and a tracking number never yields a number. A `number`
is only reported where no other entity covers it.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nlu.areas import AreaIndex


@dataclass(frozen=True)
class Entity:
    """One fact found in a message: its type, normalised value, surface text and span."""

    type: str
    value: object
    text: str
    start: int
    end: int


_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
              "壹": 1, "贰": 2, "叁": 3, "肆": 4, "伍": 5, "陆": 6, "柒": 7, "捌": 8, "玖": 9}
_ZH_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_ZH_BIG = {"万": 10_000, "亿": 100_000_000}
_EN_SMALL = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split())}
_EN_TENS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)}
_EN_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_EN_WORDS = "|".join(sorted([*_EN_SMALL, *_EN_TENS, *_EN_SCALES, "dozen"], key=len, reverse=True))

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


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number_valid(value: str) -> bool:
    """Return whether value is an 18-character resident ID number with a correct GB 11643 check character."""
    value = (value or "").upper()
    if len(value) != 18 or not value[:17].isdigit() or not (value[17].isdigit() or value[17] == "X"):
        return False
    remainder = sum(int(c) * w for c, w in zip(value[:17], _ID_WEIGHTS, strict=True)) % 11
    return "10X98765432"[remainder] == value[17]


_DASH = r"[-－—–_ ]?"
_TRACKING = re.compile(rf"(?<![A-Za-z0-9])XF{_DASH}(\d{{8}}){_DASH}(\d{{6}})(?!\d)", re.IGNORECASE)
_ID = re.compile(r"(?<![A-Za-z0-9])\d{17}[\dXx](?![A-Za-z0-9])")
_MOBILE = re.compile(r"(?<![\d+])(?:(?:\+|00)?86[\s-]?)?(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(?:\((0[1-9]\d{1,2})\)|(0[1-9]\d{1,2}))[\s-]?([1-9]\d{2,3})[\s-]?(\d{4})(?!\d)")

_N12 = rf"(?:\d{{1,2}}|{ZH_NUM}{{1,3}})"
_WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "末": 5}
_EN_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_EN_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m} | {
    m.lower(): i for i, m in enumerate(calendar.month_abbr) if m} | {"sept": 9}
_EN_MONTH = "|".join(sorted(_EN_MONTHS, key=len, reverse=True))
_EN_FULL_MONTH = "|".join(m.lower() for m in calendar.month_name if m)
_EN_COUNT = rf"\d+|a|an|one|a couple of|a few|{_EN_WORDS}"

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


_HEAD_NOUNS = "口人|人|户|名工人|工人|农民工|村民|居民|业主|家长|学生|员工|职工|老人|住户|群众|商户|人员|同事|工友|患者|租户|家庭"
_HEAD_ZH = re.compile(rf"(?<!第)(?:(上|成)([百千万])|(\d{{1,3}}(?:,\d{{3}})*|\d+|{ZH_NUM}+)([多余来几])?)\s*"
                      rf"(?:个|名|位)?\s*(?:{_HEAD_NOUNS})")
_HEAD_EN = re.compile(rf"\b(?:(?:about|around|approximately|roughly|over|more than|nearly|almost|some|at least)\s+)?"
                      rf"(\d+(?:,\d{{3}})*|(?:a\s+)?(?:(?:{_EN_WORDS})(?:\s+and\s+|[\s-]+)?)+?)\+?\s+"
                      r"(?:of us|of them|people|persons|workers|migrant workers|residents|families|households|villagers|"
                      r"employees|staff|tenants|homeowners|owners|students|parents|members|colleagues|neighbou?rs|"
                      r"patients)\b", re.IGNORECASE)

_NUM_ARABIC = re.compile(r"(?<![A-Za-z\d.])(?<!\d,)(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?:\s*([多余])?([十百千万亿]+))?(?![\d])")
_NUM_ZH = re.compile(rf"(?<!第){ZH_NUM}+[多余来几]?")
_NUM_EN = re.compile(rf"\b(?:a\s+(?=hundred|thousand|dozen))?(?:(?:{_EN_WORDS})\b(?:\s+and\s+|[\s-]+)?)+", re.IGNORECASE)
# A Chinese numeral only counts as a number before a measure word: 一直, 万一 and 千万 are words.
_MEASURE = re.compile(r"个|人|户|名|位|元|块|次|岁|天|年|周|月|小时|分钟|套|间|栋|层|平|米|公里|斤|吨|亩|辆|台|张|份|件|"
                      r"项|条|家|口|所|倍")
_WHOLE_NUMBER = re.compile(rf"^(?:大约|大概|约|差不多)?({ZH_NUM}+[多余来几]?)(?:个|左右|吧|啊|呀)?[。.!！?？]*$")

_SURNAMES = ("欧阳 司马 诸葛 上官 东方 皇甫 尉迟 公孙 慕容 令狐 夏侯 " + " ".join(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石"
    "廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂"
    "章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶"
    "解牟艾尤阳时穆司卓古吉缪简车项连麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师仇栾隋商刁沙荣巫寇桑郎甄"
    "丛仲虞敖巩明佘池查麻苑迟邝")).split()
_SURNAME_PREFIXES = tuple(_SURNAMES)
_NAME_STOP = set("我你他她它们的了是在和与吗呢吧啊呀哦嗯这那个人区县市镇村省家员者长工师生不没也都就才还被把过辆报已")
_NAME_FOLLOW = ("我", "住", "家住", "电话", "手机", "联系", "身份证", "今年", "来自", "现住", "户籍", "是", "不是", "在", "想",
                "要", "男", "女", "系")
# Surnames that are also everyday words (曾经, 车辆, 向, 于): after 本人 or 我是 they usually start a sentence.
_WEAK_SURNAMES = frozenset("曾车向于和成时明全应连党路关常安单查解师商从都也就万")
_NAME_ZH = re.compile(r"(?:我叫|我的名字[是叫]|名字[是叫]|本人|姓名[是为]?[:：]?\s*|我是)([\u4e00-\u9fff]{2,8})")
_PUNCT_END = re.compile(r"[\s,.;:!?，。；：！？、)）~～…]|$")
_NAME_EN = re.compile(r"\b(?:(?i:my name is|my name's|call me)\s+([A-Za-z][A-Za-z'.-]*(?:\s+[A-Za-z][A-Za-z'.-]*){0,2})"
                      r"|(?i:i'm|i am|this is)\s+([A-Z][a-z'-]+(?:\s+[A-Z][a-z'-]+){0,2}))")
_EN_NAME_STOP = {"and", "i", "my", "from", "phone", "number", "live", "living", "calling", "here", "in", "at", "the", "a",
                 "an", "not", "very", "so", "just", "writing", "with", "to", "is", "it", "but", "because", "mobile", "tel",
                 "please", "sorry", "angry", "upset", "worried", "chinese", "english", "going", "trying", "still"}

# Chinese addresses are read as a chain of segments, each a name and a marker: 岳麓|区 麓谷|街道 枫林三|路 12|号.
# Pronouns, verbs and particles end a name. Lookaheads keep common words (市场, 路灯, 村民, 街坊) out.
_ADDR_STOPS = ("我你他她它们的了是在住有要想去来把被给让对向从到离就都也还很太说叫和与及或但而吗呢吧啊呀哦嗯家楼"
               "隔壁旁边对面附近该本这那每各个条些全整次多为于以并且又再才只等将已")
_ADDR_NAME_CH = re.compile(r"[^\s,.;:!?()\[\]{}<>\"'、，。；：？！（）《》【】「」“”‘’…~～/\\|" + _ADDR_STOPS + "]")
_ADDR_NUMBER_CH = re.compile(r"[0-9A-Za-z一二三四五六七八九十百零〇两-]")
_ADDR_MARKER = re.compile(
    r"(?P<admin>街道办事处|街道|省(?!份|心|钱|级|委|里|内|外)|市(?!场|民|政|委|级|容|面|值|里)|区(?!域|别|分|委|间)|"
    r"县(?!城|里|委|级)|镇(?!上|里|压|静)|乡(?!下|里|亲|镇|村|土))"
    r"|(?P<number>号楼|号院|号|栋|幢|单元|室|楼|层|座|组|期)"
    r"|(?P<strong>大道|大街|路(?!灯|费|线|过|途|径|人|子|口)|街(?!道|坊|头|上|办)|巷|弄|胡同|小区|花园|新村|"
    r"社区(?!医院|卫生|服务)|村(?!民|委|干部|里|长|支书|集体|口)|公寓|大厦|家园|苑)")
_ADDR_CUE = re.compile(r"(?:住在|住址|地址|位于|家住|坐落于|坐落在|门牌|现住|居住在|住|在|到|于|至)(?:是|为)?[:：]?\s*$")
# Ordinary words that end in a marker: 农村 is the countryside and 公路 a highway, not places with a name.
_ADDR_WORDS = frozenset("农村 乡村 山村 渔村 公路 道路 马路 线路 铁路 水路 门路 出路 思路 套路 活路 走路 修路 过路 来路 "
                        "去路 退路 后路 上街 逛街 临街 沿街 满街 玩弄 捉弄 摆弄 愚弄 糊弄 戏弄 作弄 似公寓 米公寓 租公寓".split())
_ADDR_TAIL = re.compile(r"\d+[A-Za-z]?(?!\w)")
_ARABIC_DIGIT = re.compile(r"[0-9A-Za-z]")
_DIGIT = re.compile(r"\d")
_ADDRESS_EN = re.compile(r"\b(?:No\.?\s*)?\d+[A-Za-z]?,?\s+((?:[A-Za-z][A-Za-z'-]*\s+){1,3})"
                         r"(?:Road|Rd|Street|St|Avenue|Ave|Lane|Ln|Boulevard|Blvd|Drive|Dr|Way|Court|Ct|Place|Pl|Alley)\b\.?"
                         r"(?:,?\s*(?:Apt|Apartment|Unit|Room|Rm|Building|Bldg|Suite)\.?\s*#?\w+)?", re.IGNORECASE)
_EN_ADDR_STOP = {"i", "we", "my", "our", "the", "a", "an", "on", "in", "at", "of", "and", "to", "for", "kids", "people",
                 "years", "days", "months", "times", "cars", "is", "are", "was", "were", "live", "lives", "lived"}


class _Spans:
    """Spans already claimed by an entity that later patterns must not overlap."""

    def __init__(self) -> None:
        self.spans: list[tuple[int, int]] = []

    def free(self, start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in self.spans)

    def take(self, start: int, end: int) -> None:
        self.spans.append((start, end))


def _identifiers(text: str, found: list[Entity], taken: _Spans) -> None:
    for m in _TRACKING.finditer(text):
        found.append(Entity("tracking_no", f"XF-{m.group(1)}-{m.group(2)}", m.group(0), m.start(), m.end()))
        taken.take(m.start(), m.end())
    for m in _ID.finditer(text):
        if not taken.free(m.start(), m.end()):
            continue
        # An 18-digit run with a bad check character is closed to phones and numbers all the same.
        taken.take(m.start(), m.end())
        if id_number_valid(m.group(0)):
            found.append(Entity("id_number", m.group(0).upper(), m.group(0), m.start(), m.end()))
    for pattern in (_MOBILE, _LANDLINE):
        for m in pattern.finditer(text):
            if taken.free(m.start(), m.end()):
                digits = "".join(g for g in m.groups() if g)
                found.append(Entity("phone", digits, m.group(0), m.start(), m.end()))
                taken.take(m.start(), m.end())


def _dates(text: str, today: date, found: list[Entity], taken: _Spans) -> None:
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


def _head_counts(text: str, found: list[Entity], taken: _Spans) -> None:
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


def _areas(text: str, areas: AreaIndex, mentions: list, found: list[Entity], taken: _Spans) -> None:
    mentions = [(ref, s, e) for ref, s, e in mentions if taken.free(s, e)]
    codes = [ref.code for ref, _, _ in mentions]
    for ref, start, end in mentions:
        # A street beats its district: an ancestor of another mention adds nothing.
        if not any(areas.is_ancestor(ref.code, other) for other in codes if other != ref.code):
            found.append(Entity("area", ref.code, text[start:end], start, end))


@dataclass(frozen=True)
class _Segment:
    """One name + marker piece of a Chinese address (枫林三 + 路)."""

    start: int
    end: int
    kind: str  # admin | strong | number
    name: str


def _segments(text: str) -> list[_Segment]:
    segments: list[_Segment] = []
    floor = 0
    for m in _ADDR_MARKER.finditer(text):
        kind = m.lastgroup or "strong"
        chars = _ADDR_NUMBER_CH if kind == "number" else _ADDR_NAME_CH
        start = m.start()
        while start > floor and chars.match(text[start - 1]):
            start -= 1
        segments.append(_Segment(start, m.end(), kind, text[start:m.start()]))
        floor = m.end()
    return segments


def _segment_ok(segment: _Segment, text: str, leading: bool) -> bool:
    size = len(segment.name)
    if any(text[segment.end - len(word):segment.end] == word for word in _ADDR_WORDS if len(word) <= segment.end - segment.start):
        return False
    if segment.kind == "admin":
        return (2 if leading else 1) <= size <= 4
    if segment.kind == "strong":
        return (2 if leading else 1) <= size <= 6
    # A house number opens an address only in Arabic digits: 一栋楼 is "a building".
    return 1 <= size <= 6 and (not leading or _ARABIC_DIGIT.search(segment.name) is not None)


def _chains(text: str) -> list[list[_Segment]]:
    chains: list[list[_Segment]] = []
    current: list[_Segment] = []
    for segment in _segments(text):
        if current and segment.start == current[-1].end and _segment_ok(segment, text, leading=False):
            current.append(segment)
            continue
        if current:
            chains.append(current)
        current = [segment] if _segment_ok(segment, text, leading=True) else []
    if current:
        chains.append(current)
    return chains


def _zh_addresses(text: str, mentions: list) -> list[tuple[int, int]]:
    spans = []
    whole = text.strip(" ,.;:!?。，；：！？")
    for chain in _chains(text):
        start, end = chain[0].start, chain[-1].end
        tail = _ADDR_TAIL.match(text, end)
        end = tail.end() if tail else end
        kinds = [segment.kind for segment in chain]
        if "admin" in kinds and "strong" not in kinds and "number" not in kinds:
            continue  # 岳麓区麓谷街道 is an area, not an address
        anchored = False
        for s, e in mentions:
            # A configured area at or just before the start anchors the address and belongs to it.
            if s <= start < e or e == start or start <= s < chain[0].end:
                start, anchored = min(start, s), True
        # A lone 25号 is as likely the 25th of the month as a house number.
        numbered = any(seg.kind == "number" and _DIGIT.search(seg.name) for seg in chain) and (
            len(chain) > 1 or text[chain[0].end - 1] in "栋幢元院")
        # The whole message (give or take a cue such as 地址是) is an answer to "where?".
        answer = whole.endswith(text[start:end]) and len(whole) - (end - start) <= 4
        cued = _ADDR_CUE.search(text, 0, start) is not None
        if anchored or numbered or answer or cued or ("admin" in kinds and "strong" in kinds) or kinds.count("strong") >= 2:
            spans.append((start, end))
    return spans


def _addresses(text: str, mentions: list, found: list[Entity], taken: _Spans) -> None:
    spans = _zh_addresses(text, [(s, e) for _, s, e in mentions])
    for m in _ADDRESS_EN.finditer(text):
        if not any(w.lower() in _EN_ADDR_STOP for w in m.group(1).split()):
            spans.append((m.start(), m.end()))
    for start, end in spans:
        if end - start >= 3 and taken.free(start, end):
            found.append(Entity("address", text[start:end], text[start:end], start, end))
            taken.take(start, end)


def _zh_name(candidate: str, after: str, strict: bool, weak_ok: bool = True) -> str | None:
    if not weak_ok and candidate[:1] in _WEAK_SURNAMES:
        return None
    for size in range(min(4, len(candidate)), 1, -1):
        name, rest = candidate[:size], candidate[size:] + after
        ok_end = _PUNCT_END.match(rest) is not None if strict else (
            _PUNCT_END.match(rest) is not None or rest.startswith(_NAME_FOLLOW))
        if strict and size != len(candidate):
            continue
        if ok_end and name.startswith(_SURNAME_PREFIXES) and not any(c in _NAME_STOP for c in name):
            return name
    return None


def _names(text: str, found: list[Entity], taken: _Spans) -> None:
    for m in _NAME_ZH.finditer(text):
        cue = m.group(0)
        strict = cue.startswith("我是")
        name = _zh_name(m.group(1), text[m.end():], strict, weak_ok=not (strict or cue.startswith("本人")))
        start = m.start(1)
        if name and taken.free(start, start + len(name)):
            found.append(Entity("name", name, name, start, start + len(name)))
            taken.take(start, start + len(name))
    for m in _NAME_EN.finditer(text):
        group = 1 if m.group(1) else 2
        words = m.group(group).split()
        kept: list[str] = []
        for word in words:
            if word.lower().strip(".") in _EN_NAME_STOP:
                break
            kept.append(word.rstrip("."))
        if kept:
            start = m.start(group)
            end = start + len(" ".join(kept))
            if text[start:end] == " ".join(kept) and taken.free(start, end):
                found.append(Entity("name", " ".join(kept), text[start:end], start, end))
                taken.take(start, end)


def _numbers(text: str, found: list[Entity], taken: _Spans) -> None:
    covered = _Spans()
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


def extract(text: str, *, areas: AreaIndex | None = None, today: date | None = None) -> list[Entity]:
    """Return the entities found in text, ordered by position."""
    text = text or ""
    found: list[Entity] = []
    taken = _Spans()
    _identifiers(text, found, taken)
    _dates(text, today or date.today(), found, taken)
    _head_counts(text, found, taken)
    mentions = areas.find(text) if areas is not None else []
    if areas is not None:
        _areas(text, areas, mentions, found, taken)
    _addresses(text, mentions, found, taken)
    _names(text, found, taken)
    _numbers(text, found, taken)
    found.sort(key=lambda e: (e.start, -e.end))
    return found

