"""Mediation in real Chromium: two and three pages with fake camera and microphone join one session through our
signalling, the host admits the petitioner from the waiting room, every pair of peers connects and decodes video."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta

import pytest

from tests.e2e.conftest import CHROMIUM_ARGS, CONSOLE_PASSWORD, DESKTOP, launch_chromium, screenshot

pytestmark = pytest.mark.e2e

# Fake devices instead of a camera and microphone, no permission prompts, and real host addresses in ICE
# candidates: Chromium hides them behind mDNS names by default, which nothing on this machine resolves.
MEDIA_ARGS = [*CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
              "--disable-features=WebRtcHideLocalIpsWithMdns", "--autoplay-policy=no-user-gesture-required"]
CONNECT_TIMEOUT_S = 25
_SLOTS = itertools.count()

# Each peer of the page: its connection state, the remote video's size and the frames decoded so far.
PEER_STATS = """async () => {
  const out = [];
  for (const [id, entry] of window.mediation.peers) {
    let frames = 0;
    (await entry.pc.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "video") frames += r.framesDecoded || 0;
    });
    out.push({id, state: entry.pc.connectionState, width: entry.video.videoWidth, frames});
  }
  return out;
}"""


# Whether the (one) remote picture has this aspect ratio, within a tolerance.
RATIO = """([ratio, tolerance]) => {
  const entry = [...window.mediation.peers.values()][0];
  const v = entry && entry.video;
  return Boolean(v && v.videoHeight && Math.abs(v.videoWidth / v.videoHeight - ratio) < tolerance);
}"""


@pytest.fixture(scope="module")
def media_browser(playwright_driver):
    """Launch a Chromium of our own with fake media devices (the shared one has fixed arguments)."""
    chromium = launch_chromium(playwright_driver, MEDIA_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def open_page(media_browser, live_server):
    contexts = []

    def make(viewport=None):
        context = media_browser.new_context(viewport=viewport or {"width": 960, "height": 720}, locale="zh-CN",
                                            base_url=live_server)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def _session(live_db, *, staff_guest: bool) -> tuple[int, dict[str, str]]:
    """Schedule a session for a petition filed over web chat; return its id and each participant's link path."""
    from bot import service as conversations
    from cases import service as cases
    from cases.enums import Action
    from cases.schemas import TransitionIn
    from core.accounts import Actor, get_by_username
    from core.db import utcnow
    from mediation import service
    from mediation.schemas import SessionCreate
    from tests.cases.helpers import petition_data

    admin = Actor("e2e-admin", "admin")
    with live_db.transaction() as s:
        chat = f"e2e-mediation-{time.monotonic_ns()}"
        conversations.ensure(s, channel="webchat", external_id=chat)
        petition, _ = cases.create_petition(s, data=petition_data(channel="webchat", category="劳动和社会保障"),
                                            actor=admin, source=cases.source_digest("webchat", chat))
        for change in (TransitionIn(action=Action.ACCEPT), TransitionIn(action=Action.ASSIGN, unit="CS-HRSS"),
                       TransitionIn(action=Action.START)):
            cases.do_transition(s, tracking_no=petition.tracking_no, change=change, actor=admin)
        participants = [{"role": "petitioner"}]
        participants.append({"role": "administrative", "username": "hrss1"} if staff_guest else
                            {"role": "peoples_mediation", "name": "李调解"})
        # Each session gets its own two hours so that the staff conflict check leaves them alone.
        starts = utcnow() + timedelta(hours=1 + 2 * next(_SLOTS))
        ms = service.create_session(s, data=SessionCreate.model_validate({
            "tracking_no": petition.tracking_no, "kind": "joint", "starts_at": starts, "duration_minutes": 60,
            "participants": participants}), actor=Actor.of(get_by_username(s, "triage1")))
        return ms.id, {p.role: service.join_path(service.invite_token(p, ms)) for p in ms.participants}


def _enter(page, path: str) -> None:
    page.goto(path)
    page.click("[data-testid=join]")


def _wait_connected(pages: dict, expected_peers: int) -> dict:
    """Wait until every page has `expected_peers` connected peers whose video it decodes; return the last stats."""
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    stats = {}
    while time.monotonic() < deadline:
        stats = {name: page.evaluate(PEER_STATS) for name, page in pages.items()}
        if all(len(peers) == expected_peers and all(p["state"] == "connected" and p["width"] > 0 and p["frames"] > 0
                                                    for p in peers) for peers in stats.values()):
            return stats
        time.sleep(0.25)
    raise AssertionError(f"peers did not connect and decode video within {CONNECT_TIMEOUT_S} s: {stats}")


