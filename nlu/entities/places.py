"""Places: configured areas and street addresses, Chinese (岳麓区麓谷街道枫林三路12号) and English."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nlu.entities.base import Entity, Spans

if TYPE_CHECKING:
    from nlu.areas import AreaIndex

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


def find_areas(text: str, areas: AreaIndex, mentions: list, found: list[Entity], taken: Spans) -> None:
    """Add the free area mentions in text to found, dropping any that is an ancestor of another."""
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


def find_addresses(text: str, mentions: list, found: list[Entity], taken: Spans) -> None:
    """Add the street addresses in text to found and claim their spans."""
    spans = _zh_addresses(text, [(s, e) for _, s, e in mentions])
    for m in _ADDRESS_EN.finditer(text):
        if not any(w.lower() in _EN_ADDR_STOP for w in m.group(1).split()):
            spans.append((m.start(), m.end()))
    for start, end in spans:
        if end - start >= 3 and taken.free(start, end):
            found.append(Entity("address", text[start:end], text[start:end], start, end))
            taken.take(start, end)
