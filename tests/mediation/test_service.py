"""Mediation in the domain: scheduling, conflicts, limits, invitation links, agreement and outcome (both databases)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.models import ConversationMessage
from cases import audit
from cases.enums import Status
from cases.models import Petition, Reply
from cases.service import Conflict, Forbidden, Invalid, get_by_tracking_no
from channels.models import OutboxMessage
from core.db import utcnow
from core.security import Signer
from mediation import agreement, service
from mediation.enums import InviteStatus, Outcome, SessionStatus
from mediation.models import MediationParticipant, MediationSession
from tests.mediation.conftest import actor, conversation, file_petition, joint, schedule


def _events(s, tracking_no: str) -> list[str]:
    return [e.action for e in audit.list_for_petition(s, get_by_tracking_no(s, tracking_no).id)]


def test_scheduling_invites_the_petitioner_on_their_channel_and_staff_in_the_console(db, staff, held):
    session_id, tracking_no, tokens = schedule(db)
    with db.session() as s:
        ms = s.get(MediationSession, session_id)
        by_role = {p.role: p for p in ms.participants}
        assert set(by_role) == {"petition_office", "administrative", "peoples_mediation", "petitioner"}
        assert by_role["petition_office"].is_host and ms.host == "office1" and ms.status == SessionStatus.SCHEDULED
        # The petitioner's name comes from the petition; their invitation went into the web chat that filed it.
        assert by_role["petitioner"].name == "王小明"
        assert (by_role["petitioner"].invite_status, by_role["petitioner"].invite_channel) == (InviteStatus.QUEUED, "webchat")
        chat = conversation(s)
        line = s.scalar(select(ConversationMessage).where(ConversationMessage.conversation_id == chat.id,
                                                          ConversationMessage.author == "mediation"))
        assert f"/mediation/join/{tokens['petitioner']}" in line.text and tracking_no in line.text
        outbox = s.scalars(select(OutboxMessage).where(OutboxMessage.conversation_id == chat.id)).all()
        assert [o.text for o in outbox] == [line.text]
        # The outside mediator has a phone: an SMS; staff see theirs in the console.
        assert (by_role["peoples_mediation"].invite_status, by_role["peoples_mediation"].invite_channel) == ("queued", "sms")
        assert s.scalar(select(OutboxMessage).where(OutboxMessage.channel == "sms", OutboxMessage.recipient == "+8613900001111"))
        assert by_role["administrative"].invite_status == InviteStatus.CONSOLE
        assert held.names().count("channels.send_outbox") == 2
        events = _events(s, tracking_no)
        assert events[-2:] == ["mediation_scheduled", "mediation_invited"]


def test_someone_without_a_channel_gets_the_link_by_hand(db, staff, held):
    with db.transaction() as s:
        petition = file_petition(s)
        ms = service.create_session(s, data=joint(petition.tracking_no, participants=[
            {"role": "administrative", "username": "hrss1"}, {"role": "petitioner"},
            {"role": "lawyer", "name": "赵律师"}]), actor=actor(s, "office1"))
        lawyer = next(p for p in ms.participants if p.role == "lawyer")
        assert lawyer.invite_status == InviteStatus.MANUAL and not lawyer.party


def test_the_same_staff_member_cannot_be_in_two_overlapping_sessions(db, staff, held):
    first, _, _ = schedule(db, starts_in=timedelta(hours=2), minutes=60)
    with db.transaction() as s:
        petition = file_petition(s, chat="another-citizen-chat")
        # hrss1 is already booked from +2h to +3h; +2h30 overlaps, whoever hosts.
        with pytest.raises(Conflict, match=r"hrss1 already has mediation session #\d+"):
            service.create_session(s, data=joint(petition.tracking_no, starts_in=timedelta(hours=2, minutes=30),
                                                 host="office2"), actor=actor(s, "office2"))
    with db.transaction() as s:
        petition = s.scalar(select(Petition).where(Petition.source_hash.is_not(None)).order_by(Petition.id.desc()))
        # The host is checked too.
        with pytest.raises(Conflict, match="office1"):
            service.create_session(s, data=joint(petition.tracking_no, starts_in=timedelta(hours=1, minutes=30), participants=[
                {"role": "administrative", "username": "yuelu1"}, {"role": "petitioner"}]), actor=actor(s, "office1"))
        # Back to back is fine.
        later = service.create_session(s, data=joint(petition.tracking_no, starts_in=timedelta(hours=3)),
                                       actor=actor(s, "office1"))
        assert later.id != first
    with db.transaction() as s:
        service.do_cancel(s, session_id=first, reason="当事人申请改期", actor=actor(s, "office1"))
    with db.transaction() as s:
        # A cancelled session no longer blocks anyone (this one takes the cancelled one's time exactly).
        service.create_session(s, data=joint(petition.tracking_no, starts_in=timedelta(hours=2), host="office2",
                                             participants=[{"role": "administrative", "username": "hrss1"},
                                                           {"role": "petitioner"}]), actor=actor(s, "office2"))


def test_a_collective_petition_sends_at_most_five_representatives(db, staff, held, settings, monkeypatch):
    monkeypatch.setattr(settings, "mediation_mesh_max", 12)
    reps = [{"role": "representative", "name": f"代表{i}"} for i in range(6)]
    with db.transaction() as s:
        petition = file_petition(s, head_count=30)
        assert petition.is_collective
        with pytest.raises(Invalid, match="at most 5 representatives"):
            service.create_session(s, data=joint(petition.tracking_no, participants=[
                {"role": "administrative", "username": "hrss1"}, *reps]), actor=actor(s, "office1"))
        with pytest.raises(Invalid, match="at most 5 representatives"):
            service.create_session(s, data=joint(petition.tracking_no, participants=[
                {"role": "administrative", "username": "hrss1"}, {"role": "petitioner"}, *reps[:5]]), actor=actor(s, "office1"))
        ms = service.create_session(s, data=joint(petition.tracking_no, participants=[
            {"role": "administrative", "username": "hrss1"}, *reps[:5]]), actor=actor(s, "office1"))
        assert sum(p.role == "representative" for p in ms.participants) == 5


def test_a_mesh_carries_only_so_many_people(db, staff, held):
    with db.transaction() as s:
        petition = file_petition(s)
        with pytest.raises(Invalid, match="LiveKit"):
            service.create_session(s, data=joint(petition.tracking_no, participants=[
                {"role": "administrative", "username": "hrss1"}, {"role": "petitioner"},
                *[{"role": "representative", "name": f"代表{i}"} for i in range(5)]]), actor=actor(s, "office1"))


def test_scheduling_is_checked(db, staff, held):
    with db.transaction() as s:
        petition = file_petition(s)
        with pytest.raises(Forbidden):
            service.create_session(s, data=joint(petition.tracking_no), actor=actor(s, "agent1"))
        # A handler of another unit does not see the case at all.
        from cases.service import NotFound
        with pytest.raises(NotFound):
            service.create_session(s, data=joint(petition.tracking_no, host="yuelu1"), actor=actor(s, "yuelu1"))
        with pytest.raises(Invalid, match="at least two mediation bodies"):
            service.create_session(s, data=joint(petition.tracking_no, participants=[{"role": "petitioner"}]),
                                   actor=actor(s, "office1"))
        with pytest.raises(Invalid, match="no active staff account"):
            service.create_session(s, data=joint(petition.tracking_no, participants=[
                {"role": "administrative", "username": "nobody"}, {"role": "petitioner"}]), actor=actor(s, "office1"))
        with pytest.raises(Invalid, match="past"):
            service.create_session(s, data=joint(petition.tracking_no, starts_in=-timedelta(days=2)),
                                   actor=actor(s, "office1"))
        # A reception needs only the host and the petitioner.
        ms = service.create_session(s, data=joint(petition.tracking_no, kind="reception", participants=[{"role": "petitioner"}]),
                                    actor=actor(s, "office1"))
        assert len(ms.participants) == 2


# ---- invitation links -------------------------------------------------------------------------------------

def test_a_valid_link_admits_its_holder(db, staff, held):
    session_id, _, tokens = schedule(db)
    with db.session() as s:
        p = service.access_invite(s, tokens["petitioner"], session_id=session_id)
        assert p.role == "petitioner" and p.session_id == session_id


def test_an_expired_link_is_refused(db, staff, held, settings):
    session_id, _, tokens = schedule(db)
    with db.session() as s:
        ms = s.get(MediationSession, session_id)
        expiry = ms.ends_at + timedelta(hours=settings.mediation_link_grace_hours)
        service.access_invite(s, tokens["petitioner"], now=expiry - timedelta(minutes=1))
        with pytest.raises(service.InviteRefused) as refused:
            service.access_invite(s, tokens["petitioner"], now=expiry + timedelta(seconds=1))
        assert refused.value.reason == "expired" and refused.value.status == 410


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"),  # the MAC
    lambda t: ".".join([t.split(".")[0], str(int(t.split(".")[1]) + 1), *t.split(".")[2:]]),  # another participant
    lambda t: ".".join([*t.split(".")[:3], str(int(t.split(".")[3]) + 86400 * 365), t.split(".")[4]]),  # a later expiry
    lambda t: t.replace(".", "-"),
    lambda t: "",
])
def test_a_tampered_link_is_refused(db, staff, held, mangle):
    _, _, tokens = schedule(db)
    with db.session() as s, pytest.raises(service.InviteRefused) as refused:
        service.access_invite(s, mangle(tokens["petitioner"]))
    assert refused.value.reason == "tampered"


def test_a_link_for_another_session_is_refused(db, staff, held, settings):
    first, _, first_tokens = schedule(db)
    second, _, _ = schedule(db, by="office2", host="office2", starts_in=timedelta(days=1))
    with db.session() as s:
        with pytest.raises(service.InviteRefused) as refused:
            service.access_invite(s, first_tokens["petitioner"], session_id=second)
        assert refused.value.reason == "other_session"
        # Even a correctly signed token that pairs one session with another's participant is refused.
        other = s.scalar(select(MediationParticipant).where(MediationParticipant.session_id == second,
                                                            MediationParticipant.role == "petitioner"))
        body = f"{first}.{other.id}.{other.nonce}.{int((utcnow() + timedelta(days=3)).timestamp())}"
        forged = f"{body}.{Signer(settings.secret_key.get_secret_value(), service.TOKEN_PURPOSE).sign(body.encode())[:32]}"
        with pytest.raises(service.InviteRefused) as refused:
            service.access_invite(s, forged)
        assert refused.value.reason == "other_session"


def test_a_replaced_or_removed_participants_link_is_refused(db, staff, held):
    session_id, _, tokens = schedule(db)
    with db.transaction() as s:
        mediator = service.access_invite(s, tokens["peoples_mediation"])
        new_token = service.do_reissue_invitation(s, session_id=session_id, participant_id=mediator.id,
                                                  actor=actor(s, "office1"))
    with db.transaction() as s:
        with pytest.raises(service.InviteRefused) as refused:
            service.access_invite(s, tokens["peoples_mediation"])
        assert refused.value.reason == "revoked"
        host = service.access_invite(s, tokens["host"])
        service.do_remove(s, host=host, participant_id=service.access_invite(s, new_token).id)
    with db.session() as s, pytest.raises(service.InviteRefused) as refused:
        service.access_invite(s, new_token)
    assert refused.value.reason == "removed"


def test_only_the_host_admits_removes_and_mutes(db, staff, held):
    _, _, tokens = schedule(db)
    with db.transaction() as s:
        petitioner = service.access_invite(s, tokens["petitioner"])
        mediator = service.access_invite(s, tokens["peoples_mediation"])
        assert not service.is_admitted(petitioner) and service.is_admitted(service.access_invite(s, tokens["administrative"]))
        with pytest.raises(Forbidden):
            service.do_admit(s, host=mediator, participant_id=petitioner.id)
        host = service.access_invite(s, tokens["host"])
        service.do_admit(s, host=host, participant_id=petitioner.id)
        assert service.is_admitted(petitioner)
        service.do_mute(s, host=host, participant_id=petitioner.id, muted=True)
        assert petitioner.muted


# ---- agreement and outcome ---------------------------------------------------------------------------------

def _agree(db, session_id, terms="公司于2026年12月31日前一次性支付拖欠工资三万元，信访人不再就此事信访。", by="office1"):
    with db.transaction() as s:
        agreement.do_set_agreement(s, session_id=session_id, terms=terms, actor=actor(s, by))


def test_every_partys_confirmation_moves_the_case_and_a_missing_one_does_not(db, staff, held):
    session_id, tracking_no, tokens = schedule(db)
    _agree(db, session_id)
    with db.transaction() as s:
        ms = agreement.do_confirm(s, token=tokens["petitioner"])
        assert ms.outcome is None and [p.role for p in agreement.waiting_for(ms)] == ["administrative"]
    with db.session() as s:
        # One party short: the case has not moved.
        assert get_by_tracking_no(s, tracking_no).status == Status.IN_PROGRESS
        assert "mediation_agreed" not in _events(s, tracking_no)
        # A mediator who is not a party cannot confirm for them.
        with pytest.raises(Forbidden):
            agreement.do_confirm(s, token=tokens["peoples_mediation"])
    with db.transaction() as s:
        ms = agreement.do_confirm(s, token=tokens["administrative"])
        assert ms.outcome == Outcome.AGREED and ms.case_action == "reply"
    with db.session() as s:
        petition = get_by_tracking_no(s, tracking_no)
        assert petition.status == Status.REPLIED
        reply = s.scalar(select(Reply).where(Reply.petition_id == petition.id))
        assert "一次性支付拖欠工资三万元" in reply.text and reply.author == "office1"
        events = audit.list_for_petition(s, petition.id)
        actions = [e.action for e in events]
        assert actions.count("mediation_confirmed") == 2
        assert actions.index("reply") < actions.index("mediation_agreed")
        agreed = next(e for e in events if e.action == "mediation_agreed")
        assert agreed.data["case_action"] == "reply" and "三万元" in agreed.data["terms"]
        assert {c["role"] for c in agreed.data["confirmations"]} == {"petitioner", "administrative"}
        assert audit.verify(s).ok
    with db.transaction() as s, pytest.raises(Conflict):
        agreement.do_set_agreement(s, session_id=session_id, terms="改一改", actor=actor(s, "office1"))


def test_new_terms_need_new_confirmations(db, staff, held):
    session_id, tracking_no, tokens = schedule(db)
    _agree(db, session_id, terms="第一稿")
    with db.transaction() as s:
        agreement.do_confirm(s, token=tokens["petitioner"])
    _agree(db, session_id, terms="第二稿")
    with db.transaction() as s:
        ms = agreement.do_confirm(s, token=tokens["administrative"])
        assert ms.outcome is None and [p.role for p in agreement.waiting_for(ms)] == ["petitioner"]
    with db.transaction() as s:
        assert agreement.do_confirm(s, token=tokens["petitioner"]).outcome == Outcome.AGREED
    with db.session() as s:
        assert get_by_tracking_no(s, tracking_no).status == Status.REPLIED


def test_an_agreement_on_a_replied_case_closes_it(db, staff, held):
    session_id, tracking_no, tokens = schedule(db, status=Status.REPLIED)
    _agree(db, session_id)
    for role in ("petitioner", "administrative"):
        with db.transaction() as s:
            agreement.do_confirm(s, token=tokens[role])
    with db.session() as s:
        petition = get_by_tracking_no(s, tracking_no)
        assert petition.status == Status.CLOSED
        close = next(e for e in audit.list_for_petition(s, petition.id) if e.action == "close")
        assert "调解" in close.reason and close.actor == "office1"


def test_a_handler_host_starts_and_replies_an_assigned_case(db, staff, held):
    with db.transaction() as s:
        petition = file_petition(s, status=Status.ASSIGNED)
        ms = service.create_session(s, data=joint(petition.tracking_no, participants=[
            {"role": "petition_office", "username": "office1"}, {"role": "petitioner"}]), actor=actor(s, "hrss1"))
        host = next(p for p in ms.participants if p.is_host)
        assert host.username == "hrss1" and host.role == "administrative" and host.party
        tokens = {p.role: service.invite_token(p, ms) for p in ms.participants}
        session_id, tracking_no = ms.id, petition.tracking_no
    _agree(db, session_id, by="hrss1")
    for role in ("petitioner", "administrative"):
        with db.transaction() as s:
            agreement.do_confirm(s, token=tokens[role])
    with db.session() as s:
        assert get_by_tracking_no(s, tracking_no).status == Status.REPLIED
        assert s.get(MediationSession, session_id).case_action == "start+reply"


def test_an_agreement_the_host_may_not_act_on_is_recorded_without_moving_the_case(db, staff, held):
    # A handler cannot close a case (only the petition office records that): the agreement stands, the case waits.
    with db.transaction() as s:
        petition = file_petition(s, status=Status.REPLIED)
        ms = service.create_session(s, data=joint(petition.tracking_no, participants=[
            {"role": "petition_office", "username": "office1"}, {"role": "petitioner"}]), actor=actor(s, "hrss1"))
        tokens = {p.role: service.invite_token(p, ms) for p in ms.participants}
        session_id, tracking_no = ms.id, petition.tracking_no
    _agree(db, session_id, by="hrss1")
    for role in ("petitioner", "administrative"):
        with db.transaction() as s:
            agreement.do_confirm(s, token=tokens[role])
    with db.session() as s:
        assert get_by_tracking_no(s, tracking_no).status == Status.REPLIED
        agreed = next(e for e in audit.list_for_petition(s, get_by_tracking_no(s, tracking_no).id)
                      if e.action == "mediation_agreed")
        assert agreed.data["case_action"] is None and "may not close" in agreed.reason


def test_a_session_can_end_without_agreement_with_a_reason(db, staff, held):
    session_id, tracking_no, tokens = schedule(db)
    _agree(db, session_id)
    with db.transaction() as s:
        host = service.access_invite(s, tokens["host"])
        service.do_join(s, participant=host)
        assert host.session.status == SessionStatus.LIVE
    with db.transaction() as s, pytest.raises(Invalid):
        agreement.do_no_agreement(s, session_id=session_id, reason=" ", actor=actor(s, "office1"))
    with db.transaction() as s, pytest.raises(Forbidden):
        agreement.do_no_agreement(s, session_id=session_id, reason="x", actor=actor(s, "hrss1"))
    with db.transaction() as s:
        ms = agreement.do_no_agreement(s, session_id=session_id, reason="双方对赔偿金额分歧较大", actor=actor(s, "office1"))
        assert (ms.outcome, ms.status) == (Outcome.NO_AGREEMENT, SessionStatus.ENDED)
    with db.session() as s:
        with pytest.raises(Conflict):
            agreement.do_confirm(s, token=tokens["petitioner"])
        assert get_by_tracking_no(s, tracking_no).status == Status.IN_PROGRESS
        events = audit.list_for_petition(s, get_by_tracking_no(s, tracking_no).id)
        ended = next(e for e in events if e.action == "mediation_ended")
        host_row = next(a for a in ended.data["attendance"] if a["host"])
        assert host_row["joined_at"] and host_row["left_at"]
        assert next(e for e in events if e.action == "mediation_no_agreement").reason == "双方对赔偿金额分歧较大"


def test_parties_confirming_at_the_same_moment_conclude_once(db, staff, held, monkeypatch):
    import threading
    import time

    session_id, tracking_no, tokens = schedule(db)
    _agree(db, session_id)
    barrier, errors = threading.Barrier(2), []
    locked = agreement.get_session

    def slow(*args, **kwargs):
        # Widen the window between reading the confirmations and writing one: without the row lock both
        # confirmations would see the other missing and the agreement would never conclude.
        ms = locked(*args, **kwargs)
        time.sleep(0.3)
        return ms

    monkeypatch.setattr(agreement, "get_session", slow)

    def confirm(role: str) -> None:
        try:
            barrier.wait(timeout=10)
            with db.transaction() as s:
                agreement.do_confirm(s, token=tokens[role])
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=confirm, args=(role,)) for role in ("petitioner", "administrative")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    with db.session() as s:
        petition = get_by_tracking_no(s, tracking_no)
        assert petition.status == Status.REPLIED and s.get(MediationSession, session_id).outcome == Outcome.AGREED
        assert len(s.scalars(select(Reply).where(Reply.petition_id == petition.id)).all()) == 1
        assert [e.action for e in audit.list_for_petition(s, petition.id)].count("mediation_agreed") == 1
