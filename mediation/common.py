"""What the mediation modules share: their errors, and how a participant appears in the case's audit history."""

from __future__ import annotations

from cases.service import CaseError
from mediation.models import MediationParticipant


class MediationError(CaseError):
    """A mediation request that cannot be met."""

    status = 400


class SessionNotFound(MediationError):
    status = 404


class InviteRefused(MediationError):
    """An invitation link that does not admit its holder; ``reason`` says why (for the refusal page)."""

    status = 403

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        if reason == "expired":
            self.status = 410


def audit_person(p: MediationParticipant) -> dict:
    """Return how a participant appears in the audit history."""
    # Staff by username; citizens by role only (their names are personal data, kept encrypted on the row).
    return {"participant_id": p.id, "role": str(p.role), "staff": p.username, "organisation": p.organisation,
            "party": p.party, "host": p.is_host}
