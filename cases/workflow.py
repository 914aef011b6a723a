"""The status machine: which action moves a petition from which status to which, and who may do it."""

from __future__ import annotations

from dataclasses import dataclass

from cases.enums import TERMINAL, Action, Status
from core.accounts import Role

S = Status
ACTIVE = frozenset(s for s in Status if s not in TERMINAL)


@dataclass(frozen=True)
class Move:
    sources: frozenset[Status]
    # None keeps the current status (an extension changes a deadline, not the stage).
    target: Status | None
    roles: frozenset[Role]
    needs_reason: bool = False
    needs_text: bool = False
    needs_unit: bool = False


_STAFF_LEADS = frozenset({Role.TRIAGE, Role.SUPERVISOR, Role.ADMIN})
_HANDLING = _STAFF_LEADS | {Role.HANDLER}
# Citizen-initiated moves are recorded by the staff who receive them (or by the bot as an agent).
_ON_BEHALF = _STAFF_LEADS | {Role.AGENT}

MOVES: dict[Action, Move] = {
    Action.ACCEPT: Move(frozenset({S.REGISTERED}), S.ACCEPTED, _HANDLING),
    Action.NOT_ACCEPT: Move(frozenset({S.REGISTERED}), S.NOT_ACCEPTED, _HANDLING, needs_reason=True),
    Action.FORWARD: Move(frozenset({S.REGISTERED}), S.FORWARDED, _STAFF_LEADS, needs_reason=True),
    Action.ASSIGN: Move(frozenset({S.ACCEPTED, S.ASSIGNED}), S.ASSIGNED, _STAFF_LEADS, needs_unit=True),
    Action.START: Move(frozenset({S.ASSIGNED}), S.IN_PROGRESS, _HANDLING),
    Action.REPLY: Move(frozenset({S.IN_PROGRESS}), S.REPLIED, _HANDLING, needs_text=True),
    Action.CLOSE: Move(frozenset({S.REPLIED, S.REVIEW_REPLIED}), S.CLOSED, _ON_BEHALF, needs_reason=True),
    Action.REQUEST_REVIEW: Move(frozenset({S.REPLIED}), S.REVIEW_REQUESTED, _ON_BEHALF, needs_reason=True),
    Action.START_REVIEW: Move(frozenset({S.REVIEW_REQUESTED}), S.UNDER_REVIEW, _HANDLING),
    Action.REPLY_REVIEW: Move(frozenset({S.UNDER_REVIEW}), S.REVIEW_REPLIED, _HANDLING, needs_text=True),
    Action.REQUEST_REEXAM: Move(frozenset({S.REVIEW_REPLIED}), S.REEXAM_REQUESTED, _ON_BEHALF, needs_reason=True),
    Action.START_REEXAM: Move(frozenset({S.REEXAM_REQUESTED}), S.UNDER_REEXAM, _HANDLING),
    Action.REPLY_REEXAM: Move(frozenset({S.UNDER_REEXAM}), S.FINAL, _HANDLING, needs_text=True),
    Action.EXTEND: Move(frozenset({S.ACCEPTED, S.ASSIGNED, S.IN_PROGRESS}), None,
                        frozenset({Role.SUPERVISOR, Role.ADMIN}), needs_reason=True),
    Action.WITHDRAW: Move(ACTIVE, S.WITHDRAWN, _ON_BEHALF, needs_reason=True),
    # A lead unit that is not responsible sends the case back to triage (the petition office) with its reason.
    Action.OBJECT: Move(frozenset({S.ASSIGNED}), S.ACCEPTED, _HANDLING, needs_reason=True),
    Action.MERGE: Move(frozenset({S.REGISTERED, S.ACCEPTED, S.ASSIGNED, S.IN_PROGRESS}), S.MERGED, _STAFF_LEADS,
                       needs_reason=True),
}


def allowed_actions(status: str) -> list[Action]:
    """List the actions that can be taken from a status."""
    return [action for action, move in MOVES.items() if Status(status) in move.sources]


def target_of(action: Action, status: str) -> Status | None:
    """Return the status an action leads to from ``status``, or None when the move is illegal."""
    move = MOVES[action]
    if Status(status) not in move.sources:
        return None
    return move.target or Status(status)


def path_to(status: str) -> list[Action]:
    """Return the shortest list of actions that leads from registration to ``status``."""
    goal, start = Status(status), Status.REGISTERED
    paths: dict[Status, list[Action]] = {start: []}
    frontier = [start]
    while frontier and goal not in paths:
        following = []
        for current in frontier:
            for action, move in MOVES.items():
                nxt = move.target
                if current in move.sources and nxt is not None and nxt not in paths:
                    paths[nxt] = [*paths[current], action]
                    following.append(nxt)
        frontier = following
    if goal not in paths:
        raise ValueError(f"{goal} cannot be reached from {start}")
    return paths[goal]
