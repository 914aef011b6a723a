"""Knowledge-base work: draw the replies of newly closed petitions in as drafts, on a schedule."""

from __future__ import annotations

from core.accounts import Actor, Role
from core.db import get_database
from core.tasks import task
from knowledge import service

HARVESTER = Actor("knowledge", Role.ADMIN)


@task("knowledge.harvest_replies", max_retries=2)
def harvest_replies(limit: int = 500) -> dict:
    """Draw the final replies of closed petitions into the knowledge base as drafts (idempotent)."""
    with get_database().transaction() as session:
        return {"added": service.do_harvest(session, actor=HARVESTER, limit=limit)}