def test_two_pages_connect_through_the_waiting_room(open_page, live_db, console_staff):
    session_id, links = _session(live_db, staff_guest=False)
    host, citizen = open_page(), open_page({"width": 390, "height": 844})
    _enter(host, links["petition_office"])
    host.wait_for_selector("body[data-state=in-room]")
    _enter(citizen, links["petitioner"])
    citizen.wait_for_selector("body[data-state=waiting]")
    # Waiting: the citizen's page has no connection to anyone yet.
    assert citizen.evaluate(PEER_STATS) == []
    host.wait_for_selector("#waiting button")
    started = time.monotonic()
    host.click("#waiting button")
    citizen.wait_for_selector("body[data-state=in-room]")
    stats = _wait_connected({"host": host, "citizen": citizen}, 1)
    print(f"\n2 pages: connected and decoding {time.monotonic() - started:.1f} s after admission; {stats}")
    screenshot(citizen, "mediation-room-citizen")

    # The host shares the screen (a document): the citizen's picture turns from the 4:3 camera to the 16:9 screen
    # without renegotiating, and back when the host stops.
    citizen.wait_for_function(RATIO, arg=[4 / 3, 0.05])
    host.click("#share")
    citizen.wait_for_function(RATIO, arg=[16 / 9, 0.05], timeout=15_000)
    host.click("#share")
    citizen.wait_for_function(RATIO, arg=[4 / 3, 0.05], timeout=15_000)

    # The host mutes the citizen: the citizen's microphone goes off and the button stays off.
    host.click("#roster li button.secondary")
    citizen.wait_for_selector("#mic:disabled")
    assert citizen.evaluate("window.mediation.local.getAudioTracks().every(t => !t.enabled)")
    assert not citizen.is_hidden("#muted-note")


def _wait_attached(live_db, session_id: int, timeout: float = 30) -> dict:
    """Wait until the session's recording is converted and attached to the case; return what was attached."""
    from sqlalchemy import select

    from cases.handling.models import CaseAttachment
    from mediation.models import MediationRecording

    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        with live_db.session() as s:
            rec = s.scalar(select(MediationRecording).where(MediationRecording.session_id == session_id)
                           .order_by(MediationRecording.id.desc()))
            status = rec.status if rec else None
            if status == "attached":
                files = [s.get(CaseAttachment, aid) for aid in rec.attachment_ids]
                return {"size": rec.size, "files": [(f.content_type, f.filename.endswith(".mp3")) for f in files]}
            assert status not in ("failed", "declined"), (status, rec.error)
        time.sleep(0.5)
    raise AssertionError(f"the recording was not attached within {timeout:.0f} s (status {status})")


def test_three_pages_form_a_full_mesh(open_page, live_db, console_staff, live_server, monkeypatch):
    from core.settings import get_settings

    # The transcript has its own test; here it would load Whisper behind the other browser tests.
    monkeypatch.setattr(get_settings(), "mediation_transcribe", False)
    session_id, links = _session(live_db, staff_guest=True)
    pages = {"host": open_page(), "department": open_page(), "citizen": open_page()}
    _enter(pages["host"], links["petition_office"])
    pages["host"].wait_for_selector("body[data-state=in-room]")
    # Staff come straight in; the petitioner waits for the host.
    _enter(pages["department"], links["administrative"])
    pages["department"].wait_for_selector("body[data-state=in-room]")
    _enter(pages["citizen"], links["petitioner"])
    pages["citizen"].wait_for_selector("body[data-state=waiting]")
    started = time.monotonic()
    pages["host"].click("#admit-all")
    stats = _wait_connected(pages, 2)
    print(f"\n3 pages: full mesh connected and decoding {time.monotonic() - started:.1f} s after admission; {stats}")
    screenshot(pages["host"], "mediation-room-host")

    # Recording: everyone present is asked first; only when all agree does the host's browser record the room's
    # sound, upload it in pieces and have it attached to the case.
    pages["host"].click("#record")
    for name in ("department", "citizen"):
        pages[name].wait_for_selector("#consent[open]")
        pages[name].click("#consent-yes")
    for page in pages.values():
        page.wait_for_selector("#recording-badge:not([hidden])")
    pages["host"].wait_for_function("window.mediation.recording !== null")
    time.sleep(2)
    pages["host"].click("#record")
    recording = _wait_attached(live_db, session_id)
    assert recording["size"] > 1000 and recording["files"] == [("audio/mpeg", True)]

    # The agreement is written by the host and confirmed by each party through their own page.
    pages["host"].fill("#terms-text", "公司于月底前支付拖欠工资两万元。")
    pages["host"].click("form[data-kind=terms] button")
    for name in ("citizen", "department"):
        pages[name].wait_for_selector("[data-testid=terms]")
        pages[name].check("form[data-kind=confirm] input[name=agree]")
        pages[name].click("[data-testid=confirm]")
        pages[name].wait_for_selector("[data-testid=confirmed], [data-testid=outcome]")
    pages["host"].wait_for_selector("[data-testid=outcome][data-outcome=agreed]")
    assert _wait_connected(pages, 2)  # confirming did not disturb the call

    # The console shows the outcome to the host.
    console_page = open_page({"width": DESKTOP["width"], "height": DESKTOP["height"]})
    console_page.goto("/console/login")
    console_page.fill("input[name=username]", "triage1")
    console_page.fill("input[name=password]", CONSOLE_PASSWORD)
    console_page.click("button[type=submit]")
    console_page.wait_for_url(lambda url: "/console/login" not in url)
    console_page.goto(f"/console/mediation/{session_id}")
    assert console_page.get_attribute("[data-testid=outcome]", "data-outcome") == "agreed"
    screenshot(console_page, "mediation-console-session")
