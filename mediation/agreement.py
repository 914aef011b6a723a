"""The mediation agreement (调解协议): terms by the mediator, each party's confirmation, and the outcome on the case.

When the last party confirms, the case moves on in the host's name: the agreement becomes the reply (or,
on a case already replied to, closes it as resolved by mediation). Ending without agreement records why.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from cases import audit
from cases.enums import Action, Status
from cases.schemas import TransitionIn
from cases.service import CaseError, Conflict, Forbidden, Invalid, do_transition
from cases.workflow import MOVES
from core.accounts import Actor
from core.db import utcnow
from mediation.enums import Kind, Outcome, SessionStatus
from mediation.models import MediationParticipant, MediationSession
from mediation.service import access_invite, access_managed, audit_person, get_session, host_actor, petition_of, record_end

# How the agreement moves the case, by the case's status: the agreement is the reply (or closes a replied case).
AGREEMENT_MOVES: dict[Status, tuple[Action, ...]] = {
    Status.ASSIGNED: (Action.START, Action.REPLY),
    Status.IN_PROGRESS: (Action.REPLY,),
    Status.REPLIED: (Action.CLOSE,),
    Status.REVIEW_REPLIED: (Action.CLOSE,),
    Status.UNDER_REVIEW: (Action.REPLY_REVIEW,),
    Status.UNDER_REEXAM: (Action.REPLY_REEXAM,),
}


def do_set_agreement(session: Session, *, session_id: int, terms: str, actor: Actor, now: datetime | None = None
                     ) -> MediationSession:
    """Write (or rewrite) the agreement's terms; every party must confirm this version."""
    now = now or utcnow()
    ms = access_managed(session, session_id, actor)
    if ms.status == SessionStatus.CANCELLED:
        raise Conflict("the session was cancelled")
    if ms.outcome is not None:
        raise Conflict(f"the session's outcome is already recorded ({ms.outcome})")
    terms = (terms or "").strip()
    if not terms:
        raise Invalid("the agreement's terms are empty")
    if len(terms) > 20000:
        raise Invalid("the agreement is longer than 20000 characters")
    if not any(p.party for p in ms.participants):
        raise Conflict("no participant is a party to an agreement")
    ms.terms, ms.terms_version, ms.terms_by, ms.terms_at = terms, ms.terms_version + 1, actor.name, now
    session.flush()
    audit.append(session, actor=actor.name, action="mediation_agreement_proposed", petition_id=ms.petition_id, at=now,
                 data={"session_id": ms.id, "version": ms.terms_version, "terms": terms,
                       "parties": [audit_person(p) for p in ms.participants if p.party]})
    return ms


def waiting_for(ms: MediationSession) -> list[MediationParticipant]:
    """Return the parties who have not confirmed the current terms."""
    return [p for p in ms.participants if p.party and p.confirmed_version != ms.terms_version]


def do_confirm(session: Session, *, token: str, now: datetime | None = None) -> MediationSession:
    """Record a party's confirmation of the current terms; the last one concludes the agreement and moves the case."""
    now = now or utcnow()
    participant = access_invite(session, token, now=now)
    ms = get_session(session, participant.session_id, for_update=True)
    if not participant.party:
        raise Forbidden("only a party to the agreement confirms it")
    if ms.terms is None:
        raise Conflict("there is no agreement to confirm yet")
    if ms.outcome == Outcome.NO_AGREEMENT:
        raise Conflict("the session ended without an agreement")
    if participant.confirmed_version == ms.terms_version:
        return ms
    if ms.outcome == Outcome.AGREED:
        raise Conflict("the agreement is already concluded")
    participant.confirmed_at, participant.confirmed_version = now, ms.terms_version
    session.flush()
    audit.append(session, actor=participant.username or f"mediation:{participant.role}", action="mediation_confirmed",
                 petition_id=ms.petition_id, at=now,
                 data={"session_id": ms.id, "participant_id": participant.id, "role": str(participant.role),
                       "version": ms.terms_version})
    if not waiting_for(ms):
        _conclude(session, ms, now)
    return ms


def _conclude(session: Session, ms: MediationSession, now: datetime) -> None:
    """Record the agreement as the outcome and move the case on in the host's name."""
    ms.outcome, ms.outcome_at = Outcome.AGREED, now
    petition = petition_of(session, ms)
    actor = host_actor(session, ms)
    text = f"经{'视频接访' if ms.kind == Kind.RECEPTION else '联合调解'}，双方达成调解协议：\n{ms.terms}"
    done: list[str] = []
    refused = None
    plan = AGREEMENT_MOVES.get(Status(petition.status), ())
    if actor is None:
        refused = f"the host {ms.host} has no active account to act in"
    elif not plan:
        refused = f"a petition that is {petition.status} is not moved by an agreement"
    elif any(actor.role not in MOVES[action].roles for action in plan):
        refused = f"a {actor.role} may not {'+'.join(plan)}; someone who may must move the case"
    else:
        nested = session.begin_nested()
        try:
            for action in plan:
                closing = action is Action.CLOSE
                change = TransitionIn(action=action, text=None if closing else text,
                                      reason="调解结案：双方达成调解协议 (resolved by mediation)" if closing else None)
                do_transition(session, tracking_no=petition.tracking_no, change=change, actor=actor, now=now)
                done.append(str(action))
            nested.commit()
        except CaseError as exc:
            nested.rollback()
            done, refused = [], str(exc)
    ms.case_action = "+".join(done) or None
    session.flush()
    audit.append(session, actor=actor.name if actor else ms.host, action="mediation_agreed", petition_id=ms.petition_id, at=now,
                 reason=refused, data={
                     "session_id": ms.id, "version": ms.terms_version, "terms": ms.terms, "case_action": ms.case_action,
                     "confirmations": [{"participant_id": p.id, "role": str(p.role),
                                        "at": p.confirmed_at.isoformat() if p.confirmed_at else None}
                                       for p in ms.participants if p.party]})


def do_no_agreement(session: Session, *, session_id: int, reason: str, actor: Actor, now: datetime | None = None
                    ) -> MediationSession:
    """End the session without an agreement, with the reason; a pending agreement lapses."""
    now = now or utcnow()
    ms = access_managed(session, session_id, actor)
    if ms.outcome is not None:
        raise Conflict(f"the session's outcome is already recorded ({ms.outcome})")
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("say why no agreement was reached")
    if ms.status != SessionStatus.ENDED:
        record_end(session, ms, actor.name, now)
    ms.outcome, ms.outcome_reason, ms.outcome_at = Outcome.NO_AGREEMENT, reason[:2000], now
    session.flush()
    audit.append(session, actor=actor.name, action="mediation_no_agreement", petition_id=ms.petition_id, reason=reason,
                 data={"session_id": ms.id, "terms_version": ms.terms_version,
                       "confirmed": [p.id for p in ms.participants if p.party and p.confirmed_version == ms.terms_version]},
                 at=now)
    return ms
