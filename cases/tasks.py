"""Background work of the case domain."""

from __future__ import annotations

from cases import service
from core.db import get_database
from core.tasks import task


@task("cases.scan_deadlines")
def scan_deadlines() -> dict[str, int]:
    """Mark overdue petitions and auto-close unanswered replies, in its own transaction."""
    with get_database().transaction() as session:
        return service.do_scan_deadlines(session=session)
