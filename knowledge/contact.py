"""Contact types of petitions: set at registration, corrected by staff, filled in for older petitions."""

from __future__ import annotations

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from cases import audit
from cases.models import Petition
from core.accounts import Actor
from nlu.contact import LABELS, ContactGuess, ContactType, classify_contact

TYPES = tuple(t.value for t in ContactType)


class ContactTypeError(ValueError):
    """A contact type that is not one of the six."""

    status = 422


def guess_for(petition: Petition) -> ContactGuess:
    """Classify a petition from its title, content and demand."""
    body = "\n".join(part for part in (petition.content, petition.demand) if part)
    return classify_contact(body, title=petition.title)


@event.listens_for(Petition, "before_insert")
def _classify_on_insert(_mapper, _connection, petition: Petition) -> None:
    # Synchronous and cheap (rules, well under a millisecond): every channel's petition is typed in the
    # transaction that registers it, and a caller that knows better (the bot) may have set it already.
    if petition.contact_type is None:
        petition.contact_type = guess_for(petition).type.value


def check_type(value: str) -> str:
    """Return the contact type if it is one of the six, else raise ContactTypeError."""
    value = (value or "").strip().lower()
    if value not in TYPES:
        raise ContactTypeError(f"unknown contact type {value!r}; one of {', '.join(TYPES)}")
    return value


def do_set_contact_type(session: Session, *, petition: Petition, contact_type: str, actor: Actor,
                        reason: str | None = None) -> Petition:
    """Correct a petition's contact type and record who did it."""
    value = check_type(contact_type)
    before = petition.contact_type
    if before == value:
        return petition
    petition.contact_type = value
    session.flush()
    audit.append(session, actor=actor.name, action="contact_type", petition_id=petition.id, from_status=petition.status,
                 to_status=petition.status, reason=reason, data={"from": before, "to": value})
    return petition


def do_backfill(session: Session, *, limit: int = 5000) -> int:
    """Classify petitions registered before contact types existed; return how many were set."""
    rows = list(session.scalars(select(Petition).where(Petition.contact_type.is_(None)).order_by(Petition.id).limit(limit)))
    for petition in rows:
        petition.contact_type = guess_for(petition).type.value
    session.flush()
    return len(rows)


def label(contact_type: str | None, lang: str = "zh") -> str:
    """Return a contact type's name in the console language."""
    if not contact_type:
        return "—"
    zh, en = LABELS.get(contact_type, (contact_type, contact_type))
    return en if lang == "en" else zh
