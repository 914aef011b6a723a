"""Builders shared by the case tests."""

from __future__ import annotations

from datetime import datetime

from cases import service
from cases.enums import Action, Status
from cases.schemas import PetitionCreate, TransitionIn
from cases.workflow import path_to
from tests.conftest import ADMIN


def petition_data(**overrides) -> PetitionCreate:
    """Return a valid petition request, with overrides."""
    data = {"title": "小区物业乱收费", "content": "岳麓区某小区物业公司每月多收停车费二百元，业主多次反映无果。",
            "channel": "walk_in", "area_code": "430104", "category": "城乡建设", "head_count": 1,
            "demand": "退还多收的费用", "petitioner": {"name": "王小明", "phone": "13812341234"}}
    data.update(overrides)
    return PetitionCreate.model_validate(data)


def full_change(action: Action, target: str | None = None, **extra) -> TransitionIn:
    """Return a transition request with every field its action may need."""
    return TransitionIn(action=action, reason="依规处理 handled per the rules", text="经调查，已责令整改。",
                        unit="YL-GOV", target=target, **extra)


def register(session, *, now: datetime | None = None, **overrides):
    """Register a petition and return (petition, query_code)."""
    return service.create_petition(session, data=petition_data(**overrides), actor=ADMIN, now=now)


def drive(session, status: Status, *, now: datetime | None = None):
    """Register a petition and move it into ``status`` through the status machine."""
    petition, _ = register(session, now=now)
    for action in path_to(status):
        target = register(session, now=now)[0].tracking_no if action is Action.MERGE else None
        service.do_transition(session, tracking_no=petition.tracking_no, change=full_change(action, target),
                              actor=ADMIN, now=now)
    assert petition.status == status
    return petition
