"""Self-introduced names: 我叫张三, 本人李四, my name is Jane Doe."""

from __future__ import annotations

import re

from nlu.entities.base import Entity, Spans

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


def find_names(text: str, found: list[Entity], taken: Spans) -> None:
    """Add the names people give for themselves in text to found and claim their spans."""
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
