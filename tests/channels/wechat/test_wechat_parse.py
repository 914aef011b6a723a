"""Parsing what WeChat posts, without a database: signatures, AES, the hardened parser, every payload type."""

from __future__ import annotations

import pytest
from wechat_kit import AES_KEY, APPID, OPENID, TOKEN, WeChatServer, fixture

from channels.wechat import parse
from channels.wechat.adapter import render, split_text

CREDENTIALS = parse.Credentials(token=TOKEN, appid=APPID)


class FakeMedia:
    """Media as the unit test needs it: files 'downloaded' to fixed paths and a canned transcript."""

    def __init__(self, transcript: str | None = "我要投诉工地夜间施工"):
        self.fetched: list[tuple[str, str]] = []
        self.transcript = transcript

    def fetch(self, media_id: str, kind: str) -> str | None:
        self.fetched.append((media_id, kind))
        return f"/media/{kind}/{media_id[:6]}"

    def transcribe(self, path: str) -> str | None:
        return self.transcript


def inbound(name: str, media: FakeMedia | None = None, **fields):
    message = parse.check_message(parse.parse_xml(fixture(name, **fields)))
    return parse.to_inbound(message, channel="wechat", media=media or FakeMedia())


def test_text():
    msg = inbound("text")
    assert (msg.channel, msg.sender, msg.message_id, msg.text, msg.media) == (
        "wechat", OPENID, "24349580519367680", "你好", None)
    assert msg.received_at.timestamp() == 1700000000


def test_voice_with_recognition_needs_no_download():
    media = FakeMedia()
    msg = inbound("voice_recognition", media)
    assert msg.text == "我要投诉小区门口的烧烤摊每天晚上油烟很大"
    assert msg.media["source"] == "wechat_recognition" and media.fetched == []


def test_voice_without_recognition_is_transcribed():
    media = FakeMedia()
    msg = inbound("voice", media)
    assert msg.text == "我要投诉工地夜间施工" and msg.media["source"] == "transcriber"
    assert media.fetched == [("Gq4fSbGJdm2bKmP9aFqzJ0e5tWMkZ1_xXJr8n2oVbYwOQEhgBvTz7CRlAacKf3iN", "voice")]
    assert msg.media["format"] == "amr" and msg.media["path"] == "/media/voice/Gq4fSb"


def test_voice_that_cannot_be_transcribed_keeps_the_recording():
    msg = inbound("voice", FakeMedia(transcript=None))
    assert msg.text == "" and msg.media["source"] == "untranscribed" and msg.media["path"]


def test_image():
    msg = inbound("image")
    assert msg.text == "" and msg.media["type"] == "image" and msg.media["path"] == "/media/image/nEP3vD"
    assert msg.media["pic_url"].startswith("http://mmbiz.qpic.cn/")


def test_location():
    msg = inbound("location")
    assert msg.text == "我的位置：湖南省长沙市岳麓区麓谷街道枫林三路12号"
    assert msg.media == {"type": "location", "lat": 28.210717, "lng": 112.884539,
                         "label": "湖南省长沙市岳麓区麓谷街道枫林三路12号"}


def test_events():
    subscribe = inbound("event_subscribe")
    assert subscribe.text == "你好" and subscribe.message_id == f"{OPENID}:1700000050:subscribe"
    assert inbound("event_click").text == "我要反映问题"
    assert inbound("event_click", EventKey="HUMAN").text == "转人工"
    assert inbound("event_click", EventKey="QUERY_STATUS").text == "查询进度"
    assert inbound("event_click", EventKey="NOT_A_BUTTON") is None
    assert inbound("event_unsubscribe") is None


def test_signature():
    server = WeChatServer(client=None)
    query = {"signature": server.signature("1700000000", "abc123"), "timestamp": "1700000000", "nonce": "abc123"}
    parse.check_signature(TOKEN, query)
    for bad in ({**query, "signature": "0" * 40}, {**query, "nonce": "other"}, {**query, "signature": "签名"},
                {k: v for k, v in query.items() if k != "timestamp"}, {}):
        with pytest.raises(parse.Forbidden):
            parse.check_signature(TOKEN, bad)


def test_credentials_are_checked():
    parse.Credentials(token=TOKEN, appid=APPID, aes_key=AES_KEY)
    with pytest.raises(ValueError, match="43-character"):
        parse.Credentials(token=TOKEN, appid=APPID, aes_key="short")
    with pytest.raises(ValueError, match="APPID"):
        parse.Credentials(token=TOKEN, appid=None, aes_key=AES_KEY)


def test_seal_round_trips_with_wechatpy():
    from wechatpy.crypto import WeChatCrypto

    credentials = parse.Credentials(token=TOKEN, appid=APPID, aes_key=AES_KEY)
    xml = parse.render_text_reply(to_user=OPENID, from_user="gh_1", content="收到 ]]> 了", create_time=1700000000)
    sealed = parse.seal(xml, credentials, nonce="nonce1", timestamp="1700000000")
    envelope = parse.parse_xml(sealed)
    plain = WeChatCrypto(TOKEN, AES_KEY, APPID).decrypt_message(sealed, envelope["MsgSignature"], "1700000000", "nonce1")
    assert parse.parse_xml(plain)["Content"] == "收到 ]]> 了"


@pytest.mark.parametrize("xml", [
    '<!DOCTYPE xml [<!ENTITY a "b">]><xml><A>&a;</A></xml>',
    '<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/x.dtd"><xml><A>1</A></xml>',
    '<xml><A>&undefined;</A></xml>',
    "<xml>" + "<a>" * 10 + "</a>" * 10 + "</xml>",
    "<xml>" + "<a>1</a>" * 300 + "</xml>",
    "<root><A>1</A></root>",
    "<xml><A>1</A>",
    "\x00\x01",
])
def test_hardened_parser_refuses(xml):
    with pytest.raises(parse.Malformed):
        parse.parse_xml(xml)


def test_parser_keeps_text_and_entities_wechat_uses():
    fields = parse.parse_xml("<xml><Content><![CDATA[a < b & c]]></Content><B>x &amp; y</B><L><i>1</i><i>2</i></L></xml>")
    assert fields == {"Content": "a < b & c", "B": "x & y", "L": {"i": ["1", "2"]}}


@pytest.mark.parametrize(("fields", "reason"), [
    ({"FromUserName": "../../etc/passwd"}, "OpenID"), ({"CreateTime": "yesterday"}, "CreateTime"),
    ({"MsgId": "12abc"}, "MsgId"), ({"MsgType": ""}, "MsgType"),
])
def test_messages_wechat_would_never_send_are_refused(fields, reason):
    with pytest.raises(parse.Malformed, match=reason):
        parse.check_message(parse.parse_xml(fixture("text", **fields)))


def test_rendering_and_splitting():
    assert render("请选择", ["确认提交", "修改"]) == "请选择\n\n【确认提交】 【修改】"
    text = "\n".join(f"第{i}行：" + "很长的内容" * 20 for i in range(40))
    parts = split_text(text)
    assert len(parts) > 1 and all(len(p.encode()) <= 2000 for p in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")
    assert split_text("x" * 5000, limit=2000) == ["x" * 2000, "x" * 2000, "x" * 1000]
    assert split_text("短消息") == ["短消息"]
