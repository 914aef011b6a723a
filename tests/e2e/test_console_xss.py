"""Citizen HTML never runs in the console: script and onerror payloads sent through the web chat are shown as text
on the agent inbox, the conversation, the triage queue and the case page of a real Chromium."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

pytestmark = pytest.mark.e2e

TRACKING_NO = re.compile(r"XF-\d{8}-\d{6}")
IMG = '<img src=x onerror="window.__pwned=1">'
SCRIPT = "<script>window.__pwned=2</script>"
PROBLEM = f"{IMG}楼下烧烤店每天晚上油烟很大，熏得窗户都不能开{SCRIPT}"
# Keywords of the bot's question → the citizen's answer (a confirmation repeats every field: it comes first).
ANSWERS = [(("确认", "提交", "核对"), "确认提交"), (("隐私", "同意"), "同意"), (("电话",), "13812345678"),
           (("姓名", "称呼"), "张三"), (("多少人",), "1个人"), (("反映过", "之前"), "没有"),
           (("什么时候", "时间"), "上周三"), (("诉求", "希望"), f"希望尽快处理{SCRIPT}"),
           (("哪里", "地址", "区"), "岳麓区麓谷街道枫林三路12号"), (("什么问题", "发生了什么", "描述"), PROBLEM)]


def chat(http: httpx.Client, conversation: str, text: str) -> list[dict]:
    """Send one web chat message, as the citizen page does over HTTP; return the bot's replies."""
    r = http.post("/api/v1/chat", json={"conversation_id": conversation, "message_id": uuid.uuid4().hex, "text": text})
    assert r.status_code == 200, r.text
    return r.json()["replies"]


def register_through_chat(base_url: str) -> str:
    """File a petition whose description and demand carry HTML; return its tracking number."""
    conversation, text = "xss-" + uuid.uuid4().hex, PROBLEM
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for _ in range(20):
            replies = chat(http, conversation, text)
            found = TRACKING_NO.search("\n".join(r["text"] for r in replies))
            if found:
                return found.group(0)
            last = replies[-1]
            text = next((a for keys, a in ANSWERS if any(k in last["text"] for k in keys)), None) \
                or (last["quick_replies"] or ["好的"])[0]
    pytest.fail("the chat did not register the petition in 20 turns")


def assert_inert(page, *visible: str) -> None:
    """Assert the page ran none of the payloads and shows the given text literally."""
    page.wait_for_timeout(300)  # an injected <img src=x> would have fired onerror by now
    assert page.evaluate("typeof window.__pwned") == "undefined", page.url
    assert page.locator('img[src="x"]').count() == 0, page.url
    assert not page.evaluate("[...document.scripts].some(s => s.textContent.includes('__pwned'))"), page.url
    body = page.inner_text("body")
    for text in visible:
        assert text in body, (page.url, text)


def test_citizen_html_is_shown_as_text_on_every_console_page(live_server, console):
    tracking_no = register_through_chat(live_server)
    waiting, marker = "xss-" + uuid.uuid4().hex, f"联系编号{uuid.uuid4().hex[:8]}<b>{IMG}</b>"
    with httpx.Client(base_url=live_server, timeout=30) as http:
        for text in (PROBLEM, "转人工", marker):
            chat(http, waiting, text)

    agent = console("agent1")
    agent.goto("/console/agent")
    row = agent.locator("#waiting tr[data-conversation]", has_text=marker[:12])
    row.wait_for(timeout=20_000)
    assert_inert(agent, marker)
    agent.goto(f"/console/agent/{row.get_attribute('data-conversation')}")
    assert_inert(agent, IMG, SCRIPT, marker)

    triage = console("triage1")
    triage.goto("/console/triage")
    triage.locator(f"#item-{tracking_no}").wait_for()
    assert_inert(triage, "楼下烧烤店")
    triage.goto(f"/console/cases/{tracking_no}")
    assert_inert(triage, IMG, SCRIPT, "楼下烧烤店")
