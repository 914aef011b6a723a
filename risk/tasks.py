"""Risk work: every registered petition is scored in the background, and again when its status changes."""

from __future__ import annotations

from core.db import get_database
from core.events import PetitionRegistered, PetitionStatusChanged, subscribe
from core.settings import get_settings
from core.tasks import get_runner, task
from risk import service


@task("risk.assess_petition", max_retries=3)
def assess_petition(petition_id: int) -> dict | None:
    """Score one petition in its own transaction."""
    with get_database().transaction() as session:
        risk = service.do_assess(session, petition_id=petition_id)
        return None if risk is None else {"petition_id": petition_id, "level": risk.level, "score": risk.score}


def _on_change(event: PetitionRegistered | PetitionStatusChanged) -> None:
    if get_settings().risk_on_register:
        get_runner().submit("risk.assess_petition", {"petition_id": event.petition_id})


subscribe(PetitionRegistered, _on_change)
subscribe(PetitionStatusChanged, _on_change)
