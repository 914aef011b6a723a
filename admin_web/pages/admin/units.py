"""Admin pages for units and their duty lists (/admin/units)."""

from __future__ import annotations

import re

from fastapi import Request
from sqlalchemy.orm import Session

from admin_web.pages.admin.common import (
    LEVEL_LABELS,
    Admin,
    FormError,
    Text,
    _check,
    _checked,
    _done,
    _length,
    _not_found,
    _page,
    router,
)
from cases import catalog
from cases.models import Unit
from core.web import transaction

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
LIST_SEPARATORS = re.compile(r"[,，、;；\s]+")


def _unit_form(unit: Unit | None) -> dict:
    if unit is None:
        return {"code": "", "name": "", "name_en": "", "level": "district", "parent": "", "area_codes": "",
                "categories": "", "description": "", "description_en": "", "active": True}
    return {"code": unit.code, "name": unit.name, "name_en": unit.name_en or "", "level": unit.level,
            "parent": unit.parent.code if unit.parent else "", "area_codes": ", ".join(unit.area_codes or []),
            "categories": ", ".join(unit.categories or []), "description": unit.description or "",
            "description_en": unit.description_en or "", "active": unit.active}


def _unit_context(session: Session, unit: Unit | None) -> dict:
    units = catalog.list_units(session, active_only=False)
    # A unit cannot sit under itself or under one of its own sub-units.
    excluded = _descendants(units, unit) if unit else set()
    return {"unit": unit, "parents": [u for u in units if u.id not in excluded],
            "first_level": catalog.list_categories(session, level=1),
            "districts": [a for a in catalog.list_areas(session) if a.level in ("city", "district")]}


def _descendants(units: list[Unit], unit: Unit) -> set[int]:
    found, frontier = {unit.id}, [unit.id]
    while frontier:
        children = [u.id for u in units if u.parent_id in frontier and u.id not in found]
        found.update(children)
        frontier = children
    return found


def _category_ref(session: Session, ref: str) -> str | None:
    # Duty lists hold first-level names or "一级/二级" paths: the router matches exactly those two forms.
    node = catalog.resolve_category(session, ref)
    if node is None or node.level > 2:
        return None
    return node.name if node.level == 1 else f"{node.parent.name}/{node.name}"


def _unit_values(session: Session, form: dict, unit: Unit | None) -> dict:
    problems: list[tuple[str, str]] = []
    code = unit.code if unit else (form["code"] or "").strip()
    if unit is None:
        if not CODE.match(code) or code.lower() == "new":
            problems.append(("单位代码须为 1–40 位字母、数字、连字符或下划线",
                             "The unit code must be 1–40 letters, digits, - or _"))
        elif catalog.get_unit_by_code(session, code) is not None:
            problems.append((f"单位代码 {code} 已存在", f"Unit code {code} is already taken"))
    name = _length(form["name"], ("单位名称", "The name"), 1, 200, problems)
    name_en = _length(form["name_en"], ("英文名称", "The English name"), 0, 300, problems)
    level = form["level"]
    if level not in LEVEL_LABELS:
        problems.append(("请选择单位层级", "Choose the unit's level"))
    parent_code = (form["parent"] or "").strip()
    if parent_code:
        parent = catalog.get_unit_by_code(session, parent_code)
        if parent is None:
            problems.append((f"上级单位 {parent_code} 不存在", f"No parent unit {parent_code}"))
        elif unit is not None and parent.id in _descendants(catalog.list_units(session, active_only=False), unit):
            problems.append(("上级单位不能是本单位或其下级单位", "The parent cannot be the unit itself or one of its sub-units"))
    area_codes = [c for c in LIST_SEPARATORS.split(form["area_codes"] or "") if c]
    unknown = [c for c in area_codes if catalog.get_area(session, c) is None]
    if unknown:
        problems.append((f"未知的区划代码：{'、'.join(unknown)}", f"Unknown area codes: {', '.join(unknown)}"))
    if not area_codes:
        problems.append(("请至少填写一个管辖区划代码", "Give at least one area code of the jurisdiction"))
    categories, bad = [], []
    for ref in (r.strip() for r in re.split(r"[,，、;；\n]+", form["categories"] or "")):
        if not ref:
            continue
        found = _category_ref(session, ref)
        if found is None:
            bad.append(ref)
        elif found not in categories:
            categories.append(found)
    if bad:
        problems.append((f"未知的分类：{'、'.join(bad)}（请填写一级分类名称或“一级/二级”）",
                         f"Unknown categories: {', '.join(bad)} (give first-level names or \"first/second\")"))
    description = _length(form["description"], ("职责清单", "The duty list"), 0, 5000, problems)
    description_en = _length(form["description_en"], ("英文职责清单", "The English duty list"), 0, 5000, problems)
    _check(problems)
    return {"code": code, "name": name, "name_en": name_en or None, "level": level, "parent_code": parent_code or None,
            "area_codes": list(dict.fromkeys(area_codes)), "categories": categories, "description": description,
            "description_en": description_en or None}


