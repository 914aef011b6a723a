"""Domain events and after-commit callbacks.

Lower packages announce what happened by publishing an event on the session. Two kinds of subscriber:
``subscribe`` handlers run only after that session's transaction commits, so nothing leaves for work
that was rolled back (they must not use the committed session); ``subscribe_in_transaction`` handlers
run at once inside the publishing transaction and get its session, which is how durable tasks are
queued for an event (their records commit or roll back with the work that caused them).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_PENDING = "petition_after_commit"


@dataclass(frozen=True)
class DomainEvent:
    """Base class of every domain event; subclasses are frozen dataclasses of ids and values."""


@dataclass(frozen=True)
class PetitionRegistered(DomainEvent):
    petition_id: int
    tracking_no: str


@dataclass(frozen=True)
class PetitionStatusChanged(DomainEvent):
    petition_id: int
    tracking_no: str
    from_status: str
    to_status: str
    action: str


_subscribers: dict[type[DomainEvent], list[Callable[[DomainEvent], None]]] = defaultdict(list)
_tx_subscribers: dict[type[DomainEvent], list[Callable[[Session, DomainEvent], None]]] = defaultdict(list)


def subscribe(event_type: type[DomainEvent], handler: Callable[[DomainEvent], None]) -> None:
    """Call ``handler`` after commit for every published event of this type."""
    if handler not in _subscribers[event_type]:
        _subscribers[event_type].append(handler)


def subscribe_in_transaction(event_type: type[DomainEvent], handler: Callable[[Session, DomainEvent], None]) -> None:
    """Call ``handler(session, event)`` inside the publishing transaction; its errors roll the work back."""
    if handler not in _tx_subscribers[event_type]:
        _tx_subscribers[event_type].append(handler)


def on_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the session's current transaction commits; drop it on rollback."""
    # Begin a real transaction so that a rollback reaches the database and the listener below.
    session.connection()
    session.info.setdefault(_PENDING, []).append(callback)


def publish(session: Session, domain_event: DomainEvent) -> None:
    """Hand an event to in-transaction subscribers now and queue it for the others, dispatched after commit."""
    for etype, tx_handlers in list(_tx_subscribers.items()):
        if isinstance(domain_event, etype):
            for tx_handler in list(tx_handlers):
                tx_handler(session, domain_event)

    def dispatch() -> None:
        for etype, handlers in list(_subscribers.items()):
            if isinstance(domain_event, etype):
                for handler in list(handlers):
                    try:
                        handler(domain_event)
                    except Exception:  # one bad subscriber must not stop the others
                        log.exception("subscriber %s failed on %s", handler, domain_event)

    on_commit(session, dispatch)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    callbacks = session.info.pop(_PENDING, [])
    for callback in callbacks:
        try:
            callback()
        except Exception:
            log.exception("after-commit callback failed")


@event.listens_for(Session, "after_rollback")
def _drop_on_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
