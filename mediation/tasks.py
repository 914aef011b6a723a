"""Mediation tasks: reminders before the start (periodic), and a recording's conversion and transcript."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select

from cases import audit
from core.db import get_database, utcnow
from core.settings import get_settings
from core.tasks import task
from mediation import invitations, recordings
from mediation.enums import SessionStatus
from mediation.models import MediationParticipant, MediationSession
from mediation.service import invite_token, petition_of


def remind_due(*, now: datetime | None = None) -> int:
    """Send each citizen invited to a session that starts soon one reminder; return how many were queued."""
    now = now or utcnow()
    horizon = now + timedelta(minutes=get_settings().mediation_reminder_minutes)
    sent = 0
    with get_database().transaction() as session:
        # The reminder and its mark are written in one transaction, so a rerun (or a second worker,
        # which skips the locked rows) never reminds anyone twice.
        due = list(session.scalars(
            select(MediationParticipant).join(MediationSession, MediationSession.id == MediationParticipant.session_id)
            .where(MediationSession.status == SessionStatus.SCHEDULED, MediationSession.starts_at <= horizon,
                   MediationSession.ends_at > now, MediationParticipant.reminded_at.is_(None),
                   MediationParticipant.removed_at.is_(None), MediationParticipant.username.is_(None))
            .order_by(MediationParticipant.id).with_for_update(of=MediationParticipant, skip_locked=True)))
        by_session: dict[int, list[int]] = defaultdict(list)
        for participant in due:
            participant.reminded_at = now
            ms = participant.session
            if invitations.notify_reminder(session, ms=ms, participant=participant, petition=petition_of(session, ms),
                                           token=invite_token(participant, ms)):
                by_session[ms.id].append(participant.id)
                sent += 1
        for session_id, ids in by_session.items():
            ms = session.get(MediationSession, session_id)
            audit.append(session, actor="system", action="mediation_reminded", petition_id=ms.petition_id, at=now,
                         data={"session_id": session_id, "participants": ids})
    return sent


@task("mediation.send_reminders", max_retries=2)
def send_reminders() -> int:
    """Remind citizens of sessions that start within the reminder window (run every minute by the scheduler)."""
    return remind_due()


@task("mediation.process_recording", max_retries=3, lease_seconds=1800)
def process_recording(recording_id: int) -> str:
    """Convert a finished recording and attach it to its case."""
    return recordings.process_recording(get_database(), recording_id)


@task("mediation.transcribe_recording", max_retries=1, lease_seconds=3600)
def transcribe_recording(recording_id: int) -> str:
    """Write the transcript of an attached recording."""
    return recordings.transcribe_recording(get_database(), recording_id)
