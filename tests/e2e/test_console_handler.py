"""The handler's desk in a real Chromium: workbench, case page, start and reply with a template; the citizen sees it."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import LIVE, screenshot

pytestmark = pytest.mark.e2e

TITLE = "建筑工地拖欠农民工工资"
CONTENT = "我在岳麓区某建筑工地务工，老板拖欠我和工友三个月工资共三万六千元，多次讨要无果。"
TEMPLATE = "经核查，我局已约谈用工单位并责令其于十个工作日内足额支付拖欠工资。"
TYPED = "如仍未支付，请拨打 12333 反映。"


def live_db(request):
    """Return the live server's database from the conftest module pytest loaded (importing it again gives a blank copy)."""
    for plugin in request.config.pluginmanager.get_plugins():
        live = getattr(plugin, "LIVE", None)
        if isinstance(live, dict) and "db" in live:
            return live["db"]
    return LIVE["db"]


@pytest.fixture
def assigned_case(request, live_server):
    """Register a petition, assign it to CS-HRSS as an admin, add a reply template; return (tracking no, query code)."""
    from cases import service as cases
    from cases.enums import Action
    from cases.handling import service as handling
    from cases.schemas import TransitionIn
    from tests.cases.helpers import petition_data
    from tests.conftest import ADMIN

    with live_db(request).transaction() as s:
        data = petition_data(title=TITLE, content=CONTENT, category="劳动和社会保障", area_code="430104",
                             petitioner={"name": "刘建国", "phone": "13700007777"})
        petition, code = cases.create_petition(s, data=data, actor=ADMIN)
        cases.do_transition(s, tracking_no=petition.tracking_no, change=TransitionIn(action=Action.ACCEPT), actor=ADMIN)
        cases.do_transition(s, tracking_no=petition.tracking_no, actor=ADMIN,
                            change=TransitionIn(action=Action.ASSIGN, unit="CS-HRSS"))
        if not any(t.text == TEMPLATE for t in handling.list_templates(s, kind="reply")):
            handling.create_template(s, kind="reply", name="欠薪答复（责令支付）", text=TEMPLATE, actor=ADMIN)
        return petition.tracking_no, code


def test_handler_replies_and_the_citizen_sees_it(console, page, assigned_case):
    number, code = assigned_case
    desk = console("hrss1")
    assert desk.url.endswith("/console/workbench")
    row = desk.locator(f"tr[data-tracking-no='{number}']")
    assert TITLE in row.inner_text() and "已交办" in row.inner_text()
    assert row.get_attribute("class") in ("due-ok", "due-soon", "due-critical")
    screenshot(desk, "console-workbench")

    row.get_by_role("link", name=number).click()
    desk.wait_for_url(f"**/console/cases/{number}")
    assert desk.get_by_test_id("status").inner_text() == "已交办"
    assert "刘建国" in desk.get_by_test_id("petitioner").inner_text()
    desk.locator("#action-start button[type=submit]").click()
    desk.wait_for_url("**?done=start")
    assert desk.get_by_test_id("status").inner_text() == "办理中"

    reply_form = desk.locator("#action-reply")
    reply_form.get_by_test_id("template").first.click()
    box = desk.locator("#text-reply")
    assert box.input_value() == TEMPLATE
    box.fill(box.input_value() + "\n" + TYPED)
    screenshot(desk, "console-case")
    reply_form.locator("button[type=submit]").click()
    desk.wait_for_url("**?done=reply")
    assert desk.get_by_test_id("status").inner_text() == "已答复"
    replies = desk.get_by_test_id("reply").all_inner_texts()
    assert len(replies) == 1 and TEMPLATE in replies[0] and TYPED in replies[0]
    steps = desk.locator("[data-testid=history] tbody tr").evaluate_all("rows => rows.map(r => r.dataset.action)")
    assert steps == ["register", "accept", "assign", "start", "reply"]

    # The citizen looks the petition up on the public status page.
    page.goto("/status")
    page.fill("input[name=tracking_no]", number)
    page.fill("input[name=code]", code)
    page.locator("button[type=submit]").click()
    page.get_by_test_id("status-result").wait_for()
    assert "已答复" in page.get_by_test_id("status-label").inner_text()
    assert TEMPLATE in page.get_by_test_id("reply-text").inner_text() and TYPED in page.get_by_test_id("reply-text").inner_text()


def test_handler_of_another_unit_gets_the_404_page(console, assigned_case):
    number, _ = assigned_case
    other = console("yuelu1")
    response = other.goto(f"/console/cases/{number}")
    assert response.status == 404
    assert "没有此信访件" in other.get_by_test_id("error-detail").inner_text()
    assert TITLE not in other.content()
    other.goto("/console/workbench")
    assert other.locator(f"tr[data-tracking-no='{number}']").count() == 0
