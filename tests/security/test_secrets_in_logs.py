"""Secrets never reach the logs: known secret values go through app start, signed webhooks, logins and failing
sends with every logger at DEBUG, and none of them (nor the citizen's phone or ID number) is in what is written."""

from __future__ import annotations

import io
import logging
import time
import uuid

import pytest
import standins
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from bot import service as conversations
from channels.models import OutboxMessage
from channels.service import enqueue_agent_message
from core import db as core_db
from core.accounts import create_user
from core.logging import RedactSecrets
from core.settings import configure as configure_settings
from core.tasks import get_runner
from server.app import create_app

PHONE = "13912345678"
ID_NUMBER = "11010519491231002X"
DB_PASSWORD = "Db-Pass-7Qx9Lw2Ze"
STAFF_PASSWORD = "Staff-Pass-4Kd8Vn1Rt"
BOOTSTRAP = "boot-Tok-9Hs3Jm6Pq"
SECRET_KEY = "Secret-Key-2Wc5Yb8Nf"
PII_KEY = "Pii-Key-6Tg1Ux4Za"
REDIS_PASSWORD = "Redis-Pass-3Fh7Rk0Ys"
tw, wk = standins.twilio, standins.wechat
SECRETS = {"secret_key": SECRET_KEY, "pii_key": PII_KEY, "bootstrap token": BOOTSTRAP, "staff password": STAFF_PASSWORD,
           "database password": DB_PASSWORD, "redis password": REDIS_PASSWORD, "wechat token": wk.TOKEN,
           "wechat app secret": wk.SECRET, "wechat aes key": wk.AES_KEY, "mini-program secret": wk.MINI_SECRET,
           "twilio auth token": tw.AUTH_TOKEN}
PERSONAL = {"phone": PHONE, "id number": ID_NUMBER}


@pytest.fixture
def written():
    """Route the project's log handler (with its redaction) into a buffer, every logger at DEBUG."""
    buffer = io.StringIO()
    root = logging.getLogger()
    before = (root.level, {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "twilio", "urllib3")})
    root.setLevel(logging.DEBUG)
    for name in before[1]:
        logging.getLogger(name).setLevel(logging.DEBUG)
    swapped = []

    def attach():
        for handler in root.handlers:
            if any(isinstance(f, RedactSecrets) for f in handler.filters) and handler not in [h for h, _ in swapped]:
                swapped.append((handler, handler.setStream(buffer)))

    yield buffer, attach
    for handler, stream in swapped:
        handler.setStream(stream)
    root.setLevel(before[0])
    for name, level in before[1].items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_no_secret_or_personal_number_is_written_to_the_log(db, settings, written, tmp_path):
    buffer, attach = written
    twilio, wechat_api = tw.TwilioStandIn().start(), wk.StandIn().start()
    # Trust authentication lets the password in the URL through: it is there to be kept out of the log.
    url = settings.database_url.replace("postgres@", f"postgres:{DB_PASSWORD}@", 1)
    assert DB_PASSWORD in url
    configured = settings.model_copy(update={
        "database_url": url, "secret_key": SecretStr(SECRET_KEY), "pii_key": SecretStr(PII_KEY),
        "bootstrap_admin_token": SecretStr(BOOTSTRAP), "log_level": "DEBUG",
        "rate_limit_redis_url": f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/14", "media_dir": str(tmp_path / "media"),
        "wechat_token": SecretStr(wk.TOKEN), "wechat_appid": wk.APPID, "wechat_appsecret": SecretStr(wk.SECRET),
        "wechat_aes_key": SecretStr(wk.AES_KEY), "wechat_api_base": wechat_api.base_url,
        "miniprogram_appid": wk.MINI_APPID, "miniprogram_secret": SecretStr(wk.MINI_SECRET),
        "twilio_account_sid": tw.ACCOUNT_SID, "twilio_auth_token": SecretStr(tw.AUTH_TOKEN), "twilio_from": tw.FROM_NUMBER,
        "twilio_api_base": twilio.base_url, "public_base_url": tw.PUBLIC_BASE})
    try:
        app = create_app(configured)  # app start: settings, keys, database, runner
        attach()
        # Whoever logs the settings while debugging a start-up (URLs with passwords are plain strings in them).
        logging.getLogger("petition.test").debug("settings at start: %r", configured)
        logging.getLogger("petition.test").debug("start-up", extra={"database": url, "broker": configured.rate_limit_redis_url})
        with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
            _flows(app, client, twilio, wechat_api)
        runner = get_runner()
        if hasattr(runner, "join"):
            runner.join(30)
        with app.state.db.session() as s:
            agent_rows = list(s.scalars(select(OutboxMessage).where(OutboxMessage.text.like("请核对电话%"))))
        app.state.db.dispose()
    finally:
        twilio.stop()
        wechat_api.stop()
        configure_settings(settings)
        core_db.configure(settings)

    # The Twilio send failed on its credentials; the WeChat one went through after fetching new tokens.
    assert sorted((r.channel, r.status) for r in agent_rows) == [("sms", "failed"), ("wechat", "sent")], agent_rows
    text = buffer.getvalue()
    assert "HTTP Request" in text and "POST /channels/sms/twilio" in text  # the flows did log, at DEBUG too
    leaks = {what: value for what, value in {**SECRETS, **PERSONAL}.items() if value in text}
    assert not leaks, f"written to the log: {leaks}\n" + "\n".join(
        line for line in text.splitlines() if any(v in line for v in leaks.values()))[:3000]


