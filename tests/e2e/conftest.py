"""Browser fixtures: Debian's Chromium driven by Playwright, and the real app served by uvicorn."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from tests.conftest import CHEAP_HASHING

# CI sets this so that a missing Chromium or Playwright fails the run instead of skipping the tests.
REQUIRE_SERVICES = os.environ.get("PETITION_TEST_REQUIRE_SERVICES") == "1"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 390, "height": 844}


def _unavailable(message: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


def _chromium_path() -> str | None:
    return os.environ.get("PETITION_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def playwright_driver():
    """Start Playwright once for the session: a second sync_playwright() in the same process is refused."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install playwright; no browser download is needed)")
    if not _chromium_path():
        _unavailable("chromium not found on PATH (apt-get install chromium)")
    with sync_playwright() as pw:
        yield pw


def launch_chromium(driver, args: list[str]):
    """Launch the system's headless Chromium with these arguments."""
    return driver.chromium.launch(executable_path=_chromium_path(), headless=True, args=args)


@pytest.fixture(scope="session")
def browser(playwright_driver):
    """Launch one headless Chromium for the session (the system's; Playwright downloads nothing)."""
    chromium = launch_chromium(playwright_driver, CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser, live_server):
    """Open a fresh browser context (empty localStorage) on a phone-sized viewport."""
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", base_url=live_server)
    context.set_default_timeout(15_000)
    pg = context.new_page()
    yield pg
    context.close()


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _wait_healthy(url: str, thread: threading.Thread, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("the server thread stopped during startup")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"server at {url} not healthy after {timeout:.0f} s: {last!r}")


# The live server's database, for fixtures that set up data behind it.
LIVE: dict = {}
ARTIFACTS = Path(os.environ.get("PETITION_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "var" / "test-artifacts"))
CONSOLE_PASSWORD = "console-e2e-2026"
# username -> (role, unit code): one per role, and a second handler of another unit.
CONSOLE_STAFF = {
    "agent1": ("agent", None), "triage1": ("triage", None), "super1": ("supervisor", None),
    "analyst1": ("analyst", None), "admin1": ("admin", None),
    "hrss1": ("handler", "CS-HRSS"), "yuelu1": ("handler", "YL-GOV"),
}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture(scope="session")
def live_db(live_server):
    """Return the live server's database, to set up data behind it (import this fixture, not LIVE)."""
    return LIVE["db"]


@pytest.fixture(scope="session")
def console_staff(live_server) -> dict:
    """Create the console accounts (one per role) in the live server's database, once."""
    from cases import catalog
    from core.accounts import create_user, get_by_username

    with LIVE["db"].transaction() as s:
        for username, (role, unit) in CONSOLE_STAFF.items():
            if get_by_username(s, username) is None:
                unit_id = catalog.get_unit_by_code(s, unit).id if unit else None
                create_user(s, username=username, password=CONSOLE_PASSWORD, role=role, unit_id=unit_id,
                            display_name=username)
    return CONSOLE_STAFF


@pytest.fixture
def console(browser, live_server, console_staff):
    """Return a function that opens a new desktop-sized context signed in as a user; closes them afterwards."""
    contexts = []

    def open_as(username: str, *, viewport: dict | None = None, locale: str = "zh-CN"):
        context = browser.new_context(viewport=viewport or DESKTOP, locale=locale, base_url=live_server)
        context.set_default_timeout(15_000)
        contexts.append(context)
        pg = context.new_page()
        pg.goto("/console/login")
        pg.fill("input[name=username]", username)
        pg.fill("input[name=password]", CONSOLE_PASSWORD)
        pg.click("button[type=submit]")
        pg.wait_for_url(lambda url: "/console/login" not in url)
        return pg

    yield open_as
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot as a test artefact and return its path."""
    ARTIFACTS.joinpath("screenshots").mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "screenshots" / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(scope="session")
def live_server(tmp_path_factory) -> Iterator[str]:
    """Serve the real app on a free 127.0.0.1 port against a fresh SQLite database; yield its base URL."""
    import uvicorn

    from cases import catalog
    from core import db as core_db
    from core import security
    from core import settings as core_settings
    from server.app import create_app
    from server.demo import load_reference
    from server.migrate import upgrade

    tmp = tmp_path_factory.mktemp("e2e")
    settings = Settings(environment="test", database_url=f"sqlite:///{tmp / 'e2e.db'}", broker_url=None,
                        pii_key="e2e-pii-key", secret_key="e2e-secret-key", embedded_scheduler=False,
                        route_on_register=False, embedder="lexical", index_dir=str(tmp / "index"),
                        rate_limit_enabled=False, **CHEAP_HASHING)
    # The app makes its settings, database and keys the process-wide ones; give the other tests theirs back afterwards.
    previous = (core_settings._current, core_db._database, security._cipher, security._audit_signer)
    app = create_app(settings)
    database = core_db.configure(settings)
    upgrade(database)
    with database.transaction() as session:
        catalog.load_taxonomy(session)
        load_reference(session)

    sock = _free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="e2e-uvicorn", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    LIVE["db"] = database
    try:
        _wait_healthy(url, thread)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        database.dispose()
        core_settings._current, core_db._database, security._cipher, security._audit_signer = previous
