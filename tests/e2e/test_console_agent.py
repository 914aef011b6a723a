"""The agent inbox in a real Chromium: a citizen asks for a person, the agent sees it live, takes over and replies."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.e2e

REPLY_TIMEOUT_MS = 20_000
AGENT_REPLY = "您好，我是工作人员小李。请问工地的具体位置在哪里？"


def open_chat(page) -> None:
    """Open the citizen's web chat and wait until its history has loaded."""
    page.goto("/")
    page.wait_for_selector("#messages[data-ready='1']", state="attached")


def send(page, text: str) -> None:
    """Send a citizen message and wait for the bot's answer."""
    before = page.locator(".msg.in").count()
    page.fill("#input", text)
    page.press("#input", "Enter")
    page.wait_for_function(
        "n => document.querySelectorAll('.msg.in').length > n"
        " && document.getElementById('messages').dataset.pending === '0'", arg=before, timeout=REPLY_TIMEOUT_MS)


def test_agent_sees_the_request_live_takes_over_and_the_citizen_gets_the_reply(page, console):
    agent = console("agent1")
    agent.goto("/console/agent")
    agent.wait_for_selector("#inbox")
    # A marker that a page reload would wipe out: everything below must arrive through the live region.
    agent.evaluate("window.__sameInboxPage = true")

    open_chat(page)
    send(page, "我要投诉，楼下工地每天夜里施工，吵得睡不着")
    send(page, "转人工")
    # One more line while waiting makes this citizen's row recognisable among others the live server may hold.
    marker = f"我的联系编号是 {uuid.uuid4().hex[:8]}"
    send(page, marker)

    row = agent.locator("#waiting tr[data-conversation]", has_text=marker)
    row.wait_for(timeout=REPLY_TIMEOUT_MS)
    assert agent.evaluate("window.__sameInboxPage") is True, "the inbox was reloaded instead of updated live"
    assert "群众要求转人工" in row.inner_text() and "网页聊天" in row.inner_text()
    cid = row.get_attribute("data-conversation")
    screenshot(agent, "console-agent-inbox")

    row.get_by_role("button", name=re.compile("接管")).click()
    agent.wait_for_url(re.compile(rf"/console/agent/{cid}\?done=taken$"))
    assert "人工处理中" in agent.inner_text("[data-testid=conversation-mode]")
    assert "楼下工地" in agent.inner_text("[data-testid=draft]")  # the bot's draft of the petition
    agent.fill("#reply-text", AGENT_REPLY)
    agent.click("#reply-form button[type=submit]")
    agent.wait_for_url(re.compile(rf"/console/agent/{cid}\?done=sent$"))
    assert agent.locator("#chat-live .msg.agent", has_text=AGENT_REPLY).count() == 1

    # The citizen's page receives the agent's message without doing anything.
    page.locator(".msg.in.agent .bubble", has_text=AGENT_REPLY).wait_for(timeout=REPLY_TIMEOUT_MS)

    # The citizen answers; the agent's conversation page shows it live, without a reload.
    agent.evaluate("window.__sameConversationPage = true")
    page.fill("#input", "在岳麓区麓谷街道枫林三路")
    page.press("#input", "Enter")
    agent.locator("#chat-live .msg.in", has_text="在岳麓区麓谷街道枫林三路").wait_for(timeout=REPLY_TIMEOUT_MS)
    assert agent.evaluate("window.__sameConversationPage") is True
    screenshot(agent, "console-agent-conversation")
