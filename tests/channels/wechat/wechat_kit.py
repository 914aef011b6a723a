"""WeChat test kit: a local stand-in for the WeChat API, settings that point at it, and a simulated WeChat
server that signs and encrypts requests with wechatpy exactly as WeChat does (fixtures registered by conftest.py)."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import xmltodict
from fastapi.testclient import TestClient
from pydantic import SecretStr
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from core import db as core_db
from core.settings import configure as configure_settings
from core.tasks import get_runner

FIXTURES = Path(__file__).parent / "fixtures"
TOKEN = "PetitionIntakeToken2024"
APPID = "wx5823bf96d3bd56c7"
SECRET = "3c1b2a9d8e7f6a5b4c3d2e1f0a9b8c7d"
# The EncodingAESKey of WeChat's own documentation example (43 characters).
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
MINI_APPID = "wx0a1b2c3d4e5f6a7b"
MINI_SECRET = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
TEMPLATE_ID = "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
ACCOUNT = "gh_7f083739789a"


class StandIn:
    """A local WeChat API: /cgi-bin/token, custom and template send, media/get, /sns/jscode2session."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.token_calls = 0
        self.token_ttl = 7200
        self.fail_next: list[int] = []  # errcodes to answer the next token-using calls with
        self.media: dict[str, tuple[bytes, str]] = {}
        self.logins: dict[str, str] = {}  # js_code → openid
        self.apps = {APPID: SECRET, MINI_APPID: MINI_SECRET}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> StandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def received(self, path: str) -> list[dict]:
        """Return the JSON bodies a path accepted (errcode 0), oldest first."""
        with self.lock:
            return [r["json"] for r in self.requests if r["path"] == path and r["ok"]]

    def wait_for(self, path: str, count: int = 1, timeout: float = 20.0) -> list[dict]:
        """Wait until ``count`` requests reached a path and return their bodies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            bodies = self.received(path)
            if len(bodies) >= count:
                return bodies
            time.sleep(0.05)
        raise AssertionError(f"{path} received {len(self.received(path))} requests, expected {count}")

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args):
                pass

            def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _json(self, data: dict) -> None:
                self.record["ok"] = not data.get("errcode")
                self._send(200, json.dumps(data, ensure_ascii=False).encode(), "application/json; charset=utf-8")

            def _handle(self, method: str) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw.decode("utf-8")) if raw else None
                self.record = {"method": method, "path": url.path, "query": query, "json": body, "raw": raw, "ok": True}
                with standin.lock:
                    standin.requests.append(self.record)
                path = url.path
                if path == "/cgi-bin/token":
                    if query.get("grant_type") != "client_credential" or standin.apps.get(query.get("appid")) != \
                            query.get("secret"):
                        return self._json({"errcode": 40125, "errmsg": "invalid appsecret"})
                    with standin.lock:
                        standin.token_calls += 1
                        token = f"ACCESS_TOKEN_{standin.token_calls}"
                    return self._json({"access_token": token, "expires_in": standin.token_ttl})
                if path == "/sns/jscode2session":
                    if standin.apps.get(query.get("appid")) != query.get("secret") or \
                            query.get("grant_type") != "authorization_code":
                        return self._json({"errcode": 40125, "errmsg": "invalid appsecret"})
                    openid = standin.logins.pop(query.get("js_code", ""), None)
                    if openid is None:
                        return self._json({"errcode": 40029, "errmsg": "invalid code"})
                    return self._json({"openid": openid, "session_key": "tiihtNczf5v6AKRyjwEUhQ=="})
                token = query.get("access_token", "")
                if not token.startswith("ACCESS_TOKEN_"):
                    return self._json({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"})
                with standin.lock:
                    failure = standin.fail_next.pop(0) if standin.fail_next else None
                if failure:  # 0 lets one call through
                    return self._json({"errcode": failure, "errmsg": f"simulated error {failure}"})
                if path == "/cgi-bin/message/custom/send":
                    return self._json({"errcode": 0, "errmsg": "ok"})
                if path == "/cgi-bin/message/template/send":
                    return self._json({"errcode": 0, "errmsg": "ok", "msgid": 200228332})
                if path == "/cgi-bin/media/get":
                    found = standin.media.get(query.get("media_id", ""))
                    if found is None:
                        return self._json({"errcode": 40007, "errmsg": "invalid media_id"})
                    content, kind = found
                    return self._send(200, content, kind, {
                        "Content-disposition": f'attachment; filename="{query["media_id"][:8]}.bin"'})
                return self._send(404, b"not found", "text/plain")

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

        return Handler


@pytest.fixture
def standin():
    server = StandIn().start()
    yield server
    server.stop()


@pytest.fixture
def wechat_settings(settings, standin, tmp_path):
    """Test settings with the WeChat channel configured against the stand-in (plaintext mode: no AES key)."""
    configured = settings.model_copy(update=dict(
        wechat_token=SecretStr(TOKEN), wechat_appid=APPID, wechat_appsecret=SecretStr(SECRET), wechat_aes_key=None,
        wechat_api_base=standin.base_url, wechat_template_id=TEMPLATE_ID, miniprogram_appid=MINI_APPID,
        miniprogram_secret=SecretStr(MINI_SECRET), media_dir=str(tmp_path / "media")))
    yield configured
    configure_settings(settings)
    core_db.configure(settings)


def make_app(configured):
    """Build the app for these settings."""
    from server.app import create_app

    return create_app(configured)


def settle(timeout: float = 30.0) -> None:
    """Wait until WeChat turns and queued tasks (sends, notifications) have finished."""
    from channels.wechat.service import flights

    assert flights.wait_idle(timeout)
    runner = get_runner()
    if hasattr(runner, "join"):
        assert runner.join(timeout)


@pytest.fixture
def client(db, wechat_settings):
    app = make_app(wechat_settings)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
        settle()
    app.state.db.dispose()


def fixture(name: str, **fields) -> str:
    """Return a payload fixture with some fields replaced (numbers plain, text in CDATA)."""
    xml = (FIXTURES / f"{name}.xml").read_text(encoding="utf-8")
    for key, value in fields.items():
        inner = str(value) if key in ("MsgId", "CreateTime", "Location_X", "Location_Y", "Scale") else \
            f"<![CDATA[{value}]]>"
        xml, n = re.subn(rf"<{key}>.*?</{key}>", lambda _m, k=key, v=inner: f"<{k}>{v}</{k}>", xml, flags=re.S)
        if n == 0:
            xml = xml.replace("</xml>", f"  <{key}>{inner}</{key}>\n</xml>")
    return xml


def _field(xml: str, name: str) -> str:
    found = re.search(rf"<{name}>(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?</{name}>", xml, re.S)
    return found.group(1) if found else ""


class WeChatServer:
    """What WeChat's servers do: sign (and in safe or compatible mode encrypt) a message and POST it."""

    def __init__(self, client: TestClient, *, token: str = TOKEN, appid: str = APPID, aes_key: str = AES_KEY):
        self.client, self.token, self.appid, self.aes_key = client, token, appid, aes_key

    def signature(self, timestamp: str, nonce: str, *extra: str) -> str:
        signer = WeChatSigner()
        signer.add_data(self.token, timestamp, nonce, *extra)
        return signer.signature

    def verify_url(self, echostr: str = "8723948573920384", *, signature: str | None = None):
        timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
        return self.client.get("/channels/wechat", params={
            "signature": signature or self.signature(timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
            "echostr": echostr})

    def post(self, xml: str, *, mode: str = "plain", signature: str | None = None, msg_signature: str | None = None,
             seal_with: str | None = None, nonce: str | None = None):
        """POST a message in plaintext ('plain'), safe ('aes') or compatible ('compat') mode."""
        timestamp, nonce = str(int(time.time())), nonce or uuid.uuid4().hex[:10]
        openid = _field(xml, "FromUserName")
        params = {"signature": signature or self.signature(timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
                  "openid": openid}
        body = xml
        if mode in ("aes", "compat"):
            crypto = WeChatCrypto(self.token, seal_with or self.aes_key, self.appid)
            envelope = xmltodict.parse(crypto.encrypt_message(xml, nonce, timestamp))["xml"]
            encrypt = envelope["Encrypt"]
            to = _field(xml, "ToUserName")
            params.update(encrypt_type="aes", msg_signature=msg_signature or envelope["MsgSignature"])
            if mode == "aes":
                body = f"<xml>\n  <ToUserName><![CDATA[{to}]]></ToUserName>\n  <Encrypt><![CDATA[{encrypt}]]></Encrypt>\n</xml>"
            else:
                body = xml.replace("</xml>", f"  <Encrypt><![CDATA[{encrypt}]]></Encrypt>\n</xml>")
        return self.client.post("/channels/wechat", params=params, content=body.encode("utf-8"),
                                headers={"Content-Type": "text/xml"})

    def reply(self, response) -> dict | None:
        """Return the passive reply's fields (decrypted in safe mode), or None for 'success'."""
        assert response.status_code == 200, response.text
        if response.text == "success":
            return None
        fields = xmltodict.parse(response.text)["xml"]
        if "Encrypt" in fields:
            crypto = WeChatCrypto(self.token, self.aes_key, self.appid)
            inner = crypto.decrypt_message(response.text, fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"])
            fields = xmltodict.parse(inner)["xml"]
        return fields


@pytest.fixture
def safe_client(db, wechat_settings):
    """A simulated WeChat server talking to an app in safe mode (PETITION_WECHAT_AES_KEY set)."""
    app = make_app(wechat_settings.model_copy(update={"wechat_aes_key": SecretStr(AES_KEY)}))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield WeChatServer(c)
        settle()
    app.state.db.dispose()


@pytest.fixture
def wechat(client):
    return WeChatServer(client)


def content(wechat: WeChatServer, response) -> str:
    """Return the text of a passive reply (failing on 'success')."""
    reply = wechat.reply(response)
    assert reply is not None, "expected a passive reply, got 'success'"
    assert reply["MsgType"] == "text" and reply["ToUserName"] == OPENID and reply["FromUserName"] == ACCOUNT
    return reply["Content"]


class Counter:
    """Fresh MsgIds."""

    def __init__(self):
        self.n = 0

    def next(self) -> int:
        self.n += 1
        return 24349580519400000 + self.n


@pytest.fixture
def msg_ids():
    return Counter()


def say(wechat, msg_ids, text: str, mode: str = "plain") -> str:
    """Send a text message and return the passive reply."""
    return content(wechat, wechat.post(fixture("text", Content=text, MsgId=msg_ids.next(),
                                               CreateTime=int(time.time())), mode=mode))


def file_petition(wechat, msg_ids) -> str:
    """File a petition over WeChat step by step; return its tracking number."""
    steps = [("你好", "您好"), ("我要投诉", "发生了什么"), ("我家楼下的烧烤店每天晚上油烟很大，熏得窗户都不能开", "哪里"),
             ("岳麓区麓谷街道", "详细地址"), ("枫林三路12号", "什么时候"), ("三个月前", "诉求"),
             ("希望环保部门检查，让他们安装油烟净化器", "多少人"), ("就我一个", "反映过"), ("没有", "怎么称呼"),
             ("我叫张三", "联系电话"), ("13812345678", "隐私说明"), ("同意", "请核对")]
    for text, expected in steps:
        answer = say(wechat, msg_ids, text)
        assert expected in answer, (text, answer)
    done = say(wechat, msg_ids, "确认提交")
    assert "受理编号：XF-" in done
    return done.split("受理编号：")[1].split()[0]