def _flows(app, client: TestClient, twilio, wechat_api) -> None:
    db = app.state.db
    said = f"我的电话{PHONE}，身份证{ID_NUMBER}，小区楼下烧烤店油烟太大"
    # A signed and encrypted WeChat message (safe mode) and a signed Twilio SMS, both carrying personal numbers.
    server = wk.WeChatServer(client)
    assert server.post(wk.fixture("text", Content=said, MsgId=str(int(time.time() * 1000))), mode="aes").status_code == 200
    sms = tw.payload("sms", "inbound_sms", Body=said, From=f"+86{PHONE}", MessageSid="SM" + uuid.uuid4().hex,
                     SmsSid="SM" + uuid.uuid4().hex)
    assert tw.post(client, "/channels/sms/twilio", sms).status_code == 200
    # Logins: a console password (once wrong), the bootstrap token, the mini-program code exchange (app secret).
    with db.transaction() as s:
        create_user(s, username="sec-admin", password=STAFF_PASSWORD, role="admin")
    assert client.post("/console/login", data={"username": "sec-admin", "password": STAFF_PASSWORD + "x"}).status_code != 303
    assert client.post("/console/login", data={"username": "sec-admin", "password": STAFF_PASSWORD}).status_code == 303
    assert client.get("/api/v1/petitions", headers={"Authorization": f"Bearer {BOOTSTRAP}"}).status_code == 200
    assert client.get("/api/v1/petitions", headers={"Authorization": f"Bearer {BOOTSTRAP}x"}).status_code == 401
    wechat_api.logins["code-0a1b2c3d"] = wk.OPENID
    assert client.post("/api/v1/miniprogram/login", json={"code": "code-0a1b2c3d"}).status_code == 200
    # Failing outbound sends: Twilio refuses the credentials; WeChat says the access token is invalid.
    twilio.auth_token = "0" * 32
    wechat_api.fail_next.extend([40001, 40001, 40001])
    with db.transaction() as s:
        for channel, recipient in (("sms", f"+86{PHONE}"), ("wechat", wk.OPENID)):
            conversations.ensure(s, channel=channel, external_id=recipient)
            conv = conversations.get_by_identity(s, channel=channel, external_id=recipient, for_update=True)
            line = conversations.record(s, conv, direction="out", author="agent:li", text=f"请核对电话{PHONE}")
            enqueue_agent_message(s, conv=conv, seq=line.seq, text=line.text)
