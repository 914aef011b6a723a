"""Administration: units and duty lists, routing rules, the sensitive-keyword lexicon, reply templates, users."""

from __future__ import annotations

import math
import re
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from admin_web import auth
from admin_web.models import ConsoleSession
from admin_web.web import Console, render, require
from cases import catalog
from cases.enums import AreaLevel
from cases.handling import service as handling
from cases.handling.models import ReplyTemplate
from cases.models import Unit
from cases.service import CaseError
from core import accounts
from core.accounts import Role, User
from core.web import transaction
from risk import lexicon
from risk.models import SensitiveTerm
from routing import service as routing
from routing.models import RoutingRule

router = APIRouter()
Admin = Annotated[Console, Depends(require(Role.ADMIN))]

LEVEL_LABELS: dict[str, tuple[str, str]] = {
    AreaLevel.PROVINCE: ("省级", "Province"), AreaLevel.CITY: ("市级", "City"),
    AreaLevel.DISTRICT: ("区县级", "District"), AreaLevel.STREET: ("街道乡镇", "Street"),
}
RULE_KINDS: dict[str, tuple[str, str]] = {
    "keyword": ("关键词", "Keyword"), "category": ("分类", "Category"), "area": ("区域", "Area"),
}
TEMPLATE_KINDS: dict[str, tuple[str, str]] = {
    "reply": ("答复模板", "Reply templates"), "canned": ("坐席快捷回复", "Canned responses"),
}
# Messages shown after a redirect, chosen by a key in the query string (never text from the request).
FLASH: dict[str, tuple[str, str]] = {
    "unit-created": ("单位已创建", "Unit created"), "unit-saved": ("单位已保存", "Unit saved"),
    "rule-created": ("分办规则已添加", "Routing rule added"), "rule-saved": ("分办规则已保存", "Routing rule saved"),
    "rule-deleted": ("分办规则已删除（停用留档）", "Routing rule deleted (switched off and kept for the record)"),
    "term-created": ("敏感词已添加", "Term added"), "term-saved": ("敏感词已保存", "Term saved"),
    "term-on": ("敏感词已启用", "Term switched on"), "term-off": ("敏感词已停用", "Term switched off"),
    "term-deleted": ("敏感词已删除", "Term deleted"), "terms-imported": ("批量导入完成", "Import done"),
    "template-created": ("模板已添加", "Template added"), "template-deleted": ("模板已删除", "Template deleted"),
    "user-created": ("用户已创建", "User created"), "user-saved": ("用户已保存", "User saved"),
    "password-reset": ("密码已重置，该用户的所有会话已结束", "Password reset; all of the user's sessions have ended"),
}
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$")
LIST_SEPARATORS = re.compile(r"[,，、;；\s]+")
Text = Annotated[str, Form()]


class FormError(Exception):
    """Input a form cannot take, with every problem said in Chinese and English."""

    def __init__(self, *problems: tuple[str, str]):
        super().__init__("; ".join(en for _, en in problems))
        self.problems = list(problems)


