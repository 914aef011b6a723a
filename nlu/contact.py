"""What kind of contact a message is: complaint, help request, proposal, consultation, praise or report.

The six contact types of a 12345 / petition office (投诉, 求助, 建议, 咨询, 表扬, 举报) are told apart by
weighted cue phrases in Chinese and English. A citizen who names the type ("我要投诉", "咨询一下",
"I'd like to suggest") is taken at their word: such a label outweighs any number of weaker cues. A
message with no cue at all is a complaint, the commonest contact by far.

There is no labelled data for these types. bench/knowledge.py measures the rules against the type
that the board's own titles name (a title such as "咨询……" or "投诉……"), reading the message body only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from nlu.normalize import normalize


class ContactType(StrEnum):
    COMPLAINT = "complaint"
    HELP = "help"
    PROPOSAL = "proposal"
    CONSULTATION = "consultation"
    PRAISE = "praise"
    REPORT = "report"


LABELS: dict[str, tuple[str, str]] = {
    ContactType.COMPLAINT: ("投诉", "Complaint"),
    ContactType.HELP: ("求助", "Help request"),
    ContactType.PROPOSAL: ("建议", "Proposal"),
    ContactType.CONSULTATION: ("咨询", "Consultation"),
    ContactType.PRAISE: ("表扬", "Praise"),
    ContactType.REPORT: ("举报", "Report of wrongdoing"),
}
# When scores tie, the rarer and more specific type wins: a report or praise is seldom named by accident.
PRECEDENCE = (ContactType.REPORT, ContactType.PRAISE, ContactType.HELP, ContactType.PROPOSAL, ContactType.CONSULTATION,
              ContactType.COMPLAINT)
# A citizen naming the type outweighs the cues of the others (the strongest cue set below weighs 1–2).
LABEL_WEIGHT = 4.0

_F = re.IGNORECASE


def _rx(pattern: str) -> re.Pattern:
    return re.compile(pattern, _F)


def _any(*alternatives: str) -> re.Pattern:
    return _rx("|".join(alternatives))


# Labels: the citizen says what the contact is.
_LABELS: list[tuple[ContactType, re.Pattern]] = [
    (ContactType.COMPLAINT, _any(
        r"(?<!不是)投诉", r"我要控告",
        r"\b(?:i want to |i'd like to |i wish to )?(?:file |make |lodge )?an? complaint\b",
        r"\bi(?: want to|'d like to| wish to)? complain\b")),
    (ContactType.HELP, _any(r"求助", r"求救", r"求帮助", r"\bi need (?:your )?help\b", r"\bplease help\b", r"\bhelp me\b",
                            r"\basking for help\b")),
    (ContactType.PROPOSAL, _any(
        r"^(?:关于)?.{0,30}的?建议$", r"我(?:有个|有一个|想提个?|提个|想提一个|要提)建议", r"(?:提|一点|几点|一条|合理化)建议",
        r"建议书", r"\bi (?:would like to |want to |'d like to )?(?:suggest|propose)\b", r"\bmy suggestion\b",
        r"\bproposal\b")),
    (ContactType.CONSULTATION, _any(
        r"咨询", r"请问", r"想问一下", r"想问问", r"问一下", r"我想了解", r"想了解一下", r"\bi (?:have|got) a question\b",
        r"\bquick question\b", r"\bi(?:'d| would) like to (?:know|ask|enquire|inquire)\b", r"\b(?:enquiry|inquiry) about\b",
        r"\bi want to (?:know|ask)\b")),
    (ContactType.PRAISE, _any(r"表扬", r"点赞", r"赞扬", r"称赞", r"致谢", r"感谢信", r"锦旗", r"\bpraise\b", r"\bcommend\b",
                              r"\bcompliment\b")),
    (ContactType.REPORT, _any(
        r"(?<!不是)举报", r"检举", r"揭发", r"实名反映.{0,10}(?:问题|违纪|违法)",
        r"\bi (?:want to |would like to |'d like to )?report (?:an? )?(?:official|officer|corruption|bribe|fraud|illegal)",
        r"\bwhistle.?blow")),
]

# Cues: (type, weight, pattern). A cue suggests a type; several cues, or a label, decide it.
_CUES: list[tuple[ContactType, float, re.Pattern]] = [
    # Reports of wrongdoing by officials, companies or people: corruption, fraud, organised crime.
    (ContactType.REPORT, 2.0, _any(
        r"贪污", r"受贿", r"索贿", r"行贿", r"腐败", r"挪用公款", r"公款吃喝", r"违纪", r"吃空饷",
        r"套取.{0,6}(?:资金|补贴|补助)", r"骗取.{0,6}(?:补贴|补助|低保)", r"非法集资", r"传销", r"黑恶", r"涉黑", r"涉恶",
        r"保护伞", r"聚众赌博", r"赌场", r"吸毒", r"贩毒", r"卖淫", r"偷税", r"漏税", r"虚开发票",
        r"\bbrib", r"\bcorrupt", r"\bembezzl", r"\bkickback", r"\bfraud\b", r"\bgambling den\b",
        r"\bdrug dealing\b", r"\btax evasion\b")),
    (ContactType.REPORT, 1.0, _any(
        r"违规(?:操作|收受|发放|招标|审批)", r"暗箱操作", r"以权谋私", r"弄虚作假", r"冒领", r"违法犯罪", r"\babuse of power\b",
        r"\billegally (?:taking|took|received|pocket)")),
    # Praise: thanks for something done, not the polite closing "谢谢".
    (ContactType.PRAISE, 2.0, _any(
        r"(?:感谢|谢谢|非常感谢|衷心感谢|特别感谢).{0,30}(?:帮助|帮忙|热心|耐心|及时|解决了|办好了|尽职|负责|辛勤|辛苦付出)",
        r"为.{1,20}点个?赞", r"服务(?:态度)?(?:很|非常|特别)?(?:好|周到|热情)", r"好评",
        r"\bthank(?:s| you) (?:so much |very much )?(?:to .{1,40} )?for (?:helping|your help|fixing|solving|the quick|sorting)",
        r"\bgreat job\b", r"\bwell done\b", r"\bexcellent service\b", r"\bvery helpful staff\b")),
    # Help requests: hardship, urgency, someone who cannot cope alone.
    (ContactType.HELP, 2.0, _any(
        r"走投无路", r"无家可归", r"生活困难", r"家庭困难", r"无力(?:承担|支付|负担)", r"看不起病", r"没钱(?:看病|治病|吃饭|交)",
        r"急需", r"救助", r"救济", r"帮帮(?:我|我们|忙)", r"求求", r"无人照顾", r"孤寡", r"残疾.{0,6}(?:困难|无人)", r"低保",
        r"临时救助", r"大病", r"\bcan'?t afford\b", r"\bdesperate\b", r"\bhomeless\b", r"\bno money (?:for|to)\b",
        r"\bemergency\b", r"\bno one to (?:help|care)\b")),
    (ContactType.HELP, 1.0, _any(r"请(?:帮|帮助|帮忙)", r"帮忙", r"困难", r"\bplease assist\b", r"\bassistance\b", r"\bstuck\b")),
    # Proposals: what should be built, changed or added.
    (ContactType.PROPOSAL, 2.0, _any(
        r"建议", r"倡议", r"提议", r"呼吁",
        r"(?:能否|可否|是否可以|能不能|可不可以).{0,20}(?:增设|增加|设置|开通|修建|新建|延长|安装|规划|考虑|调整|开设|恢复)",
        r"希望.{0,12}(?:增设|增开|开通|修建|新建|规划|延长)", r"\bsuggest", r"\bpropos", r"\brecommend\b",
        r"\bit would be (?:great|good|better|nice) if\b", r"\bshould (?:consider|add|build|open|install)\b",
        r"\bwhy not (?:add|build|open)\b")),
    # Consultations: how, where, when, what is needed, what the policy is.
    (ContactType.CONSULTATION, 2.0, _any(
        r"(?:怎么|怎样|如何|怎么样才能|哪里可以|在哪里?|去哪里?|到哪里?)(?:才能|可以|能)?"
        r"(?:办理|办|申请|缴纳|缴|交|领取|领|查询|查|补办|转移|报名|报销|开具|开|认定|续|注销|登记|迁|落户|买|预约)",
        r"需要(?:哪些|什么|准备什么)(?:材料|手续|条件|证件|资料)", r"(?:有没有|有无|是否有)(?:相关)?(?:政策|补贴|补助|规定)",
        r"(?:政策|标准|条件|流程|程序)是(?:什么|怎样|怎么样)", r"(?:什么时候|何时)(?:可以|能|才能|开始|发放|办理|出|公布|报名)",
        r"(?:是否|能否|可否|能不能|可不可以|可以)(?:享受|办理|申请|报名|落户|领取|转|参加|入学|报销)", r"符合.{0,10}条件吗",
        r"\bhow (?:do|can|should|would) (?:i|we)\b", r"\bhow to\b", r"\bwhere (?:do|can|should) (?:i|we)\b",
        r"\bwhat (?:documents|papers|is needed|do i need)\b", r"\bdo i need\b", r"\bam i (?:eligible|entitled)\b",
        r"\bcan i (?:apply|get|claim|register|pay|transfer)\b", r"\bwhen (?:can|will|do) (?:i|we)\b",
        r"\bis there (?:a|any) (?:subsidy|policy|allowance|rule)\b")),
    (ContactType.CONSULTATION, 1.0, _any(
        r"[吗呢][？?]", r"(?:多少钱|多少|几天|多久)[？?]?$", r"是否", r"能否", r"\?$", r"？$", r"\bwhat is\b", r"\bwhat are\b",
        r"\bwhich\b", r"\bis it (?:possible|allowed|legal)\b")),
    # Complaints: something wrong that someone should put right.
    (ContactType.COMPLAINT, 2.0, _any(
        r"扰民", r"噪音", r"噪声", r"违建", r"违章搭建", r"违章建筑", r"乱收费", r"多收", r"拖欠", r"欠薪", r"不作为", r"乱作为",
        r"强拆", r"污染", r"臭味", r"油烟", r"占道", r"不退", r"拒不", r"无人管", r"没人管", r"没有人管", r"推诿",
        r"态度(?:恶劣|差|极差)", r"屡禁不止", r"多次反映", r"一直没有", r"至今未", r"\bnoise\b", r"\bnoisy\b", r"\bovercharg",
        r"\bnot paid\b", r"\bowed?\b", r"\bunpaid\b", r"\bpollut", r"\bsmell",
        r"\billegal(?:ly)? (?:built|construction|parking|dumping)\b",
        r"\bnobody (?:fixed|cares|came)\b", r"\bstill (?:not|hasn't|haven't)\b", r"\brefus(?:e|ed|es) to\b", r"\brude\b")),
    (ContactType.COMPLAINT, 1.0, _any(
        r"反映", r"问题严重", r"影响(?:居民|生活|休息|出行)", r"要求(?:处理|整改|查处|赔偿|退还)", r"严重", r"违法", r"违规",
        r"\bbroken\b", r"\bdamaged?\b", r"\bdangerous\b", r"\bunsafe\b", r"\bproblem\b")),
]

QUESTION_MARK = re.compile(r"[?？]")


@dataclass(frozen=True)
class ContactGuess:
    """The contact type of a text, how sure the rules are, and the cue phrases that decided it."""

    type: ContactType
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)
    cues: tuple[str, ...] = ()
    labelled: bool = False

    @property
    def label_zh(self) -> str:
        return LABELS[self.type][0]

    @property
    def label_en(self) -> str:
        return LABELS[self.type][1]


def _score(text: str, weight: float, scores: dict[ContactType, float], cues: list[str]) -> set[ContactType]:
    named: set[ContactType] = set()
    for kind, pattern in _LABELS:
        match = pattern.search(text)
        if match:
            scores[kind] += LABEL_WEIGHT * weight
            cues.append(match.group(0))
            named.add(kind)
    for kind, cue_weight, pattern in _CUES:
        found = pattern.findall(text)
        if found:
            # Repeats add a little: three complaints about noise are a complaint, one is a cue.
            scores[kind] += cue_weight * weight * (1 + 0.25 * min(len(found) - 1, 4))
            match = pattern.search(text)
            cues.append(match.group(0))
    return named


def classify_contact(text: str, *, title: str | None = None) -> ContactGuess:
    """Return the contact type of a message (a title, when there is one, weighs double)."""
    scores: dict[ContactType, float] = {kind: 0.0 for kind in ContactType}
    cues: list[str] = []
    named: set[ContactType] = set()
    if title:
        named |= _score(normalize(title), 2.0, scores, cues)
    body = normalize(text or "")
    # The opening sentence says what the contact is; the rest tells the story.
    opening = re.split(r"[。！!\n]|(?<=[a-z])\.\s", body, maxsplit=1)[0]
    named |= _score(opening, 1.0, scores, cues)
    if len(body) > len(opening):
        named |= _score(body[len(opening):], 0.5, scores, cues)
    best = max(scores.values())
    if best <= 0:
        return ContactGuess(ContactType.COMPLAINT, 0.4, {str(k): 0.0 for k in scores}, (), False)
    winner = next(kind for kind in PRECEDENCE if scores[kind] == best)
    total = sum(scores.values())
    confidence = round(min(0.99, 0.5 + 0.5 * best / total), 3)
    return ContactGuess(winner, confidence, {str(k): round(v, 3) for k, v in scores.items()}, tuple(dict.fromkeys(cues)),
                        winner in named)


def label(contact_type: str | None, lang: str = "zh") -> str:
    """Return a contact type's name in the language ("—" for none)."""
    if not contact_type:
        return "—"
    zh, en = LABELS.get(contact_type, (contact_type, contact_type))
    return en if lang == "en" else zh
