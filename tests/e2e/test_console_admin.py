"""The admin pages in a real Chromium: a new handler, a routing rule and a lexicon term, then the handler signs in."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import DESKTOP, screenshot

pytestmark = pytest.mark.e2e

NEW_USER, NEW_PASSWORD = "e2e_handler", "handler-pass-2026"


def test_admin_sets_up_a_handler_who_can_sign_in(console, browser, live_server, live_db):
    page = console("admin1")
    assert page.url.endswith("/console/admin")
    for section in ("units", "rules", "lexicon", "templates", "users"):
        assert page.locator(f'main a[href="/console/admin/{section}"]').count() >= 1
    screenshot(page, "admin-index")

    # Units: the list, and a new-unit form that refuses an unknown area code but keeps what was typed.
    page.click('main nav.tabs a[href="/console/admin/units"]')
    page.wait_for_url("**/console/admin/units")
    assert page.locator('tr[data-unit="YL-GOV"]').count() == 1
    screenshot(page, "admin-units")
    page.goto("/console/admin/units/new")
    page.fill("input[name=code]", "E2E-UNIT")
    page.fill("input[name=name]", "端到端测试单位")
    page.fill("input[name=area_codes]", "430104, 999999")
    page.fill("textarea[name=description]", "负责测试。")
    page.click("form.card button[type=submit]")
    assert "未知的区划代码：999999" in page.locator("[data-testid=form-errors]").inner_text()
    assert page.input_value("input[name=name]") == "端到端测试单位"
    screenshot(page, "admin-unit-form-error")
    page.goto("/console/admin/units/YL-GOV")
    assert page.input_value("input[name=area_codes]") == "430104"
    screenshot(page, "admin-unit-edit")

    # Users: a handler bound to 岳麓区人民政府.
    page.goto("/console/admin/users")
    page.click("text=新建用户")
    page.fill("input[name=username]", NEW_USER)
    page.fill("input[name=display_name]", "端到端承办人")
    page.select_option("select[name=role]", "handler")
    page.select_option("select[name=unit]", "YL-GOV")
    page.fill("input[name=password]", NEW_PASSWORD)
    screenshot(page, "admin-user-new")
    page.click("form.card button[type=submit]")
    page.wait_for_url(f"**/console/admin/users/{NEW_USER}?done=user-created")
    assert "用户已创建" in page.locator(".flash").inner_text()
    screenshot(page, "admin-user-edit")
    page.goto("/console/admin/users")
    row = page.locator(f'tr[data-user="{NEW_USER}"]')
    assert "YL-GOV" in row.inner_text() and "承办人" in row.inner_text()
    screenshot(page, "admin-users")

    # Routing rules: a keyword that points to the same unit.
    page.goto("/console/admin/rules")
    page.fill("input[name=name]", "端到端规则")
    page.select_option("select[name=kind]", "keyword")
    page.fill("input[name=pattern]", "端到端关键词")
    page.select_option("select[name=unit]", "YL-GOV")
    page.fill("input[name=weight]", "0.9")
    page.click("form[action='/console/admin/rules'] button[type=submit]")
    page.wait_for_url("**/console/admin/rules?done=rule-created")
    assert "端到端关键词" in page.locator("table[data-testid=rules]").inner_text()
    screenshot(page, "admin-rules")

    # Lexicon: one term by hand, then a bulk import with one bad line.
    page.goto("/console/admin/lexicon")
    page.fill("input[name=term]", "端到端敏感词")
    page.select_option("form[method=post][action='/console/admin/lexicon'] select[name=klass]", "collective")
    page.fill("form[method=post][action='/console/admin/lexicon'] input[name=weight]", "2.5")
    page.click("form[method=post][action='/console/admin/lexicon'] button[type=submit]")
    page.wait_for_url("**/console/admin/lexicon?done=term-created")
    page.fill("textarea[name=lines]", "端到端横幅,collective,2\n端到端坏行,nonsense,1")
    page.click("form[action='/console/admin/lexicon/import'] button[type=submit]")
    problems = page.locator("[data-testid=import-problems]").inner_text()
    assert "已导入 1 条" in problems and "第 2 行" in problems
    assert page.input_value("textarea[name=lines]") == "端到端坏行,nonsense,1"
    terms = page.locator("table[data-testid=terms]").inner_text()
    assert "端到端敏感词" in terms and "端到端横幅" in terms
    screenshot(page, "admin-lexicon")

    page.goto("/console/admin/templates")
    page.select_option("select[name=kind]", "canned")
    page.fill("input[name=name]", "问候")
    page.fill("textarea[name=text]", "您好，请问有什么可以帮您？")
    page.click("form[action='/console/admin/templates'] button[type=submit]")
    page.wait_for_url("**/console/admin/templates?done=template-created")
    assert "您好，请问有什么可以帮您？" in page.locator("[data-testid=templates-canned]").inner_text()
    screenshot(page, "admin-templates")

    with live_db.transaction() as s:
        from core.accounts import get_by_username
        from risk import lexicon
        from routing import service as routing

        user = get_by_username(s, NEW_USER)
        assert user.role == "handler" and user.unit_id is not None
        assert any(r.pattern == "端到端关键词" and u.code == "YL-GOV" for r, u in routing.list_rules(s))
        assert any(t.term == "端到端敏感词" and t.klass == "collective" for t in lexicon.list_terms(s))

    # The new handler signs in through the login form and lands on the workbench.
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN", base_url=live_server)
    try:
        handler = context.new_page()
        handler.goto("/console/login")
        handler.fill("input[name=username]", NEW_USER)
        handler.fill("input[name=password]", NEW_PASSWORD)
        handler.click("button[type=submit]")
        handler.wait_for_url(re.compile(r".*/console/workbench$"))
        assert handler.url.endswith("/console/workbench")
        handler.goto("/console/admin")
        assert "无权访问" in handler.locator("main").inner_text()
    finally:
        context.close()
