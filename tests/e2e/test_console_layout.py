"""The console on a tablet: no page scrolls sideways, the skip link comes first, the menu is reachable by keyboard."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import screenshot

TABLET = {"width": 768, "height": 1024}
PAGES = {"supervisor": ["/console/supervision", "/console/supervision/performance", "/console/analyst", "/console/risk",
                        "/console/risk/alerts", "/console/agent", "/console/triage", "/console/account"],
         "admin": ["/console/admin", "/console/admin/units", "/console/admin/users", "/console/admin/lexicon"],
         "hrss1": ["/console/workbench"]}


@pytest.mark.parametrize("user", list(PAGES))
def test_tablet_width_without_sideways_scrolling(console, user):
    page = console({"supervisor": "super1"}.get(user, user if user != "admin" else "admin1"), viewport=TABLET)
    for path in PAGES[user]:
        response = page.goto(path)
        assert response.status == 200, path
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} scrolls sideways by {overflow}px at 768 px"
    screenshot(page, f"console-tablet-{user}")


def test_keyboard_reaches_the_skip_link_then_the_menu(console):
    page = console("super1")
    page.goto("/console/supervision")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"
    page.goto("/console/supervision")
    labels = []
    for _ in range(6):
        page.keyboard.press("Tab")
        labels.append(page.evaluate("document.activeElement.textContent.trim()"))
    assert "督查督办" in labels and "分析" in labels
