"""The handler's workbench: the open petitions of the handler's unit, soonest deadline first."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from admin_web.pages.cases import DONE, case_url, due_state, time_left
from admin_web.web import Console, render, require
from cases.enums import TERMINAL, Status
from cases.handling.service import list_supervision
from cases.models import Petition
from cases.service import list_petitions
from core.accounts import Role
from core.db import utcnow
from core.web import transaction

router = APIRouter()
Handler = Annotated[Console, Depends(require(Role.HANDLER))]
OPEN_STATUSES = [s for s in Status if s not in TERMINAL]
# A unit's open caseload fits one page; beyond this the page says that it shows only part.
LIMIT = 1000


def _overdue(p: Petition, now: datetime) -> bool:
    return p.overdue_since is not None or (p.due_at is not None and p.due_at < now)


def _order(p: Petition) -> tuple:
    # Soonest deadline first; petitions with nothing due come last, oldest received first among them.
    return (p.due_at is None, p.due_at or p.received_at, p.received_at, p.id)


@router.get("/workbench", include_in_schema=False)
def workbench(request: Request, console: Handler, status: str = "", overdue: str = "", done: str | None = None):
    """List my unit's open petitions (lead or assisting), soonest deadline first, coloured by time left."""
    chosen = status if status in {s.value for s in OPEN_STATUSES} else ""
    overdue_only = overdue in ("1", "on", "true")
    now = utcnow()
    with transaction(request) as session:
        wanted = [chosen] if chosen else [s.value for s in OPEN_STATUSES]
        rows, total = list_petitions(session, actor=console.actor, status=wanted, page_size=LIMIT)
        if overdue_only:
            rows = [p for p in rows if _overdue(p, now)]
        rows.sort(key=_order)
        open_notes = Counter(n.petition_id for n, _ in list_supervision(session, open_only=True, unit_id=console.actor.unit_id))
        items = [{"p": p, "cls": due_state(p.due_at, now), "left": time_left(p.due_at, now) if p.due_at else None,
                  "role": "lead" if p.lead_unit_id == console.actor.unit_id else "assist", "notes": open_notes.get(p.id, 0)}
                 for p in rows]
        flash = None
        if done in DONE:
            zh, en = DONE[done]
            flash = en if console.lang == "en" else zh
        return render(request, "workbench/workbench.html", console, items=items, truncated=total > LIMIT, total=total,
                      statuses=OPEN_STATUSES, chosen=chosen, overdue_only=overdue_only, case_url=case_url,
                      flash=flash, flash_kind="ok")
