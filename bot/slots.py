"""The intake form's vocabulary: the order of its questions and the patterns that read answers and corrections."""

from __future__ import annotations

import re

__all__ = ["COLLECTIVE", "CORRECTION_EN", "CORRECTION_ZH", "DEMAND", "FIELD_OF", "ONE_PERSON", "ORDER", "SKIP",
           "parse_correction", "strip_opening"]

# The order of questions; optional ones may be answered with "skip".
ORDER = ("description", "area", "address", "occurred", "demand", "head_count", "previous", "previous_no", "name",
         "phone", "consent")
SKIP = re.compile(r"^\s*(跳过|不知道|不清楚|不记得|忘了|记不清|没有|无|不用|算了|skip|pass|no|none|n/?a|don'?t know|not sure|"
                  r"don'?t remember|unknown)\s*[。.!！]*\s*$", re.I)
DEMAND = re.compile(r"((?:希望|要求|请求|恳请|请|盼望|诉求是|诉求为)[^。！？!?\n]{2,120})|"
                    r"((?:I want|I would like|I'd like|please|I ask|we want|we ask|we demand)[^.!?\n]{3,200})", re.I)
CORRECTION_ZH = re.compile(r"(地址|地点|位置|时间|日期|诉求|要求|人数|姓名|名字|电话|手机|号码|问题|内容|描述)"
                           r"\s*(?:应该是|改成|改为|更正为|换成|是)\s*[:：]?\s*(.+)", re.S)
CORRECTION_EN = re.compile(r"(?:change|correct|update|set)\s+(?:the\s+|my\s+)?(address|place|location|time|date|demand|"
                           r"request|number of people|people|head ?count|name|phone|phone number|number|description|problem)"
                           r"\s+(?:to|into|as)\s+(.+)", re.I | re.S)
FIELD_OF = {"地址": "area", "地点": "area", "位置": "area", "时间": "occurred", "日期": "occurred", "诉求": "demand",
            "要求": "demand", "人数": "head_count", "姓名": "name", "名字": "name", "电话": "phone", "手机": "phone",
            "号码": "phone", "问题": "description", "内容": "description", "描述": "description", "address": "area",
            "place": "area", "location": "area", "time": "occurred", "date": "occurred", "demand": "demand",
            "request": "demand", "number of people": "head_count", "people": "head_count", "head count": "head_count",
            "headcount": "head_count", "name": "name", "phone": "phone", "phone number": "phone", "number": "phone",
            "description": "description", "problem": "description"}
ONE_PERSON = re.compile(r"(就我|只有我|我自己|本人|我一个|一个人|just me|only me|myself|^\s*one\s*$)", re.I)
COLLECTIVE = 5


def parse_correction(text: str) -> tuple[str | None, str]:
    """Return the slot a correction names and its new value, or (None, "") when the text is not one."""
    for pattern in (CORRECTION_ZH, CORRECTION_EN):
        match = pattern.search(text)
        if match:
            key = match.group(1).lower()
            return FIELD_OF.get(key) or FIELD_OF.get(key.strip()), match.group(2).strip()
    return None, ""


def strip_opening(text: str) -> str:
    """Remove the opening words ("我要投诉", "I want to complain") so that only the account remains."""
    return re.sub(r"^(你好|您好)?[，,]?\s*(我要|我想|想要)?(投诉|反映|举报|信访|求助|反映一个问题|反映问题|i want to (file|make) "
                  r"a (complaint|petition)|i'd like to (complain|report)|i want to complain)[：:，,。.!！]?\s*", "",
                  text, flags=re.I).strip()
