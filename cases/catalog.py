"""Reference data of the case domain: areas, the category taxonomy and units with their duty lists."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cases.enums import AreaLevel
from cases.models import Area, Category, Unit

DEFAULT_TAXONOMY = Path(__file__).parent / "data" / "taxonomy.csv"


class CatalogError(ValueError):
    """Reference data that cannot be loaded as given."""


def list_areas(session: Session, *, level: str | None = None, parent: str | None = None) -> list[Area]:
    """List areas, optionally of one level or under one parent."""
    stmt = select(Area).order_by(Area.code)
    if level:
        stmt = stmt.where(Area.level == level)
    if parent:
        stmt = stmt.where(Area.parent_code == parent)
    return list(session.scalars(stmt))


def get_area(session: Session, code: str) -> Area | None:
    """Return an area by code."""
    return session.get(Area, code)


def upsert_areas(session: Session, rows: Iterable[dict]) -> int:
    """Insert or update areas given as dicts with code, name, level, parent_code, short_name, name_en."""
    count = 0
    for row in rows:
        level = AreaLevel(row["level"])
        area = session.get(Area, row["code"]) or Area(code=row["code"])
        area.name, area.level = row["name"], level
        area.parent_code, area.short_name = row.get("parent_code"), row.get("short_name")
        area.name_en = row.get("name_en")
        session.add(area)
        count += 1
    session.flush()
    return count


def list_units(session: Session, *, active_only: bool = True) -> list[Unit]:
    """List units ordered by code."""
    stmt = select(Unit).order_by(Unit.code)
    if active_only:
        stmt = stmt.where(Unit.active.is_(True))
    return list(session.scalars(stmt))


def get_unit_by_code(session: Session, code: str) -> Unit | None:
    """Return a unit by its code."""
    return session.scalar(select(Unit).where(Unit.code == code))


def upsert_unit(session: Session, *, code: str, name: str, level: str, name_en: str | None = None,
                parent_code: str | None = None, area_codes: Iterable[str] = (), categories: Iterable[str] = (),
                description: str = "", description_en: str | None = None) -> Unit:
    """Create or update a unit; its areas and categories must exist."""
    area_codes, categories = list(area_codes), list(categories)
    missing = [c for c in area_codes if session.get(Area, c) is None]
    if missing:
        raise CatalogError(f"unit {code}: unknown area codes {missing}")
    for name_path in categories:
        if resolve_category(session, name_path) is None:
            raise CatalogError(f"unit {code}: unknown category {name_path!r}")
    parent = None
    if parent_code:
        parent = get_unit_by_code(session, parent_code)
        if parent is None:
            raise CatalogError(f"unit {code}: unknown parent unit {parent_code}")
    unit = get_unit_by_code(session, code) or Unit(code=code)
    unit.name, unit.name_en, unit.level = name, name_en, AreaLevel(level)
    unit.parent_id = parent.id if parent else None
    unit.area_codes, unit.categories = area_codes, categories
    unit.description, unit.description_en = description, description_en
    session.add(unit)
    session.flush()
    return unit


def set_unit_active(session: Session, *, code: str, active: bool) -> Unit:
    """Switch a unit on or off; an inactive unit keeps its petitions but is no longer routed to."""
    unit = get_unit_by_code(session, code)
    if unit is None:
        raise CatalogError(f"unknown unit {code}")
    unit.active = bool(active)
    session.flush()
    return unit


def list_categories(session: Session, *, level: int | None = None) -> list[Category]:
    """List categories in code order."""
    stmt = select(Category).order_by(Category.code)
    if level:
        stmt = stmt.where(Category.level == level)
    return list(session.scalars(stmt))


def resolve_category(session: Session, ref: str) -> Category | None:
    """Find a category by code, by English or Chinese name, or by a "first/second/third" name path."""
    ref = ref.strip()
    found = session.scalar(select(Category).where(Category.code == ref))
    if found:
        return found
    parts = [p.strip() for p in ref.split("/") if p.strip()]
    if len(parts) > 1:
        parent_id = None
        node = None
        for part in parts:
            under = Category.parent_id.is_(None) if parent_id is None else Category.parent_id == parent_id
            node = session.scalar(select(Category).where(Category.name == part, under))
            if node is None:
                return None
            parent_id = node.id
        return node
    # A bare name: the shallowest match wins (first-level names are unique).
    return session.scalars(
        select(Category).where((Category.name == ref) | (func.lower(Category.name_en) == ref.lower()))
        .order_by(Category.level, Category.code)
    ).first()


def load_taxonomy(session: Session, path: Path | str = DEFAULT_TAXONOMY) -> int:
    """Load a three-level taxonomy CSV and return how many categories were added.

    Columns: ``level1,level2,level3`` with optional ``level1_en,level2_en,level3_en``; the
    Chinese column names ``一级分类,二级分类,三级分类`` are read too. Existing categories are kept.
    """
    path = Path(path)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        aliases = {"一级分类": "level1", "二级分类": "level2", "三级分类": "level3"}
        fields = {aliases.get(f, f) for f in reader.fieldnames or []}
        if "level1" not in fields:
            raise CatalogError(f"{path.name}: needs a level1 (or 一级分类) column")
        added = 0
        cache: dict[tuple, Category] = {}
        for line_no, raw in enumerate(reader, start=2):
            row = {aliases.get(k, k): (v or "").strip() for k, v in raw.items() if k}
            names = [row.get("level1", ""), row.get("level2", ""), row.get("level3", "")]
            if not names[0]:
                raise CatalogError(f"{path.name}:{line_no}: empty level1")
            if names[2] and not names[1]:
                raise CatalogError(f"{path.name}:{line_no}: level3 without level2")
            parent: Category | None = None
            for depth, name in enumerate(names, start=1):
                if not name:
                    break
                key = tuple(names[:depth])
                node = cache.get(key)
                if node is None:
                    node = session.scalar(select(Category).where(
                        Category.name == name,
                        Category.parent_id == parent.id if parent else Category.parent_id.is_(None)))
                if node is None:
                    node = Category(name=name, name_en=row.get(f"level{depth}_en") or None, level=depth,
                                    parent_id=parent.id if parent else None, code=_next_code(session, parent))
                    session.add(node)
                    session.flush()
                    added += 1
                cache[key] = node
                parent = node
    return added


def _next_code(session: Session, parent: Category | None) -> str:
    # Codes are positional: "03" is a first-level category, "03.02" its second child, and so on.
    siblings = session.scalar(select(func.count()).select_from(Category).where(
        Category.parent_id == parent.id if parent else Category.parent_id.is_(None)))
    index = f"{siblings + 1:02d}" if parent is None or parent.level < 2 else f"{siblings + 1:03d}"
    return index if parent is None else f"{parent.code}.{index}"
