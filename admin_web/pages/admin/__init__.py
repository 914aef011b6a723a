"""Administration: units and duty lists, routing rules, the sensitive-keyword lexicon, reply templates, users."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import func, select

# Imported for the routes they register on the shared router. Their paths do not overlap, so the order between modules does
# not matter; within a module it does (/admin/units/new is registered before /admin/units/{code}).
from admin_web.pages.admin import lexicon, rules, templates, units, users  # noqa: F401
from admin_web.pages.admin.common import Admin, _page, router
from cases.handling.models import ReplyTemplate
from cases.models import Unit
from core.accounts import User
from core.web import transaction
from risk.models import SensitiveTerm
from routing.models import RoutingRule

__all__ = ["router"]


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
