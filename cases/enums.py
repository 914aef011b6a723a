"""Enumerations of the case domain."""

from enum import StrEnum


class Status(StrEnum):
    REGISTERED = "registered"
    ACCEPTED = "accepted"
    NOT_ACCEPTED = "not_accepted"
    FORWARDED = "forwarded"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    REPLIED = "replied"
    CLOSED = "closed"
    REVIEW_REQUESTED = "review_requested"
    UNDER_REVIEW = "under_review"
    REVIEW_REPLIED = "review_replied"
    REEXAM_REQUESTED = "reexam_requested"
    UNDER_REEXAM = "under_reexam"
    FINAL = "final"
    WITHDRAWN = "withdrawn"
    MERGED = "merged"


TERMINAL = frozenset({Status.NOT_ACCEPTED, Status.FORWARDED, Status.CLOSED, Status.FINAL, Status.WITHDRAWN, Status.MERGED})


# How a status reads for citizens and staff: (Chinese, English).
STATUS_LABELS: dict[Status, tuple[str, str]] = {
    Status.REGISTERED: ("已登记", "Registered"),
    Status.ACCEPTED: ("已受理", "Accepted"),
    Status.NOT_ACCEPTED: ("不予受理", "Not accepted"),
    Status.FORWARDED: ("已转送", "Forwarded"),
    Status.ASSIGNED: ("已交办", "Assigned"),
    Status.IN_PROGRESS: ("办理中", "In progress"),
    Status.REPLIED: ("已答复", "Replied"),
    Status.CLOSED: ("已办结", "Closed"),
    Status.REVIEW_REQUESTED: ("已申请复查", "Review requested"),
    Status.UNDER_REVIEW: ("复查中", "Under review"),
    Status.REVIEW_REPLIED: ("已复查", "Review replied"),
    Status.REEXAM_REQUESTED: ("已申请复核", "Re-examination requested"),
    Status.UNDER_REEXAM: ("复核中", "Under re-examination"),
    Status.FINAL: ("复核终结", "Final"),
    Status.WITHDRAWN: ("已撤回", "Withdrawn"),
    Status.MERGED: ("已合并", "Merged"),
}


class Action(StrEnum):
    ACCEPT = "accept"
    NOT_ACCEPT = "not_accept"
    FORWARD = "forward"
    ASSIGN = "assign"
    START = "start"
    REPLY = "reply"
    CLOSE = "close"
    REQUEST_REVIEW = "request_review"
    START_REVIEW = "start_review"
    REPLY_REVIEW = "reply_review"
    REQUEST_REEXAM = "request_reexam"
    START_REEXAM = "start_reexam"
    REPLY_REEXAM = "reply_reexam"
    EXTEND = "extend"
    WITHDRAW = "withdraw"
    MERGE = "merge"
    OBJECT = "object"


class Channel(StrEnum):
    WEBCHAT = "webchat"
    WECHAT = "wechat"
    MINIPROGRAM = "miniprogram"
    SMS = "sms"
    PHONE = "phone"
    OPEN311 = "open311"
    WALK_IN = "walk_in"
    LETTER = "letter"
    API = "api"


class AreaLevel(StrEnum):
    PROVINCE = "province"
    CITY = "city"
    DISTRICT = "district"
    STREET = "street"


class UnitRole(StrEnum):
    LEAD = "lead"
    ASSIST = "assist"


class ReplyKind(StrEnum):
    REPLY = "reply"
    REVIEW = "review"
    REEXAM = "reexam"

