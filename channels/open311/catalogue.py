"""The service catalogue: the first- and second-level categories as services, the intake slots as their attributes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from cases import catalog
from cases.models import Category

ATTRIBUTE_CODES = ("area", "demand", "head_count", "occurred_on", "previous_tracking_no")


@dataclass(frozen=True)
class Taxonomy:
    """The categories by id, by code and by parent, read once for an answer."""

    by_id: dict[int, Category]
    by_code: dict[str, Category]
    children: dict[int, list[Category]]

    def service_of(self, category: Category | None) -> Category | None:
        """Return the service a category falls under: itself up to the second level, else its ancestor there."""
        while category is not None and category.level > 2:
            category = self.by_id.get(category.parent_id)
        return category

    def service(self, code: str) -> Category | None:
        """Return the service with this code (a first- or second-level category), or None."""
        found = self.by_code.get(code.strip())
        return found if found is not None and found.level <= 2 else None


def get_taxonomy(session: Session) -> Taxonomy:
    """Load the categories by id, by code and by parent."""
    rows = catalog.list_categories(session)
    children: dict[int, list[Category]] = {}
    for c in rows:
        if c.parent_id is not None:
            children.setdefault(c.parent_id, []).append(c)
    return Taxonomy({c.id: c for c in rows}, {c.code: c for c in rows}, children)


def _bilingual(zh: str, en: str | None) -> str:
    return f"{zh} ({en})" if en else zh


def _keywords(names: Iterable[str | None]) -> str:
    seen: dict[str, None] = {}
    for name in names:
        if name:
            # Keywords are a comma separated list: a comma inside one would split it.
            seen.setdefault(re.sub(r"\s*[,，、]\s*", " ", name).strip(), None)
    return ", ".join(k for k in seen if k)


def service_out(c: Category, tax: Taxonomy) -> dict:
    """Describe a service as an entry of the service list."""
    group = c if c.level == 1 else tax.by_id[c.parent_id]
    below = tax.children.get(c.id, [])
    if c.level == 1:
        what = f"{c.name}（综合及其他）/ {c.name_en or c.name} (general and other matters)"
    else:
        what = f"{group.name} › {c.name}" + (f" / {group.name_en} › {c.name_en}" if group.name_en and c.name_en else "")
    if below:
        what += f". 包括 Includes: {'、'.join(b.name for b in below)}"
    names = [c.name, c.name_en]
    if group is not c:
        names += [group.name, group.name_en]
    for b in below:
        names += [b.name, b.name_en]
    return {"service_code": c.code, "service_name": c.name, "description": what, "metadata": True, "type": "realtime",
            "keywords": _keywords(names), "group": group.name}


def list_attributes(session: Session) -> list[dict]:
    """List the attributes every service takes: the intake slots a petition needs beyond its description."""
    districts = catalog.list_areas(session, level="district")
    return [
        {"variable": True, "code": "area", "datatype": "singlevaluelist", "required": False,
         "datatype_description": "区县代码；address_string 写明区县时可不填 / "
                                 "a district code; may be left out when address_string names the district",
         "order": 1, "description": "事发所在区县 / The district where the matter arose",
         "values": [{"key": a.code, "name": _bilingual(a.name, a.name_en)} for a in districts]},
        {"variable": True, "code": "demand", "datatype": "text", "required": False, "datatype_description": None,
         "order": 2, "description": "诉求：希望有关部门怎样解决 / What you ask the authorities to do", "values": []},
        {"variable": True, "code": "head_count", "datatype": "number", "required": False,
         "datatype_description": "整数 1–100000；5 人及以上为集体访 / a whole number from 1 to 100000; "
                                 "5 or more people make it a collective petition",
         "order": 3, "description": "反映人数 / How many people this petition is made by", "values": []},
        {"variable": True, "code": "occurred_on", "datatype": "string", "required": False,
         "datatype_description": "最好用 ISO 8601 日期，如 2026-11-30；至多 40 字 / preferably an ISO 8601 date such as "
                                 "2026-11-30; at most 40 characters",
         "order": 4, "description": "事情发生的时间 / When it happened", "values": []},
        {"variable": True, "code": "previous_tracking_no", "datatype": "string", "required": False,
         "datatype_description": "形如 XF-20260101-000001 / like XF-20260101-000001",
         "order": 5, "description": "此前就同一事项信访的编号 / The tracking number of an earlier petition on the same matter",
         "values": []},
    ]