def _check(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise FormError(*problems)


def _page(request: Request, template: str, console: Console, status_code: int = 200, *,
          problems: list[tuple[str, str]] | None = None, **context):
    done = FLASH.get(request.query_params.get("done", ""))
    flash = (done[1] if console.lang == "en" else done[0]) if done else None
    return render(request, template, console, status_code=status_code, flash=flash, problems=problems or [],
                  level_labels=LEVEL_LABELS, rule_kinds=RULE_KINDS, classes=lexicon.CLASSES,
                  template_kinds=TEMPLATE_KINDS, **context)


def _done(url: str, key: str) -> RedirectResponse:
    sep = "&" if "?" in url else "?"
    return RedirectResponse(f"{url}{sep}done={key}", status_code=303)


def _not_found(request: Request, console: Console, zh: str, en: str):
    return render(request, "error.html", console, status_code=404, heading=("未找到", "Not found"), detail=(zh, en))


def _length(value: str, what: tuple[str, str], low: int, high: int, problems: list) -> str:
    value = (value or "").strip()
    if not low <= len(value) <= high:
        if low and not value:
            problems.append((f"请填写{what[0]}", f"{what[1]} is required"))
        else:
            problems.append((f"{what[0]}不能超过 {high} 个字符", f"{what[1]} must be at most {high} characters"))
    return value


def _float(value: str, what: tuple[str, str], low: float, high: float, problems: list) -> float | None:
    try:
        number = float((value or "").strip())
    except ValueError:
        problems.append((f"{what[0]}须为数字", f"{what[1]} must be a number"))
        return None
    if math.isnan(number) or not low <= number <= high:
        problems.append((f"{what[0]}须在 {low:g} 到 {high:g} 之间", f"{what[1]} must be between {low:g} and {high:g}"))
        return None
    return number


def _checked(value: str) -> bool:
    return value in ("on", "1", "true", "yes")


# --- index ----------------------------------------------------------------------------------------


@router.get("/admin", include_in_schema=False)
def index(request: Request, console: Admin):
    """Show the administration sections with their sizes."""
    with transaction(request) as session:
        def count(model, *where) -> int:
            return session.scalar(select(func.count()).select_from(model).where(*where)) or 0
        counts = {"units": count(Unit, Unit.active.is_(True)), "rules": count(RoutingRule, RoutingRule.active.is_(True)),
                  "terms": count(SensitiveTerm, SensitiveTerm.active.is_(True)), "templates": count(ReplyTemplate),
                  "users": count(User, User.active.is_(True))}
        return _page(request, "admin/index.html", console, counts=counts)


# --- units and duty lists -------------------------------------------------------------------------


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


# --- routing rules --------------------------------------------------------------------------------


def _rule_form(rule: RoutingRule | None = None, unit: Unit | None = None) -> dict:
    if rule is None:
        return {"name": "", "kind": "keyword", "pattern": "", "unit": "", "weight": "0.6"}
    return {"name": rule.name, "kind": rule.kind, "pattern": rule.pattern, "unit": unit.code if unit else "",
            "weight": f"{rule.weight:g}"}


def _rule_values(session: Session, form: dict) -> dict:
    problems: list[tuple[str, str]] = []
    name = _length(form["name"], ("规则名称", "The name"), 1, 200, problems)
    kind = form["kind"]
    if kind not in RULE_KINDS:
        problems.append(("规则类型须为关键词、分类或区域", "The kind must be keyword, category or area"))
    pattern = _length(form["pattern"], ("匹配内容", "The pattern"), 1, 200, problems)
    if pattern and kind == "category" and catalog.resolve_category(session, pattern) is None:
        problems.append((f"未知的分类「{pattern}」", f"Unknown category {pattern!r}"))
    if pattern and kind == "area" and catalog.get_area(session, pattern) is None:
        problems.append((f"未知的区划代码「{pattern}」", f"Unknown area code {pattern!r}"))
    unit = (form["unit"] or "").strip()
    if not unit:
        problems.append(("请选择承办单位", "Choose the unit"))
    elif catalog.get_unit_by_code(session, unit) is None:
        problems.append((f"单位 {unit} 不存在", f"No unit {unit}"))
    weight = _float(form["weight"], ("权重", "The weight"), 0.0, 2.0, problems)
    _check(problems)
    return {"name": name, "kind": kind, "pattern": pattern, "unit_code": unit, "weight": weight}


def _rules_page(request: Request, console: Console, session: Session, *, form: dict, status_code: int = 200,
                problems: list | None = None):
    return _page(request, "admin/rules.html", console, status_code=status_code, problems=problems,
                 rules=routing.list_rules(session), units=catalog.list_units(session, active_only=False), form=form)


@router.get("/admin/rules", include_in_schema=False)
def rules(request: Request, console: Admin):
    """List the routing rules with a form to add one."""
    with transaction(request) as session:
        return _rules_page(request, console, session, form=_rule_form())


@router.post("/admin/rules", include_in_schema=False)
def rule_create(request: Request, console: Admin, name: Text = "", kind: Text = "", pattern: Text = "", unit: Text = "",
                weight: Text = ""):
    """Add a routing rule."""
    form = {"name": name, "kind": kind, "pattern": pattern, "unit": unit, "weight": weight}
    with transaction(request) as session:
        try:
            routing.create_rule(session, **_rule_values(session, form), actor=console.actor)
        except (FormError, routing.RoutingError) as exc:
            session.rollback()
            problems = exc.problems if isinstance(exc, FormError) else [("无法保存：" + str(exc), "Cannot save: " + str(exc))]
            return _rules_page(request, console, session, form=form, status_code=422, problems=problems)
    return _done("/console/admin/rules", "rule-created")


@router.get("/admin/rules/{rule_id}", include_in_schema=False)
def rule_edit(request: Request, console: Admin, rule_id: int):
    """Show a rule's form."""
    with transaction(request) as session:
        rule = session.get(RoutingRule, rule_id)
        if rule is None:
            return _not_found(request, console, "没有这条规则", f"No rule {rule_id}")
        return _page(request, "admin/rule_form.html", console, rule=rule, form=_rule_form(rule, session.get(Unit, rule.unit_id)),
                     units=catalog.list_units(session, active_only=False))


@router.post("/admin/rules/{rule_id}", include_in_schema=False)
def rule_update(request: Request, console: Admin, rule_id: int, name: Text = "", kind: Text = "", pattern: Text = "",
                unit: Text = "", weight: Text = ""):
    """Save a rule's fields (this switches a deleted rule back on)."""
    form = {"name": name, "kind": kind, "pattern": pattern, "unit": unit, "weight": weight}
    with transaction(request) as session:
        rule = session.get(RoutingRule, rule_id)
        if rule is None:
            return _not_found(request, console, "没有这条规则", f"No rule {rule_id}")
        try:
            routing.update_rule(session, rule_id=rule_id, **_rule_values(session, form))
        except (FormError, routing.RoutingError) as exc:
            session.rollback()
            problems = exc.problems if isinstance(exc, FormError) else [("无法保存：" + str(exc), "Cannot save: " + str(exc))]
            return _page(request, "admin/rule_form.html", console, status_code=422, problems=problems,
                         rule=session.get(RoutingRule, rule_id), form=form, units=catalog.list_units(session, active_only=False))
    return _done("/console/admin/rules", "rule-saved")


@router.post("/admin/rules/{rule_id}/delete", include_in_schema=False)
def rule_delete(request: Request, console: Admin, rule_id: int):
    """Delete a rule: it is switched off and kept for the record, as the JSON API does."""
    with transaction(request) as session:
        try:
            routing.get_rule(session, rule_id).active = False
        except routing.RoutingError:
            return _not_found(request, console, "没有这条规则", f"No rule {rule_id}")
    return _done("/console/admin/rules", "rule-deleted")


# --- sensitive-keyword lexicon --------------------------------------------------------------------


def _lexicon_page(request: Request, console: Console, session: Session, *, klass: str | None, form: dict | None = None,
                  status_code: int = 200, problems: list | None = None, bulk: str = "", import_problems=None,
                  imported: int | None = None):
    klass = klass if klass in lexicon.CLASSES else None
    counts = dict(session.execute(select(SensitiveTerm.klass, func.count()).group_by(SensitiveTerm.klass)).all())
    return _page(request, "admin/lexicon.html", console, status_code=status_code, problems=problems,
                 terms=lexicon.list_terms(session, klass=klass), klass=klass, counts=counts,
                 form=form or {"term": "", "klass": klass or "other", "weight": "1"}, bulk=bulk,
                 import_problems=import_problems or [], imported=imported)


def _lexicon_url(klass: str | None) -> str:
    return f"/console/admin/lexicon?klass={klass}" if klass in lexicon.CLASSES else "/console/admin/lexicon"


@router.get("/admin/lexicon", include_in_schema=False)
def lexicon_list(request: Request, console: Admin, klass: str | None = None):
    """List the lexicon, optionally of one class, with forms to add and import terms."""
    with transaction(request) as session:
        return _lexicon_page(request, console, session, klass=klass)


@router.post("/admin/lexicon", include_in_schema=False)
def term_create(request: Request, console: Admin, term: Text = "", klass: Text = "", weight: Text = "", filter: Text = ""):
    """Add a term."""
    form = {"term": term, "klass": klass, "weight": weight}
    with transaction(request) as session:
        try:
            lexicon.create_term(session, term=term, klass=klass, weight=weight, actor=console.actor)
        except lexicon.LexiconError as exc:
            session.rollback()
            return _lexicon_page(request, console, session, klass=filter or None, form=form, status_code=exc.status,
                                 problems=[(exc.zh, exc.en)])
    return _done(_lexicon_url(filter), "term-created")


@router.post("/admin/lexicon/import", include_in_schema=False)
def term_import(request: Request, console: Admin, lines: Text = "", filter: Text = ""):
    """Add many terms, one "term,class,weight" a line; good lines are kept and bad ones reported."""
    with transaction(request) as session:
        added, bad = lexicon.import_terms(session, text=lines, actor=console.actor)
        if bad:
            # Only the lines still to fix go back into the box.
            return _lexicon_page(request, console, session, klass=filter or None, status_code=200 if added else 422,
                                 bulk="\n".join(p.line for p in bad), import_problems=bad, imported=len(added))
    return _done(_lexicon_url(filter), "terms-imported")


@router.get("/admin/lexicon/{term_id}", include_in_schema=False)
def term_edit(request: Request, console: Admin, term_id: int):
    """Show a term's form."""
    with transaction(request) as session:
        row = session.get(SensitiveTerm, term_id)
        if row is None:
            return _not_found(request, console, "没有这个词条", f"No term {term_id}")
        form = {"term": row.term, "klass": row.klass, "weight": f"{row.weight:g}", "active": row.active}
        return _page(request, "admin/term_form.html", console, row=row, form=form)


@router.post("/admin/lexicon/{term_id}", include_in_schema=False)
def term_update(request: Request, console: Admin, term_id: int, term: Text = "", klass: Text = "", weight: Text = "",
                active: Text = ""):
    """Save a term's text, class, weight and whether it is in use."""
    form = {"term": term, "klass": klass, "weight": weight, "active": _checked(active)}
    with transaction(request) as session:
        try:
            lexicon.update_term(session, term_id=term_id, term=term, klass=klass, weight=weight, active=form["active"])
        except lexicon.LexiconError as exc:
            session.rollback()
            row = session.get(SensitiveTerm, term_id)
            if row is None:
                return _not_found(request, console, "没有这个词条", f"No term {term_id}")
            return _page(request, "admin/term_form.html", console, status_code=exc.status, problems=[(exc.zh, exc.en)],
                         row=row, form=form)
    return _done(_lexicon_url(klass), "term-saved")


@router.post("/admin/lexicon/{term_id}/active", include_in_schema=False)
def term_active(request: Request, console: Admin, term_id: int, active: Text = "", filter: Text = ""):
    """Switch a term on or off."""
    with transaction(request) as session:
        row = session.get(SensitiveTerm, term_id)
        if row is None:
            return _not_found(request, console, "没有这个词条", f"No term {term_id}")
        row.active = _checked(active)
        key = "term-on" if row.active else "term-off"
    return _done(_lexicon_url(filter), key)


@router.post("/admin/lexicon/{term_id}/delete", include_in_schema=False)
def term_delete(request: Request, console: Admin, term_id: int, filter: Text = ""):
    """Delete a term."""
    with transaction(request) as session:
        try:
            lexicon.delete_term(session, term_id=term_id)
        except lexicon.LexiconError:
            return _not_found(request, console, "没有这个词条", f"No term {term_id}")
    return _done(_lexicon_url(filter), "term-deleted")


# --- reply templates and canned responses ---------------------------------------------------------


def _templates_page(request: Request, console: Console, session: Session, *, form: dict | None = None,
                    status_code: int = 200, problems: list | None = None):
    return _page(request, "admin/templates.html", console, status_code=status_code, problems=problems,
                 groups=[(kind, handling.list_templates(session, kind=kind)) for kind in TEMPLATE_KINDS],
                 form=form or {"kind": "reply", "name": "", "language": "zh", "text": ""})


@router.get("/admin/templates", include_in_schema=False)
def templates(request: Request, console: Admin):
    """List reply templates and canned responses with a form to add one."""
    with transaction(request) as session:
        return _templates_page(request, console, session)


@router.post("/admin/templates", include_in_schema=False)
def template_create(request: Request, console: Admin, kind: Text = "", name: Text = "", language: Text = "zh",
                    text: Text = ""):
    """Add a reply template or canned response."""
    form = {"kind": kind, "name": name, "language": language, "text": text}
    problems: list[tuple[str, str]] = []
    if kind not in TEMPLATE_KINDS:
        problems.append(("请选择模板类型", "Choose the kind of template"))
    _length(name, ("模板名称", "The name"), 1, 100, problems)
    _length(text, ("模板内容", "The text"), 1, 5000, problems)
    if language not in ("zh", "en"):
        problems.append(("语言须为中文或英文", "The language must be Chinese or English"))
    with transaction(request) as session:
        try:
            _check(problems)
            handling.create_template(session, kind=kind, name=name, text=text, language=language, actor=console.actor)
        except (FormError, CaseError) as exc:
            session.rollback()
            problems = exc.problems if isinstance(exc, FormError) else [("无法保存：" + str(exc), "Cannot save: " + str(exc))]
            return _templates_page(request, console, session, form=form, status_code=422, problems=problems)
    return _done("/console/admin/templates", "template-created")


@router.post("/admin/templates/{template_id}/delete", include_in_schema=False)
def template_delete(request: Request, console: Admin, template_id: int):
    """Delete a reply template or canned response."""
    with transaction(request) as session:
        try:
            handling.delete_template(session, template_id=template_id)
        except CaseError:
            return _not_found(request, console, "没有这个模板", f"No template {template_id}")
    return _done("/console/admin/templates", "template-deleted")


# --- users and roles ------------------------------------------------------------------------------


def _user_values(session: Session, form: dict) -> tuple[str, int | None]:
    problems: list[tuple[str, str]] = []
    role = form["role"]
    if role not in {r.value for r in Role}:
        problems.append(("请选择角色", "Choose a role"))
    unit_id = None
    code = (form["unit"] or "").strip()
    if code:
        unit = catalog.get_unit_by_code(session, code)
        if unit is None:
            problems.append((f"单位 {code} 不存在", f"No unit {code}"))
        else:
            unit_id = unit.id
    elif role == Role.HANDLER:
        problems.append(("承办人必须绑定一个单位", "A handler must be bound to a unit"))
    _length(form["display_name"], ("显示名称", "The display name"), 0, 100, problems)
    _check(problems)
    return role, unit_id


def _password_problems(password: str, username: str) -> list[tuple[str, str]]:
    if len(password or "") < auth.MIN_PASSWORD:
        return [(f"密码至少 {auth.MIN_PASSWORD} 个字符", f"The password needs at least {auth.MIN_PASSWORD} characters")]
    if len(password) > 200:
        return [("密码不能超过 200 个字符", "The password must be at most 200 characters")]
    if password.lower() in (username.lower(), "password123", "1234567890"):
        return [("密码过于简单，请换一个", "Choose a less guessable password")]
    return []


def _user_page(request: Request, console: Console, session: Session, template: str, *, form: dict,
               status_code: int = 200, problems: list | None = None, user: User | None = None,
               password_problems: list | None = None):
    return _page(request, template, console, status_code=status_code, problems=problems, form=form, user=user,
                 roles=list(Role), units=catalog.list_units(session, active_only=False),
                 password_problems=password_problems or [])


def _user_form(user: User, session: Session) -> dict:
    unit = session.get(Unit, user.unit_id) if user.unit_id else None
    return {"username": user.username, "display_name": user.display_name or "", "role": user.role,
            "unit": unit.code if unit else "", "active": user.active}


@router.get("/admin/users", include_in_schema=False)
def users(request: Request, console: Admin):
    """List the staff accounts."""
    with transaction(request) as session:
        units_by_id = {u.id: u for u in catalog.list_units(session, active_only=False)}
        return _page(request, "admin/users.html", console, users=accounts.list_users(session), units_by_id=units_by_id)


@router.get("/admin/users/new", include_in_schema=False)
def user_new(request: Request, console: Admin):
    """Show the form for a new account."""
    with transaction(request) as session:
        return _user_page(request, console, session, "admin/user_new.html",
                          form={"username": "", "display_name": "", "role": "handler", "unit": ""})


@router.post("/admin/users/new", include_in_schema=False)
def user_create(request: Request, console: Admin, username: Text = "", display_name: Text = "", role: Text = "",
                unit: Text = "", password: Text = ""):
    """Create a staff account with an initial password."""
    username = username.strip()
    form = {"username": username, "display_name": display_name, "role": role, "unit": unit}
    with transaction(request) as session:
        try:
            problems, role_value, unit_id = [], "", None
            if not USERNAME.match(username) or username.lower() == "new":
                problems.append(("用户名须为 2–64 位字母、数字、点、连字符或下划线",
                                 "The username must be 2–64 letters, digits, '.', '-' or '_'"))
            elif accounts.get_by_username(session, username) is not None:
                problems.append((f"用户名 {username} 已存在", f"The username {username} is taken"))
            try:
                role_value, unit_id = _user_values(session, form)
            except FormError as exc:
                problems += exc.problems
            problems += _password_problems(password, username)
            _check(problems)
            accounts.create_user(session, username=username, password=password, role=role_value, unit_id=unit_id,
                                 display_name=display_name.strip() or None)
        except (FormError, accounts.AccountError) as exc:
            session.rollback()
            problems = exc.problems if isinstance(exc, FormError) else [("无法创建：" + str(exc), "Cannot create: " + str(exc))]
            return _user_page(request, console, session, "admin/user_new.html", form=form, status_code=422,
                              problems=problems)
    return _done(f"/console/admin/users/{username}", "user-created")


@router.get("/admin/users/{username}", include_in_schema=False)
def user_edit(request: Request, console: Admin, username: str):
    """Show an account's role, unit and status, with a password reset."""
    with transaction(request) as session:
        user = accounts.get_by_username(session, username)
        if user is None:
            return _not_found(request, console, f"没有用户 {username}", f"No user {username}")
        return _user_page(request, console, session, "admin/user_edit.html", form=_user_form(user, session), user=user)


@router.post("/admin/users/{username}", include_in_schema=False)
def user_update(request: Request, console: Admin, username: str, display_name: Text = "", role: Text = "",
                unit: Text = "", active: Text = ""):
    """Change an account's role, unit and active flag; a deactivated account's sessions end."""
    form = {"username": username, "display_name": display_name, "role": role, "unit": unit, "active": _checked(active)}
    with transaction(request) as session:
        user = accounts.get_by_username(session, username)
        if user is None:
            return _not_found(request, console, f"没有用户 {username}", f"No user {username}")
        try:
            role_value, unit_id = _user_values(session, form)
            if user.id == console.user.id and (role_value != Role.ADMIN or not form["active"]):
                raise FormError(("不能降低自己的角色或停用自己的账户，请由另一位管理员操作",
                                 "You cannot demote or deactivate your own account; ask another administrator"))
            accounts.update_user(session, username=username, role=role_value, unit_id=unit_id, active=form["active"],
                                 display_name=display_name.strip() or None, actor=console.actor)
            if not form["active"]:
                session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user.id))
        except (FormError, accounts.AccountError) as exc:
            session.rollback()
            problems = exc.problems if isinstance(exc, FormError) else [("无法保存：" + str(exc), "Cannot save: " + str(exc))]
            return _user_page(request, console, session, "admin/user_edit.html", form=form, status_code=422,
                              problems=problems, user=accounts.get_by_username(session, username))
    return _done(f"/console/admin/users/{username}", "user-saved")


@router.post("/admin/users/{username}/password", include_in_schema=False)
def user_password(request: Request, console: Admin, username: str, password: Text = ""):
    """Set a new password for an account; all of its sessions end."""
    with transaction(request) as session:
        user = accounts.get_by_username(session, username)
        if user is None:
            return _not_found(request, console, f"没有用户 {username}", f"No user {username}")
        problems = _password_problems(password, username)
        if user.id == console.user.id:
            problems = [("请在“账户”页面修改自己的密码", "Change your own password on the Account page")]
        try:
            _check(problems)
            auth.set_password(session, username=username, new=password)
        except (FormError, auth.PasswordRefused) as exc:
            session.rollback()
            problems = exc.problems if isinstance(exc, FormError) else [(exc.zh, exc.en)]
            user = accounts.get_by_username(session, username)
            return _user_page(request, console, session, "admin/user_edit.html", form=_user_form(user, session),
                              status_code=422, user=user, password_problems=problems)
    return _done(f"/console/admin/users/{username}", "password-reset")

