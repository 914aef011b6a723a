"""Identifiers: case tracking numbers, resident ID numbers with their check character, and phone numbers."""

from __future__ import annotations

import re

from nlu.entities.base import Entity, Spans

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


def find_identifiers(text: str, found: list[Entity], taken: Spans) -> None:
    """Add the tracking numbers, valid ID numbers and phone numbers in text to found and claim their spans."""
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
