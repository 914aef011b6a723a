"""The supervision and analyst desks in a real Chromium: chase an overdue petition, decide an extension, filter, export."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.e2e.conftest import LIVE, screenshot

pytestmark = pytest.mark.e2e

OVERDUE_TITLE = "楼道堆放杂物无人清理（督办测试）"
WECHAT_TITLE = "公园健身器材损坏（分析测试）"


def live_db(request):
    """Return the live server's database from the conftest module pytest loaded (importing it again gives a blank copy)."""
    for plugin in request.config.pluginmanager.get_plugins():
        live = getattr(plugin, "LIVE", None)
        if isinstance(live, dict) and "db" in live:
            return live["db"]
    return LIVE["db"]


@pytest.fixture
def desk(request, live_server):
    """An overdue petition of 岳麓区, one with a pending extension request, and a WeChat petition."""
    from cases import catalog
    from cases import service as cases
    from cases.enums import Status
    from cases.handling import service as handling
    from core.accounts import Actor, Role
    from core.db import utcnow
    from tests.cases.helpers import drive, register

    db = live_db(request)
    now = utcnow()
    with db.transaction() as s:
        late = drive(s, Status.ASSIGNED, now=now - timedelta(days=90))
        late.title = OVERDUE_TITLE
        cases.do_scan_deadlines(s, now=now)
        asking = drive(s, Status.IN_PROGRESS)
        handler = Actor("yuelu1", Role.HANDLER, catalog.get_unit_by_code(s, "YL-GOV").id)
        request_row = handling.do_request_extension(s, petition=asking, days=15, reason="需委托第三方检测", actor=handler)
        wechat, _ = register(s, channel="wechat", title=WECHAT_TITLE)
        values = {"late": late.tracking_no, "asking": asking.tracking_no, "request_id": request_row.id,
                  "before": asking.handle_due_at, "wechat": wechat.tracking_no}
    return db, values


def test_supervisor_sends_a_note_and_approves_an_extension(console, desk):
    db, v = desk
    page = console("super1")
    assert page.url.endswith("/console/supervision")
    row = page.locator(f"#overdue tr[data-tracking='{v['late']}']")
    assert OVERDUE_TITLE in row.inner_text() and "天" in row.locator(".badge").inner_text()
    screenshot(page, "console-supervision-board")

    row.locator("summary").click()
    row.locator("select[name=kind]").select_option("supervise")
    row.get_by_label("督办意见").fill("请三个工作日内报告清理进展")
    row.get_by_label("限期回复（工作日）").fill("3")
    row.get_by_role("button", name="发送").click()
    page.wait_for_url("**/console/supervision?done=note*")
    assert "督办意见已发送" in page.locator(".flash").inner_text()
    note = page.locator(f"#notes tr[data-tracking='{v['late']}']")
    assert "请三个工作日内报告清理进展" in note.inner_text() and "督办" in note.inner_text()

    ext = page.locator(f"#extensions tr[data-tracking='{v['asking']}']")
    assert "需委托第三方检测" in ext.inner_text()
    ext.get_by_role("button", name="批准延期").click()
    page.wait_for_url("**/console/supervision?done=approved*")
    assert page.locator(f"#extensions tr[data-tracking='{v['asking']}']").count() == 0

    from cases import service as cases
    from cases.handling.models import ExtensionRequest, SupervisionNote

    with db.session() as s:
        p = cases.get_by_tracking_no(s, v["asking"])
        assert p.extension_approver == "super1" and p.handle_due_at > v["before"]
        assert s.get(ExtensionRequest, v["request_id"]).state == "approved"
        note = s.query(SupervisionNote).filter_by(author="super1").one()
        assert note.kind == "supervise" and note.respond_by > p.received_at

    page.get_by_role("link", name="办理绩效（三率）").click()
    page.wait_for_url("**/console/supervision/performance")
    table = page.locator("[data-testid=performance]")
    assert "岳麓区人民政府" in table.inner_text() and "%" in table.inner_text()
    screenshot(page, "console-supervision-performance")


def test_analyst_filters_sees_charts_and_downloads_csv(console, desk):
    _, v = desk
    page = console("analyst1")
    assert page.url.endswith("/console/analyst")
    page.locator("#f-channel").select_option("wechat")
    page.get_by_role("button", name="筛选", exact=True).click()
    page.wait_for_url("**/console/analyst?*channel=wechat*")
    listed = page.locator("[data-testid=stream-row]")
    numbers = [listed.nth(i).get_attribute("data-tracking") for i in range(listed.count())]
    assert v["wechat"] in numbers and v["late"] not in numbers and v["asking"] not in numbers
    assert page.locator("svg[role=img]").count() == 3
    assert page.locator("#chart-channel > title").text_content().startswith("按渠道")
    assert page.locator("#chart-day rect.bar").count() == 30
    screenshot(page, "console-analyst")

    with page.expect_download() as info:
        page.locator("[data-testid=export]").click()
    body = open(info.value.path(), "rb").read()
    assert body.startswith(b"\xef\xbb\xbf")
    text = body.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("tracking_no,received_at,channel")
    assert v["wechat"] in text and WECHAT_TITLE in text and v["late"] not in text
    assert "13812341234" not in text and "王小明" not in text
