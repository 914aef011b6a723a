"""Routing work: every registered petition is routed in the background."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.db import get_database
from core.events import PetitionRegistered, subscribe_in_transaction
from core.settings import get_settings
from core.tasks import enqueue, task
from routing import service


@task("routing.route_petition", max_retries=3)
def route_petition(petition_id: int) -> dict | None:
    """Classify, link similar cases and suggest or assign the unit, in its own transaction."""
    database = get_database()
    # The model work (hundreds of ms with the dense embedder) runs between two transactions: on SQLite a
    # transaction holds the database's one write lock from its first statement, and every console page,
    # bot turn and webhook would wait behind it.
    with database.transaction() as session:
        inputs = service.read_for_routing(session, petition_id=petition_id)
    if inputs is None:
        return None
    prepared = service.prepare(*inputs)
    with database.transaction() as session:
        decision = service.do_route(session, petition_id=petition_id, prepared=prepared)
        if decision is None:
            return None
        return {"petition_id": petition_id, "auto_assigned": decision.auto_assigned,
                "top": decision.suggestions[0]["unit"] if decision.suggestions else None}


def _on_registered(session: Session, event: PetitionRegistered) -> None:
    if get_settings().route_on_register:
        enqueue(session, "routing.route_petition", petition_id=event.petition_id)


subscribe_in_transaction(PetitionRegistered, _on_registered)
