"""The WeChat API client and the outbound adapter against the local stand-in: token caching and refresh,
media, customer-service and template messages, and the outbox."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select
from wechat_kit import APPID, OPENID, SECRET, settle

from channels import registry
from channels.models import OutboxMessage
from channels.service import OutboundMessage
from channels.tasks import send_outbox
from channels.wechat import adapter
from channels.wechat.client import WeChatAPIError, WeChatClient
from core.db import utcnow


@pytest.fixture
def api(standin):
    client = WeChatClient(base_url=standin.base_url, appid=APPID, secret=SECRET)
    yield client
    client.close()


def tokens_used(standin, path: str) -> list[str]:
    return [r["query"]["access_token"] for r in standin.requests if r["path"] == path]


def test_access_token_is_cached_across_calls(api, standin):
    for n in range(3):
        api.send_text(OPENID, f"消息{n}")
    assert standin.token_calls == 1
    assert tokens_used(standin, "/cgi-bin/message/custom/send") == ["ACCESS_TOKEN_1"] * 3
    assert [b["text"]["content"] for b in standin.received("/cgi-bin/message/custom/send")] == ["消息0", "消息1", "消息2"]
    [token_request] = [r for r in standin.requests if r["path"] == "/cgi-bin/token"]
    assert token_request["query"] == {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}


@pytest.mark.parametrize("errcode", [40001, 42001])
def test_a_rejected_token_is_refreshed_once(api, standin, errcode):
    api.send_text(OPENID, "第一条")
    standin.fail_next.append(errcode)
    api.send_text(OPENID, "第二条")
    assert standin.token_calls == 2
    assert tokens_used(standin, "/cgi-bin/message/custom/send") == ["ACCESS_TOKEN_1", "ACCESS_TOKEN_1", "ACCESS_TOKEN_2"]
    assert [b["text"]["content"] for b in standin.received("/cgi-bin/message/custom/send")] == ["第一条", "第二条"]


def test_a_token_rejected_twice_is_an_error(api, standin):
    standin.fail_next.extend([40001, 40001])
    with pytest.raises(WeChatAPIError) as caught:
        api.send_text(OPENID, "x")
    assert caught.value.errcode == 40001 and standin.token_calls == 2


def test_tokens_are_refreshed_before_they_expire(api, standin):
    standin.token_ttl = 2  # refreshed after (2 - 2 // 5) = 2 seconds
    api.send_text(OPENID, "a")
    api.send_text(OPENID, "b")
    assert standin.token_calls == 1
    time.sleep(2.1)
    api.send_text(OPENID, "c")
    assert standin.token_calls == 2


def test_concurrent_callers_share_one_token(api, standin):
    threads = [threading.Thread(target=api.send_text, args=(OPENID, f"并发{n}")) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert standin.token_calls == 1 and len(standin.received("/cgi-bin/message/custom/send")) == 8


def test_errors_and_media(api, standin):
    standin.fail_next.append(45015)
    with pytest.raises(WeChatAPIError) as caught:
        api.send_text(OPENID, "x")
    assert caught.value.errcode == 45015
    standin.media["m1"] = (b"\x89PNG\r\n\x1a\n...", "image/png")
    media = api.download_media("m1")
    assert media.content == b"\x89PNG\r\n\x1a\n..." and media.content_type == "image/png" and media.filename == "m1.bin"
    with pytest.raises(WeChatAPIError) as caught:
        api.download_media("unknown")
    assert caught.value.errcode == 40007
    with pytest.raises(WeChatAPIError, match="over 4 bytes"):
        api.download_media("m1", max_bytes=4)
    standin.fail_next.append(40001)
    assert api.download_media("m1").content.startswith(b"\x89PNG")  # refreshed on the media API too


def test_wrong_secret_is_a_clear_error(standin):
    client = WeChatClient(base_url=standin.base_url, appid=APPID, secret="wrong")
    with pytest.raises(WeChatAPIError) as caught:
        client.send_text(OPENID, "x")
    assert caught.value.errcode == 40125


# The adapter and the outbox -----------------------------------------------------------------------------

def test_adapter_sends_long_replies_in_parts_with_quick_replies(client, standin):
    text = "\n".join("很长的一行内容" * 30 for _ in range(5))
    adapter.WeChatAdapter().send(OutboundMessage("wechat", OPENID, text, ["确认提交", "修改"]))
    parts = [b["text"]["content"] for b in standin.received("/cgi-bin/message/custom/send")]
    assert len(parts) > 1 and all(len(p.encode()) <= 2000 for p in parts)
    assert parts[-1].endswith("【确认提交】 【修改】")


def test_adapter_maps_refusals_that_a_retry_cannot_fix(client, standin):
    standin.fail_next.append(45015)
    with pytest.raises(registry.DeliveryError, match="48 hours"):
        adapter.WeChatAdapter().send(OutboundMessage("wechat", OPENID, "x"))
    standin.fail_next.append(-1)  # "system busy": retried by the outbox
    with pytest.raises(WeChatAPIError):
        adapter.WeChatAdapter().send(OutboundMessage("wechat", OPENID, "x"))


def test_the_outbox_sends_wechat_messages(client, db, standin):
    assert registry.get("wechat").in_band is False and registry.get("miniprogram").in_band is True
    with db.transaction() as s:
        ok = OutboxMessage(channel="wechat", recipient=OPENID, text="工作人员：您好，已收到。", status="pending",
                           created_at=utcnow())
        late = OutboxMessage(channel="wechat", recipient=OPENID, text="太晚了", status="pending", created_at=utcnow())
        s.add_all([ok, late])
    assert send_outbox(ok.id) == "sent"
    assert send_outbox(ok.id) == "sent"  # never twice
    standin.fail_next.append(45015)
    assert send_outbox(late.id) == "failed"
    with db.session() as s:
        rows = {r.id: r for r in s.scalars(select(OutboxMessage))}
    assert rows[ok.id].status == "sent" and rows[late.id].status == "failed" and "48 hours" in rows[late.id].last_error
    assert [b["text"]["content"] for b in standin.received("/cgi-bin/message/custom/send")] == ["工作人员：您好，已收到。"]


def test_send_replies_keeps_order_and_resumes(client, db, standin):
    with db.transaction() as s:
        rows = [OutboxMessage(channel="wechat", recipient=OPENID, text=f"第{n}条", status="pending", created_at=utcnow())
                for n in range(3)]
        s.add_all(rows)
    ids = [r.id for r in rows]
    standin.fail_next.extend([0, -1])  # the second message fails once: the task raises and is retried
    with pytest.raises(WeChatAPIError):
        adapter.send_replies(ids)
    assert adapter.send_replies(ids) == ["sent", "sent", "sent"]
    settle()
    assert [b["text"]["content"] for b in standin.received("/cgi-bin/message/custom/send")] == ["第0条", "第1条", "第2条"]
