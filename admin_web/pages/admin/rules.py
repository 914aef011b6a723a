"""Admin pages for routing rules (/admin/rules)."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.orm import Session

from admin_web.pages.admin.common import (
    RULE_KINDS,
    Admin,
    FormError,
    Text,
    _check,
    _done,
    _float,
    _length,
    _not_found,
    _page,
    _problems,
    router,
)
from admin_web.web import Console
from cases import catalog
from cases.models import Unit
from core.web import transaction
from routing import service as routing
from routing.models import RoutingRule


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
            problems = _problems(exc)
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
            problems = _problems(exc)
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
