"""Mediation across two server processes in real Chromium: the host's page talks to the live server, the
petitioner's to a second server process on the same database; their signalling meets only through Redis, and the
two pages still admit, connect and decode each other's video."""

from __future__ import annotations

import itertools
import json
import time
import uuid

import pytest
import redis

from tests.conftest import REDIS_URL
from tests.e2e import test_mediation
from tests.e2e.conftest import REQUIRE_SERVICES, launch_chromium
from tests.e2e.test_mediation import MEDIA_ARGS, _enter, _session, _wait_connected
from tests.mediation.test_signalling_redis import server_process

pytestmark = [pytest.mark.e2e, pytest.mark.redis]


@pytest.fixture(scope="module")
def media_browser(playwright_driver):
    """Launch a Chromium of our own with fake media devices, as tests/e2e/test_mediation.py does."""
    chromium = launch_chromium(playwright_driver, MEDIA_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def second_server(live_db, monkeypatch):
    """Share the live server's rooms through Redis and serve the app a second time, in a process of its own."""
    from core.settings import get_settings

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except (redis.RedisError, OSError):
        if REQUIRE_SERVICES:
            pytest.fail(f"Redis not reachable at {REDIS_URL}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    prefix = f"petition-test:mediation:{uuid.uuid4().hex[:10]}:"
    for settings in {id(s): s for s in (get_settings(), live_db.settings)}.values():
        monkeypatch.setattr(settings, "mediation_redis_url", REDIS_URL)
        monkeypatch.setattr(settings, "mediation_redis_prefix", prefix)
    try:
        with server_process(live_db.settings, redis_url=REDIS_URL, prefix=prefix,
                            ttl_s=live_db.settings.mediation_presence_ttl_s) as (url, _):
            yield url, client, prefix
    finally:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


def test_two_pages_on_two_server_processes_connect(media_browser, live_server, live_db, console_staff, second_server,
                                                   monkeypatch):
    other, client, prefix = second_server
    # Imported, _session counts its two-hour slots apart from test_mediation.py's: start well after those.
    monkeypatch.setattr(test_mediation, "_SLOTS", itertools.count(100))
    session_id, links = _session(live_db, staff_guest=False)
    pages = []
    for viewport in ({"width": 960, "height": 720}, {"width": 390, "height": 844}):
        context = media_browser.new_context(viewport=viewport, locale="zh-CN", base_url=live_server)
        context.set_default_timeout(15_000)
        pages.append(context.new_page())
    host, citizen = pages
    _enter(host, links["petition_office"])
    host.wait_for_selector("body[data-state=in-room]")
    _enter(citizen, other + links["petitioner"])
    citizen.wait_for_selector("body[data-state=waiting]")
    # The host's page learns of the citizen waiting on the other server, and admits them from there.
    host.wait_for_selector("#waiting button")
    assert len({json.loads(v)["node"] for v in client.hvals(f"{prefix}{session_id}:presence")}) == 2
    started = time.monotonic()
    host.click("#waiting button")
    citizen.wait_for_selector("body[data-state=in-room]")
    stats = _wait_connected({"host": host, "citizen": citizen}, 1)
    print(f"\n2 pages on 2 servers: connected and decoding {time.monotonic() - started:.1f} s after admission; {stats}")
    for page in pages:
        page.context.close()
