"""Mediation fixtures: staff of each kind, petitions filed over web chat, a held task runner, a session builder."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot import service as conversations
from bot.models import Conversation
from cases import catalog
from cases import service as cases
from cases.enums import Action, Status
from cases.schemas import TransitionIn
from core.accounts import Actor, create_token, create_user, get_by_username
from core.db import utcnow
from mediation import service
from mediation.schemas import SessionCreate
from tests.cases.helpers import petition_data
from tests.conftest import ADMIN

PASSWORD = "mediation-test-2026"
# username -> (role, unit code)
STAFF = {"office1": ("triage", None), "office2": ("triage", None), "super1": ("supervisor", None),
         "hrss1": ("handler", "CS-HRSS"), "yuelu1": ("handler", "YL-GOV"), "agent1": ("agent", None),
         "analyst1": ("analyst", None), "admin1": ("admin", None)}
CITIZEN_CHAT = "mediation-citizen-0001"
# Sessions are scheduled relative to one fixed instant, so that "back to back" is exact to the microsecond.
ANCHOR = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


class HeldRunner:
    """Keep submitted tasks instead of running them on threads; tests run what they need themselves."""

    def __init__(self):
        self.submitted: list[tuple[str, dict]] = []

    def submit(self, name, kwargs):
        # The durable task record's id travels with the arguments; these tests call the task bodies directly.
        self.submitted.append((name, {k: v for k, v in kwargs.items() if k != "_task_record"}))

    def names(self) -> list[str]:
        return [name for name, _ in self.submitted]


@pytest.fixture
def held():
    from core import tasks as core_tasks

    runner = HeldRunner()
    original, core_tasks._runner = core_tasks._runner, runner
    yield runner
    core_tasks._runner = original


@pytest.fixture
def staff(db):
    """Create the staff accounts and return their API tokens by username."""
    tokens = {}
    with db.transaction() as s:
        for username, (role, unit) in STAFF.items():
            unit_id = catalog.get_unit_by_code(s, unit).id if unit else None
            user = create_user(s, username=username, password=PASSWORD, role=role, unit_id=unit_id, display_name=username)
            tokens[username] = create_token(s, user=user)
    return tokens


def actor(session, username: str) -> Actor:
    """Return the actor of a staff account."""
    return Actor.of(get_by_username(session, username))


def file_petition(session, *, status: Status = Status.IN_PROGRESS, head_count: int = 1, chat: str = CITIZEN_CHAT,
                  unit: str = "CS-HRSS"):
    """File a petition over web chat (the citizen's conversation follows it) and drive it to a status."""
    conversations.ensure(session, channel="webchat", external_id=chat)
    petition, _ = cases.create_petition(
        session, data=petition_data(channel="webchat", head_count=head_count, category="劳动和社会保障",
                                    title="拖欠工资三个月", content="某公司拖欠工资三个月，多次讨要无果。", area_code="430104"),
        actor=ADMIN, source=cases.source_digest("webchat", chat))
    conv = conversations.get_by_identity(session, channel="webchat", external_id=chat)
    conv.petition_id = petition.id
    steps = {Status.REGISTERED: [], Status.ACCEPTED: [Action.ACCEPT], Status.ASSIGNED: [Action.ACCEPT, Action.ASSIGN],
             Status.IN_PROGRESS: [Action.ACCEPT, Action.ASSIGN, Action.START],
             Status.REPLIED: [Action.ACCEPT, Action.ASSIGN, Action.START, Action.REPLY]}[status]
    for action in steps:
        cases.do_transition(session, tracking_no=petition.tracking_no, actor=ADMIN, change=TransitionIn(
            action=action, unit=unit if action is Action.ASSIGN else None,
            text="已调查处理。" if action is Action.REPLY else None))
    session.flush()
    return petition


def conversation(session, chat: str = CITIZEN_CHAT) -> Conversation:
    return conversations.get_by_identity(session, channel="webchat", external_id=chat)


def joint(tracking_no: str, *, starts_in: timedelta = timedelta(hours=2), minutes: int = 60, host: str | None = None,
          participants: list[dict] | None = None, kind: str = "joint") -> SessionCreate:
    """Return a joint mediation request: petition office host, the competent department (hrss1), the petitioner."""
    return SessionCreate.model_validate({
        "tracking_no": tracking_no, "kind": kind, "starts_at": ANCHOR + starts_in, "duration_minutes": minutes,
        "host": host, "participants": participants if participants is not None else [
            {"role": "administrative", "username": "hrss1"},
            {"role": "peoples_mediation", "name": "李调解", "organisation": "岳麓区人民调解委员会", "phone": "13900001111"},
            {"role": "petitioner"},
        ]})


def schedule(db, *, by: str = "office1", status: Status = Status.IN_PROGRESS, **kwargs):
    """File a petition and schedule a joint session for it; return (session id, tracking number, tokens by role)."""
    with db.transaction() as s:
        petition = file_petition(s, status=status)
        ms = service.create_session(s, data=joint(petition.tracking_no, **kwargs), actor=actor(s, by))
        tokens = {p.role if p.role != "petition_office" else "host": service.invite_token(p, ms) for p in ms.participants}
        return ms.id, petition.tracking_no, tokens