def _save_unit(session: Session, form: dict, unit: Unit | None) -> Unit:
    values = _unit_values(session, form, unit)
    try:
        # The unit keeps its id: petitions, assignments and users that point at it are untouched.
        saved = catalog.upsert_unit(session, **values)
        return catalog.set_unit_active(session, code=saved.code, active=form["active"])
    except catalog.CatalogError as exc:
        raise FormError(("无法保存单位：" + str(exc), "Cannot save the unit: " + str(exc))) from None


def _unit_form_in(code: str, name: str, name_en: str, level: str, parent: str, area_codes: str, categories: str,
                  description: str, description_en: str, active: str) -> dict:
    return {"code": code, "name": name, "name_en": name_en, "level": level, "parent": parent, "area_codes": area_codes,
            "categories": categories, "description": description, "description_en": description_en,
            "active": _checked(active)}


@router.get("/admin/units", include_in_schema=False)
def units(request: Request, console: Admin):
    """List every unit with its jurisdiction and duty list."""
    with transaction(request) as session:
        rows = catalog.list_units(session, active_only=False)
        codes = {c for u in rows for c in (u.area_codes or [])}
        areas = {c: catalog.get_area(session, c) for c in codes}
        return _page(request, "admin/units.html", console, units=rows, areas=areas)


@router.get("/admin/units/new", include_in_schema=False)
def unit_new(request: Request, console: Admin):
    """Show the form for a new unit."""
    with transaction(request) as session:
        return _page(request, "admin/unit_form.html", console, form=_unit_form(None), **_unit_context(session, None))


@router.post("/admin/units/new", include_in_schema=False)
def unit_create(request: Request, console: Admin, code: Text = "", name: Text = "", name_en: Text = "",
                level: Text = "", parent: Text = "", area_codes: Text = "", categories: Text = "", description: Text = "",
                description_en: Text = "", active: Text = ""):
    """Create a unit with its duty list."""
    form = _unit_form_in(code, name, name_en, level, parent, area_codes, categories, description, description_en, active)
    with transaction(request) as session:
        try:
            unit = _save_unit(session, form, None)
        except FormError as exc:
            session.rollback()
            return _page(request, "admin/unit_form.html", console, status_code=422, problems=exc.problems, form=form,
                         **_unit_context(session, None))
        code = unit.code
    return _done(f"/console/admin/units/{code}", "unit-created")


@router.get("/admin/units/{code}", include_in_schema=False)
def unit_edit(request: Request, console: Admin, code: str):
    """Show a unit's form."""
    with transaction(request) as session:
        unit = catalog.get_unit_by_code(session, code)
        if unit is None:
            return _not_found(request, console, f"没有单位 {code}", f"No unit {code}")
        return _page(request, "admin/unit_form.html", console, form=_unit_form(unit), **_unit_context(session, unit))


@router.post("/admin/units/{code}", include_in_schema=False)
def unit_update(request: Request, console: Admin, code: str, name: Text = "", name_en: Text = "", level: Text = "",
                parent: Text = "", area_codes: Text = "", categories: Text = "", description: Text = "",
                description_en: Text = "", active: Text = ""):
    """Save a unit's names, level, parent, jurisdiction and duty list (its code stays)."""
    form = _unit_form_in(code, name, name_en, level, parent, area_codes, categories, description, description_en, active)
    with transaction(request) as session:
        unit = catalog.get_unit_by_code(session, code)
        if unit is None:
            return _not_found(request, console, f"没有单位 {code}", f"No unit {code}")
        try:
            _save_unit(session, form, unit)
        except FormError as exc:
            session.rollback()
            unit = catalog.get_unit_by_code(session, code)
            return _page(request, "admin/unit_form.html", console, status_code=422, problems=exc.problems, form=form,
                         **_unit_context(session, unit))
    return _done(f"/console/admin/units/{code}", "unit-saved")
