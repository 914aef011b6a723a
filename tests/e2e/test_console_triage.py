"""The triage desk in a real Chromium: read the router's suggestions, assign by keyboard, merge a duplicate."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.e2e

TITLE = "小区路灯坏了没人修"
CONTENT = "岳麓区枫林路某小区门口的路灯坏了三个月，晚上一片漆黑，老人小孩出行很不安全，希望尽快修好。"
AGAIN = "岳麓区枫林路某小区门口的路灯坏了三个月，晚上一片漆黑，老人小孩出行很危险，请尽快修复。"




@pytest.fixture
def two_petitions(live_db):
    """Register a petition and a near-duplicate from someone else, routed with the live server's settings."""
    from cases import service as cases
    from routing import service as routing
    from tests.cases.helpers import petition_data
    from tests.conftest import ADMIN

    numbers = []
    with live_db.transaction() as s:
        people = ({"name": "李四", "phone": "13900001111"}, {"name": "赵六", "phone": "13900002222"})
        for content, who in zip((CONTENT, AGAIN), people, strict=True):
            data = petition_data(title=TITLE, content=content, category=None, area_code="430104", channel="webchat",
                                 petitioner=who)
            petition, _ = cases.create_petition(s, data=data, actor=ADMIN)
            decision = routing.do_route(s, petition_id=petition.id)
            assert decision.needs_triage and petition.lead_unit_id is None, decision.suggestions
            numbers.append(petition.tracking_no)
    return numbers


def test_triage_assigns_by_keyboard_and_merges_the_duplicate(console, two_petitions, live_db):
    first, second = two_petitions
    page = console("triage1")
    assert page.url.endswith("/console/triage")
    one, two = page.locator(f"#item-{first}"), page.locator(f"#item-{second}")
    # The suggestions come with their explanations, and the near-duplicate points at the first petition.
    suggestions = one.locator("[data-testid=suggestions] > li")
    assert suggestions.count() >= 1
    assert "岳麓区人民政府" in suggestions.first.inner_text()
    assert "管辖范围包含岳麓区" in one.locator("[data-testid=suggestions]").inner_text()
    assert "职责清单包含" in one.locator("[data-testid=suggestions]").inner_text()
    links = two.locator("[data-testid=links]")
    assert first in links.inner_text() and "疑似群体" in links.inner_text()
    screenshot(page, "console-triage")

    # Assign the first: the top suggestion is pre-selected as lead; pick an assisting unit and submit by keyboard only.
    lead = one.locator("select[name=unit]")
    assert lead.input_value() == "YL-GOV"
    lead.focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == f"assist-{first}"
    page.keyboard.press("Home")       # the first suggested unit (the lead itself) ...
    page.keyboard.press("ArrowDown")  # ... and the next suggestion
    assisting = one.locator("select[name=assisting]").evaluate("s => Array.from(s.selectedOptions).map(o => o.value)")
    assert len(assisting) == 1 and assisting[0] != "YL-GOV"
    page.keyboard.press("Tab")
    page.keyboard.type("请会同办理")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent").strip() == "受理并交办"
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "done=assign" in url)
    assert first in page.locator(".flash").inner_text()
    assert page.locator(f"#item-{first}").count() == 0

    # Merge the near-duplicate into it: the candidate is offered, a reason is required.
    two = page.locator(f"#item-{second}")
    assert two.locator("details[open] [data-testid=merge-form]").count() == 1
    assert two.locator(f"datalist option[value='{first}']").count() == 1
    two.locator("input[name=target]").fill(first)
    two.locator("[data-testid=merge-form] input[name=reason]").fill("同一路灯问题重复反映")
    two.locator("[data-testid=merge-form] button[type=submit]").click()
    page.wait_for_url(lambda url: "done=merge" in url)
    assert f"{second}" in page.locator(".flash").inner_text()
    assert page.locator(f"#item-{first}").count() == 0 and page.locator(f"#item-{second}").count() == 0

    from cases import service as cases

    with live_db.session() as s:
        assigned = cases.get_by_tracking_no(s, first)
        assert assigned.status == "assigned" and assigned.lead_unit.code == "YL-GOV"
        active = sorted((a.unit.code, a.role) for a in assigned.assignments if a.active)
        assert active == sorted([("YL-GOV", "lead"), (assisting[0], "assist")])
        merged = cases.get_by_tracking_no(s, second)
        assert merged.status == "merged" and merged.merged_into_id == assigned.id
