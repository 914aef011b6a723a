"""Enumerations of mediation: kinds of session, participant roles, states and outcomes."""

from enum import StrEnum


class Kind(StrEnum):
    RECEPTION = "reception"  # 视频接访: a staff member receives the petitioner by video
    JOINT = "joint"  # 联合调解: several mediation bodies with the parties


class ParticipantRole(StrEnum):
    PETITION_OFFICE = "petition_office"
    PEOPLES_MEDIATION = "peoples_mediation"
    ADMINISTRATIVE = "administrative"
    JUDICIAL = "judicial"
    PETITIONER = "petitioner"
    REPRESENTATIVE = "representative"
    LAWYER = "lawyer"
    INTERPRETER = "interpreter"


# The petitioner's side: a collective petition sends at most five of these (信访工作条例).
PETITIONER_SIDE = frozenset({ParticipantRole.PETITIONER, ParticipantRole.REPRESENTATIVE})
MAX_REPRESENTATIVES = 5
# The mediation bodies; one of them hosts.
MEDIATORS = frozenset({ParticipantRole.PETITION_OFFICE, ParticipantRole.PEOPLES_MEDIATION, ParticipantRole.JUDICIAL})
# Who is a party to the agreement by default (the petitioner's side and the competent department).
PARTIES = frozenset({ParticipantRole.PETITIONER, ParticipantRole.REPRESENTATIVE, ParticipantRole.ADMINISTRATIVE})


class SessionStatus(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"


class Outcome(StrEnum):
    AGREED = "agreed"
    NO_AGREEMENT = "no_agreement"


class InviteStatus(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"  # in the outbox of the citizen's channel
    CONSOLE = "console"  # staff: shown in the console
    MANUAL = "manual"  # no channel to reach them: the host passes the link on


class RecordingStatus(StrEnum):
    CONSENT = "consent"  # waiting for everyone's consent
    RECORDING = "recording"
    DECLINED = "declined"
    PROCESSING = "processing"
    ATTACHED = "attached"
    FAILED = "failed"


KIND_LABELS: dict[str, tuple[str, str]] = {
    Kind.RECEPTION: ("视频接访", "Video reception"),
    Kind.JOINT: ("联合调解", "Joint mediation"),
}
ROLE_LABELS: dict[str, tuple[str, str]] = {
    ParticipantRole.PETITION_OFFICE: ("信访部门", "Petition office"),
    ParticipantRole.PEOPLES_MEDIATION: ("人民调解委员会", "People's mediation committee"),
    ParticipantRole.ADMINISTRATIVE: ("行政调解（主管部门）", "Administrative mediation (competent department)"),
    ParticipantRole.JUDICIAL: ("司法调解（法院）", "Judicial mediation (court)"),
    ParticipantRole.PETITIONER: ("信访人", "Petitioner"),
    ParticipantRole.REPRESENTATIVE: ("信访代表", "Representative"),
    ParticipantRole.LAWYER: ("律师", "Lawyer"),
    ParticipantRole.INTERPRETER: ("翻译", "Interpreter"),
}
STATUS_LABELS: dict[str, tuple[str, str]] = {
    SessionStatus.SCHEDULED: ("已排期", "Scheduled"),
    SessionStatus.LIVE: ("进行中", "In progress"),
    SessionStatus.ENDED: ("已结束", "Ended"),
    SessionStatus.CANCELLED: ("已取消", "Cancelled"),
}
OUTCOME_LABELS: dict[str, tuple[str, str]] = {
    Outcome.AGREED: ("达成调解协议", "Agreement reached"),
    Outcome.NO_AGREEMENT: ("未达成协议", "No agreement"),
}
INVITE_LABELS: dict[str, tuple[str, str]] = {
    InviteStatus.PENDING: ("待发送", "Not sent"),
    InviteStatus.QUEUED: ("已发送", "Sent"),
    InviteStatus.CONSOLE: ("工作台可见", "In the console"),
    InviteStatus.MANUAL: ("需人工转交", "Pass the link on"),
}
# What an agreement did to the case (MediationSession.case_action is these joined by "+").
CASE_ACTION_LABELS: dict[str, tuple[str, str]] = {
    "start": ("开始办理", "started handling"),
    "reply": ("以调解协议答复", "replied with the agreement"),
    "close": ("调解结案", "closed as resolved by mediation"),
    "reply_review": ("以调解协议作复查答复", "answered the review with the agreement"),
    "reply_reexam": ("以调解协议作复核答复", "answered the re-examination with the agreement"),
}
# How mediation events read in a case's history (the console's case page merges these into its labels).
AUDIT_LABELS: dict[str, tuple[str, str]] = {
    "mediation_scheduled": ("安排调解", "Mediation scheduled"),
    "mediation_invited": ("发送调解邀请", "Mediation invitations sent"),
    "mediation_reminded": ("调解提醒", "Mediation reminders sent"),
    "mediation_cancelled": ("取消调解", "Mediation cancelled"),
    "mediation_started": ("调解开始", "Mediation started"),
    "mediation_admitted": ("准许进入调解", "Admitted to mediation"),
    "mediation_removed": ("移出调解", "Removed from mediation"),
    "mediation_ended": ("调解会议结束", "Mediation call ended"),
    "mediation_agreement_proposed": ("拟定调解协议", "Agreement terms written"),
    "mediation_confirmed": ("当事方确认协议", "Agreement confirmed by a party"),
    "mediation_agreed": ("达成调解协议", "Agreement concluded"),
    "mediation_no_agreement": ("调解未达成协议", "Mediation ended without agreement"),
    "mediation_recording_started": ("开始调解录音", "Mediation recording started"),
    "mediation_recording_declined": ("拒绝调解录音", "Mediation recording declined"),
    "mediation_recording": ("调解录音归档", "Mediation recording attached"),
}
