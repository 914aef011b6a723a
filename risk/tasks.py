"""Risk work: every registered petition is scored in the background, and again when its status changes."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cases.models import Petition
from core.db import get_database
from core.events import PetitionRegistered, PetitionStatusChanged, subscribe_in_transaction
from core.settings import get_settings
from core.tasks import enqueue, task
from risk import alerts, service


@task("risk.assess_petition", max_retries=3)
def assess_petition(petition_id: int) -> dict | None:
    """Score one petition in its own transaction."""
    with get_database().transaction() as session:
        risk = service.do_assess(session, petition_id=petition_id)
        if risk is None:
            return None
        petition = session.get(Petition, petition_id)
        red = alerts.do_check_red(session, petition=petition, risk=risk)
        group = alerts.do_check_collective(session, petition=petition)
        return {"petition_id": petition_id, "level": risk.level, "score": risk.score,
                "alerts": [a.id for a in (red, group) if a is not None]}


def _on_change(session: Session, event: PetitionRegistered | PetitionStatusChanged) -> None:
    if get_settings().risk_on_register:
        enqueue(session, "risk.assess_petition", petition_id=event.petition_id)


subscribe_in_transaction(PetitionRegistered, _on_change)
subscribe_in_transaction(PetitionStatusChanged, _on_change)


@task("risk.surveillance", max_retries=1)
def surveillance() -> dict:
    """Look for surges and space–time clusters in the recent intake and raise alerts; idempotent."""
    from risk import surveillance as watch

    with get_database().transaction() as session:
        surges = watch.do_detect_surges(session)
        clusters = watch.do_scan_clusters(session)
        return {"surges": len(surges), "clusters": len(clusters)}
