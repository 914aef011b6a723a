"""Mediation signalling across server processes: rooms shared through Redis pub/sub and presence.

Two relays meet only through Redis: two apps served by uvicorn on their own ports and event loops in this process
(each loop has its own relay, node id and rooms), and for the crash test a second server in a process of its own
that is killed with SIGKILL. Every test uses its own key prefix and deletes its keys afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import httpx
import pytest
import redis
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from cases import audit
from cases.service import get_by_tracking_no
from core.settings import Settings
from mediation import rooms
from mediation.models import MediationParticipant, MediationSession
from server.app import create_app
from tests.conftest import REDIS_URL, REQUIRE_SERVICES
from tests.mediation.conftest import PASSWORD, schedule

ROOT = Path(__file__).resolve().parents[2]
# Short enough for the crash test, long enough that a busy machine's late heartbeat is not taken for a crash.
TTL_S = 3.0


@pytest.fixture
def shared(settings, monkeypatch):
    """Share rooms through the test Redis under a prefix of this test's own; delete its keys afterwards."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except (redis.RedisError, OSError):
        if REQUIRE_SERVICES:
            pytest.fail(f"Redis not reachable at {REDIS_URL}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    prefix = f"petition-test:mediation:{uuid.uuid4().hex[:10]}:"
    monkeypatch.setattr(settings, "mediation_redis_url", REDIS_URL)
    monkeypatch.setattr(settings, "mediation_redis_prefix", prefix)
    monkeypatch.setattr(settings, "mediation_presence_ttl_s", TTL_S)
    yield client, prefix
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def staff(db):
    """Create only the host's and the department's accounts (each costs an argon2 hash); return their API tokens."""
    from cases import catalog
    from core.accounts import create_token, create_user

    tokens = {}
    with db.transaction() as s:
        for username, (role, unit) in {"office1": ("triage", None), "hrss1": ("handler", "CS-HRSS")}.items():
            unit_id = catalog.get_unit_by_code(s, unit).id if unit else None
            user = create_user(s, username=username, password=PASSWORD, role=role, unit_id=unit_id, display_name=username)
            tokens[username] = create_token(s, user=user)
    return tokens


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _wait_healthy(url: str, alive, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the server at {url} stopped during startup")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    raise RuntimeError(f"the server at {url} was not healthy after {timeout:.0f} s")


@pytest.fixture
def instances(db, settings, held, shared):
    """Serve two apps on the same database and Redis, each with its own uvicorn server, port and event loop."""
    import uvicorn

    from core import tasks as core_tasks

    started = []
    for name in ("a", "b"):
        app = create_app(settings)
        sock = _free_socket()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=sock.getsockname()[1], log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"mediation-{name}", daemon=True)
        thread.start()
        started.append((server, thread, sock, f"http://127.0.0.1:{sock.getsockname()[1]}"))
    # The apps install their own task runner; nothing here needs tasks to run.
    core_tasks._runner = held
    try:
        for _, thread, _, url in started:
            _wait_healthy(url, thread.is_alive)
        yield [url for *_, url in started]
    finally:
        for server, *_ in started:
            server.should_exit = True
        for _, thread, sock, _ in started:
            thread.join(timeout=10)
            sock.close()


def ws_url(base: str, session_id: int, token: str) -> str:
    return base.replace("http://", "ws://") + f"/mediation/ws/{session_id}?token={token}"


def recv(ws, timeout: float = 5.0) -> dict:
    """Receive one JSON frame (or the close), failing instead of hanging when none comes."""
    try:
        return json.loads(ws.recv(timeout=timeout))
    except ConnectionClosed as exc:
        return {"type": "closed", "code": exc.rcvd.code if exc.rcvd else None}


def expect(ws, kind: str, *, skip: tuple[str, ...] = ("roster", "hello"), timeout: float = 5.0) -> dict:
    """Receive frames until one of this type; only frames of the `skip` types may come before it."""
    while True:
        frame = recv(ws, timeout)
        if frame["type"] == kind:
            return frame
        assert frame["type"] in skip, f"expected {kind}, got {frame}"


def roster_until(ws, check, *, skip: tuple[str, ...] = (), timeout: float = 5.0) -> dict:
    """Receive rosters until one passes `check` (as a dict of participant id to member); return that dict."""
    deadline = time.monotonic() + timeout
    while True:
        frame = expect(ws, "roster", skip=skip, timeout=max(deadline - time.monotonic(), 0.01))
        members = {m["id"]: m for m in frame["members"]}
        if check(members):
            return members


def presence(client, prefix: str, session_id: int) -> dict[int, dict]:
    return {int(k): json.loads(v) for k, v in client.hgetall(f"{prefix}{session_id}:presence").items()}


def participant_ids(db, session_id: int) -> dict[str, int]:
    with db.session() as s:
        return {p.role: p.id for p in s.get(MediationSession, session_id).participants}


def test_the_relay_url_comes_from_the_setting_or_a_redis_broker():
    assert rooms.relay_url(Settings(broker_url=None, mediation_redis_url=None)) is None
    assert rooms.relay_url(Settings(broker_url="redis://r:6379/0")) == "redis://r:6379/0"
    assert rooms.relay_url(Settings(broker_url="amqp://mq//")) is None
    assert rooms.relay_url(Settings(broker_url="redis://r/0", mediation_redis_url="redis://m/3")) == "redis://m/3"
    assert rooms.relay_url(Settings(broker_url="redis://r/0", mediation_redis_url="")) is None


def test_a_socket_is_sent_away_to_retry_while_redis_is_down(db, staff, settings, held, monkeypatch):
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    from core import tasks as core_tasks

    monkeypatch.setattr(settings, "mediation_redis_url", "redis://127.0.0.1:1/0")  # nothing listens there
    app = create_app(settings)
    core_tasks._runner = held
    session_id, _, tokens = schedule(db)
    citizen_id = participant_ids(db, session_id)["petitioner"]
    with TestClient(app) as client, client.websocket_connect(f"/mediation/ws/{session_id}?token={tokens['petitioner']}") as ws:
        frame = ws.receive_json()
        assert frame["type"] == "error" and frame["code"] == "unavailable" and "信令" in frame["detail"]
        # 1013 (try again later): the page reconnects by itself instead of giving up as it does when refused.
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1013
    with db.session() as s:
        assert s.get(MediationParticipant, citizen_id).left_at is not None


@pytest.mark.redis
def test_host_and_participant_on_two_servers_meet_through_redis(db, staff, instances, shared):
    a, b = instances
    client, prefix = shared
    session_id, tracking_no, tokens = schedule(db)
    ids = participant_ids(db, session_id)
    host_id, citizen_id = ids["petition_office"], ids["petitioner"]
    with connect(ws_url(a, session_id, tokens["host"]), open_timeout=5) as host:
        assert expect(host, "admitted")["peers"] == []
        with connect(ws_url(b, session_id, tokens["petitioner"]), open_timeout=5) as citizen:
            assert expect(citizen, "hello")["you"]["state"] == "waiting"
            expect(citizen, "waiting")
            # The host, on the other server, sees the citizen wait; Redis says who is connected where.
            roster_until(host, lambda m: m.get(citizen_id, {}).get("state") == "waiting")
            where = presence(client, prefix, session_id)
            assert set(where) == {host_id, citizen_id} and where[host_id]["node"] != where[citizen_id]["node"]

            # Not admitted: nothing is relayed either way.
            citizen.send(json.dumps({"type": "signal", "to": host_id, "data": {"sdp": {"type": "offer"}}}))
            assert expect(citizen, "error")["code"] == "not_admitted"
            host.send(json.dumps({"type": "signal", "to": citizen_id, "data": {"sdp": {"type": "offer"}}}))
            assert expect(host, "error")["code"] == "no_such_peer"

            host.send(json.dumps({"type": "admit", "id": citizen_id}))
            assert expect(host, "peer-joined")["peer"]["id"] == citizen_id
            admitted = expect(citizen, "admitted")
            assert [p["id"] for p in admitted["peers"]] == [host_id] and admitted["peers"][0]["host"] is True

            # Offer, answer and candidates cross the servers both ways.
            offer = {"sdp": {"type": "offer", "sdp": "v=0 offer"}}
            citizen.send(json.dumps({"type": "signal", "to": host_id, "data": offer}))
            assert expect(host, "signal") == {"type": "signal", "from": citizen_id, "data": offer}
            host.send(json.dumps({"type": "signal", "to": citizen_id, "data": {"sdp": {"type": "answer", "sdp": "v=0"}}}))
            assert expect(citizen, "signal")["data"]["sdp"]["type"] == "answer"
            for sender, receiver, to, sender_id in ((host, citizen, citizen_id, host_id),
                                                     (citizen, host, host_id, citizen_id)):
                sender.send(json.dumps({"type": "signal", "to": to, "data": {"candidate": {"candidate": f"c{to}"}}}))
                relayed = expect(receiver, "signal")
                assert relayed["from"] == sender_id and relayed["data"] == {"candidate": {"candidate": f"c{to}"}}

            # The host mutes the citizen: the order reaches the other server, and the host's roster shows it.
            host.send(json.dumps({"type": "mute", "id": citizen_id, "muted": True}))
            assert expect(citizen, "mute") == {"type": "mute", "muted": True, "by": "host"}
            roster_until(host, lambda m: m[citizen_id]["muted"] is True)
            citizen.send(json.dumps({"type": "self-mute", "muted": True}))
            roster_until(host, lambda m: m[citizen_id]["self_muted"] is True)

            host.send(json.dumps({"type": "remove", "id": citizen_id}))
            assert expect(citizen, "removed", skip=("roster",))
            assert recv(citizen)["type"] == "closed"
            assert expect(host, "peer-left")["id"] == citizen_id
            assert set(presence(client, prefix, session_id)) == {host_id}
        # The removed participant's link no longer opens the room, on either server.
        with connect(ws_url(b, session_id, tokens["petitioner"]), open_timeout=5) as again:
            assert recv(again)["reason"] == "removed"
    with db.session() as s:
        actions = {e.action for e in audit.list_for_petition(s, get_by_tracking_no(s, tracking_no).id)}
        assert {"mediation_started", "mediation_admitted", "mediation_removed"} <= actions


@pytest.mark.redis
def test_leaving_reconnecting_and_ending_reach_the_other_server(db, staff, instances, shared):
    a, b = instances
    client, prefix = shared
    session_id, _, tokens = schedule(db)
    ids = participant_ids(db, session_id)
    host_id, staff_id = ids["petition_office"], ids["administrative"]
    with connect(ws_url(a, session_id, tokens["host"]), open_timeout=5) as host:
        expect(host, "admitted")
        # Staff come straight in, on the other server.
        with connect(ws_url(b, session_id, tokens["administrative"]), open_timeout=5) as department:
            assert [p["id"] for p in expect(department, "admitted")["peers"]] == [host_id]
            assert expect(host, "peer-joined")["peer"]["id"] == staff_id
        # Its socket closed on B: A's host sees it leave, and Redis forgets it.
        assert expect(host, "peer-left")["id"] == staff_id
        roster_until(host, lambda m: set(m) == {host_id})
        assert set(presence(client, prefix, session_id)) == {host_id}

        # The same link opened on B and then on A: the newer connection wins, the peers see one leave and one join.
        with connect(ws_url(b, session_id, tokens["administrative"]), open_timeout=5) as first:
            expect(first, "admitted")
            assert expect(host, "peer-joined")["peer"]["id"] == staff_id
            with connect(ws_url(a, session_id, tokens["administrative"]), open_timeout=5) as second:
                assert expect(first, "replaced", skip=("roster",))
                assert recv(first)["type"] == "closed"
                assert expect(host, "peer-left")["id"] == staff_id
                assert expect(host, "peer-joined")["peer"]["id"] == staff_id
                expect(second, "admitted")
                assert presence(client, prefix, session_id)[staff_id]["node"] == presence(
                    client, prefix, session_id)[host_id]["node"]

                # Ending the session over HTTP on B (a request thread) closes the sockets on both servers.
                r = httpx.post(f"{b}/api/v1/mediation/sessions/{session_id}/end", json={},
                               headers={"Authorization": f"Bearer {staff['office1']}"}, timeout=10)
                assert r.status_code == 200, r.text
                for ws in (host, second):
                    expect(ws, "ended", skip=("roster", "peer-left", "peer-joined", "signal"))
                    assert recv(ws)["type"] == "closed"
    with db.session() as s:
        assert s.get(MediationParticipant, staff_id).left_at is not None


@contextlib.contextmanager
def server_process(settings: Settings, *, redis_url: str, prefix: str, ttl_s: float):
    """Serve the app in a process of its own on these settings' database, sharing rooms through this Redis prefix."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PETITION_")}
    env.update({"PETITION_ENVIRONMENT": "test", "PETITION_DATABASE_URL": settings.database_url,
                "PETITION_SECRET_KEY": settings.secret_key.get_secret_value(),
                "PETITION_PII_KEY": settings.pii_key.get_secret_value(), "PETITION_MEDIATION_REDIS_URL": redis_url,
                "PETITION_EMBEDDED_SCHEDULER": "false", "PETITION_RATE_LIMIT_ENABLED": "false",
                "PETITION_ROUTE_ON_REGISTER": "false", "PETITION_RISK_ON_REGISTER": "false",
                "PETITION_EMBEDDER": "lexical", "PETITION_ZERO_SHOT": "false", "PETITION_LOG_LEVEL": "WARNING",
                "PETITION_MEDIATION_TRANSCRIBE": "false", "PETITION_CLASSIFIER_DIR": settings.classifier_dir,
                "PETITION_INDEX_DIR": settings.index_dir})
    sock = _free_socket()
    port = sock.getsockname()[1]
    sock.close()
    env.update({"PETITION_MEDIATION_REDIS_PREFIX": prefix, "PETITION_MEDIATION_PRESENCE_TTL_S": str(ttl_s)})
    code = ("import sys, uvicorn\n"
            "uvicorn.run('server.app:create_app', factory=True, host='127.0.0.1', port=int(sys.argv[1]),"
            " log_level='warning')\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(port)], cwd=ROOT, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, lambda: proc.poll() is None)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def _who_calls(sockets: dict[str, object], ids: dict[str, int], timeout: float = 5.0) -> dict[str, set[str]]:
    """Read both pages' frames until each knows of the other; return who was told to call ("admitted" listing the
    other) and who to wait for the call ("peer-joined")."""
    told: dict[str, set[str]] = {name: set() for name in sockets}
    deadline = time.monotonic() + timeout
    while not all(told.values()):
        for name, ws in sockets.items():
            other = next(ids[n] for n in sockets if n != name)
            try:
                frame = json.loads(ws.recv(timeout=0.05))
            except TimeoutError:
                continue
            if frame["type"] == "admitted" and other in [p["id"] for p in frame["peers"]]:
                told[name].add("call")
            elif frame["type"] == "peer-joined" and frame["peer"]["id"] == other:
                told[name].add("wait")
        assert time.monotonic() < deadline, f"the pages were not told of each other: {told}"
    return told


@pytest.mark.redis
def test_two_people_coming_in_at_once_on_two_servers_are_told_to_call_once(db, staff, instances, shared):
    a, b = instances
    client, prefix = shared
    session_id, _, tokens = schedule(db)
    ids = participant_ids(db, session_id)
    ids = {"host": ids["petition_office"], "department": ids["administrative"]}
    # Both are let in as soon as they connect (host and staff), each on its own server, at the same moment.
    for round_ in range(6):
        order = [("host", a, "host"), ("department", b, "administrative")][:: 1 if round_ % 2 else -1]
        with contextlib.ExitStack() as stack:
            sockets = {name: stack.enter_context(connect(ws_url(url, session_id, tokens[role]), open_timeout=5))
                       for name, url, role in order}
            told = _who_calls(sockets, ids)
            # Exactly one of the two places the call: two offers would collide, none would leave them apart.
            assert sorted(map(sorted, told.values())) == [["call"], ["wait"]], (round_, told)
        deadline = time.monotonic() + 5
        while presence(client, prefix, session_id):
            assert time.monotonic() < deadline, "the closed sockets were not forgotten"
            time.sleep(0.05)


@pytest.fixture
def crashable(db, settings, shared):
    """Serve the app in a process of its own (same database, same Redis and prefix); yield its URL and process."""
    with server_process(settings, redis_url=REDIS_URL, prefix=shared[1], ttl_s=TTL_S) as (url, proc):
        yield url, proc


@pytest.mark.redis
def test_the_members_of_a_vanished_server_leave_the_room_after_the_presence_ttl(db, staff, instances, crashable,
                                                                               shared):
    a, _ = instances
    b, process = crashable
    client, prefix = shared
    session_id, _, tokens = schedule(db)
    ids = participant_ids(db, session_id)
    host_id, citizen_id = ids["petition_office"], ids["petitioner"]
    with contextlib.ExitStack() as stack:
        host = stack.enter_context(connect(ws_url(a, session_id, tokens["host"]), open_timeout=5))
        expect(host, "admitted")
        citizen = stack.enter_context(connect(ws_url(b, session_id, tokens["petitioner"]), open_timeout=5))
        expect(citizen, "waiting")
        # Admitted at once, maybe before A has heard of the citizen: B, which holds its socket, lets it in.
        host.send(json.dumps({"type": "admit", "id": citizen_id}))
        assert expect(host, "peer-joined")["peer"]["id"] == citizen_id
        expect(citizen, "admitted")
        roster_until(host, lambda m: m.get(citizen_id, {}).get("state") == "admitted")

        # The other server dies without closing anything: its sockets, its heartbeat and its Redis link stop.
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        killed = time.monotonic()
        assert expect(host, "peer-left", timeout=3 * TTL_S)["id"] == citizen_id
        gone_after = time.monotonic() - killed
        roster_until(host, lambda m: set(m) == {host_id})
        assert set(presence(client, prefix, session_id)) == {host_id}
        # Leaving is recorded by the survivor, since the dead server could not.
        deadline = time.monotonic() + 5
        while True:
            with db.session() as s:
                if s.get(MediationParticipant, citizen_id).left_at is not None:
                    break
            assert time.monotonic() < deadline, "the vanished participant's leaving was not recorded"
            time.sleep(0.1)
    # Seen within the TTL and one heartbeat (a third of the TTL), with room for a busy machine.
    assert gone_after < TTL_S * 2, gone_after
