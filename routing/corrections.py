"""How staff correct the router: admin rules that steer its choice of unit, and category corrections kept as training data."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases import audit, catalog
from cases.models import Petition, Unit
from core.accounts import Actor
from routing.models import CategoryCorrection, RoutingRule


class RoutingError(Exception):
    """A routing request that cannot be met; ``status`` is the HTTP status an API maps it to."""

    status = 422


def category_path(petition: Petition) -> list[str] | None:
    """Return the names of the petition's category from the first level down, or None when it has none."""
    node, names = petition.category, []
    while node is not None:
        names.insert(0, node.name)
        node = node.parent
    return names or None


def do_correct_category(session: Session, *, petition: Petition, category: str, reason: str | None, actor: Actor
                        ) -> CategoryCorrection:
    """Correct a petition's category and keep the correction as training data."""
    node = catalog.resolve_category(session, category)
    if node is None:
        raise RoutingError(f"unknown category {category!r}")
    before = category_path(petition)
    petition.category_id = node.id
    session.flush()
    session.expire(petition, ["category"])
    after = category_path(petition)
    correction = CategoryCorrection(petition_id=petition.id, from_category="/".join(before) if before else None,
                                    to_category="/".join(after), title=petition.title, content=petition.content,
                                    reason=reason, actor=actor.name)
    session.add(correction)
    session.flush()
    audit.append(session, actor=actor.name, action="recategorise", petition_id=petition.id, from_status=petition.status,
                 to_status=petition.status, reason=reason, data={"from": correction.from_category, "to": correction.to_category})
    return correction


def list_corrections(session: Session) -> list[CategoryCorrection]:
    """Return all category corrections, oldest first."""
    return list(session.scalars(select(CategoryCorrection).order_by(CategoryCorrection.id)))


def _rule_unit(session: Session, *, kind: str, pattern: str, unit_code: str) -> Unit:
    if kind not in ("keyword", "category", "area"):
        raise RoutingError("kind must be keyword, category or area")
    unit = catalog.get_unit_by_code(session, unit_code)
    if unit is None:
        raise RoutingError(f"unknown unit {unit_code!r}")
    if kind == "category" and catalog.resolve_category(session, pattern) is None:
        raise RoutingError(f"unknown category {pattern!r}")
    if kind == "area" and catalog.get_area(session, pattern) is None:
        raise RoutingError(f"unknown area {pattern!r}")
    return unit


def create_rule(session: Session, *, name: str, kind: str, pattern: str, unit_code: str, weight: float, actor: Actor
                ) -> RoutingRule:
    """Add an admin routing rule."""
    unit = _rule_unit(session, kind=kind, pattern=pattern, unit_code=unit_code)
    rule = RoutingRule(name=name, kind=kind, pattern=pattern, unit_id=unit.id, weight=weight, created_by=actor.name)
    session.add(rule)
    session.flush()
    return rule


def update_rule(session: Session, *, rule_id: int, name: str, kind: str, pattern: str, unit_code: str, weight: float
                ) -> RoutingRule:
    """Replace a rule's fields and switch it on."""
    rule = get_rule(session, rule_id)
    unit = _rule_unit(session, kind=kind, pattern=pattern, unit_code=unit_code)
    rule.name, rule.kind, rule.pattern, rule.unit_id, rule.weight, rule.active = name, kind, pattern, unit.id, weight, True
    session.flush()
    return rule


def list_rules(session: Session) -> list[tuple[RoutingRule, Unit]]:
    """Return the rules with their units."""
    return list(session.execute(select(RoutingRule, Unit).join(Unit, Unit.id == RoutingRule.unit_id).order_by(RoutingRule.id)))


def get_rule(session: Session, rule_id: int) -> RoutingRule:
    """Return a rule or raise."""
    rule = session.get(RoutingRule, rule_id)
    if rule is None:
        err = RoutingError(f"no rule {rule_id}")
        err.status = 404
        raise err
    return rule
