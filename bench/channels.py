"""Inbound requests per second per channel, with Twilio signature checks on.

Starts the real service under uvicorn on this machine (its own SQLite database, or PostgreSQL with
--database-url) with the SMS and phone routes, then N concurrent senders per channel:

- webchat: POST /api/v1/chat (no signature: the baseline);
- sms: signed Twilio webhooks POST /channels/sms/twilio, each a new message answered in TwiML;
- phone: signed Twilio voice webhooks, a new call (/incoming) then recorded turns (/recording): each turn
  downloads its recording from a local Twilio stand-in and runs the bot; speech recognition is replaced by
  a stub that reads the words from the file, because the model's cost is bench/speech.py's figure (RTF);
- forged: SMS webhooks with a wrong signature, refused with 403 before any work.

Petitions registered on the way are not routed (PETITION_ROUTE_ON_REGISTER=false): routing's own cost
would land on the same two cores and is bench/retrieval.py's subject.

    .venv/bin/python bench/channels.py --senders 20 --messages 20
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
from _common import free_port, latency_summary, pct, save_results, wait_up

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ACCOUNT = "AC" + "b1" * 16
TOKEN = "0c" * 16
APP = """
from pathlib import Path

from channels.phone import transcriber as speech
from server.app import create_app as base


class ReadsTheText:
    def transcribe(self, path, *, language=None):
        text = Path(path).read_bytes().decode("utf-8").removeprefix("TEXT:")
        return speech.TranscriptResult(text, "zh", 3.0, [])


def create():
    speech.set_transcriber(ReadsTheText())
    return base()
"""
TEXTS = ["我要投诉，小区楼下的饭店每天晚上油烟很大，窗户都不能开", "岳麓区麓谷街道", "枫林三路12号", "三个月前",
         "希望环保部门检查处理", "3个人", "没有", "张三", "同意", "确认提交"]


class Signer:
    def __init__(self, public: str):
        from twilio.request_validator import RequestValidator

        self.public, self.validator = public, RequestValidator(TOKEN)

    def post(self, client: httpx.Client, base: str, path: str, params: dict[str, str], *, forge: bool = False):
        signature = self.validator.compute_signature(self.public + path, params)
        if forge:
            signature = signature[::-1]
        return client.post(base + path, data=params, headers={"X-Twilio-Signature": signature})


def webchat_sender(base: str, _signer: Signer, n: int, latencies: list[float], errors: list[str]) -> None:
    conversation = uuid.uuid4().hex
    with httpx.Client(timeout=120) as client:
        for i in range(n):
            started = time.perf_counter()
            r = client.post(f"{base}/api/v1/chat", json={"conversation_id": conversation, "message_id": uuid.uuid4().hex,
                                                         "text": TEXTS[i % len(TEXTS)], "locale": "zh-CN"})
            latencies.append(time.perf_counter() - started)
            if r.status_code != 200:
                errors.append(f"{r.status_code} {r.text[:80]}")


def sms_sender(base: str, signer: Signer, n: int, latencies: list[float], errors: list[str], *, forge: bool = False) -> None:
    sender = "+86139" + str(uuid.uuid4().int)[:8]
    with httpx.Client(timeout=120) as client:
        for i in range(n):
            sid = "SM" + uuid.uuid4().hex
            params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT, "From": sender, "To": "+15005550006",
                      "Body": TEXTS[i % len(TEXTS)], "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received",
                      "ApiVersion": "2010-04-01"}
            started = time.perf_counter()
            r = signer.post(client, base, "/channels/sms/twilio", params, forge=forge)
            latencies.append(time.perf_counter() - started)
            if r.status_code != (403 if forge else 200):
                errors.append(f"{r.status_code} {r.text[:80]}")


def forged_sender(base: str, signer: Signer, n: int, latencies: list[float], errors: list[str]) -> None:
    sms_sender(base, signer, n, latencies, errors, forge=True)


class Recordings:
    """A Twilio stand-in: GET .../Recordings/{sid}.wav serves what the bench put there, POST Messages.json accepts."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.files: dict[str, bytes] = {}
        files = self.files

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                data = files.get(self.path.rsplit("/", 1)[-1].removesuffix(".wav"))
                self.send_response(200 if data is not None else 404)
                self.send_header("Content-Length", str(len(data or b"")))
                self.end_headers()
                self.wfile.write(data or b"")

            def do_POST(self):  # Messages.json: the SMS copy of a tracking number
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.dumps({"sid": "SM" + uuid.uuid4().hex, "status": "queued"}).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, text: str) -> tuple[str, str]:
        sid = "RE" + uuid.uuid4().hex
        self.files[sid] = f"TEXT:{text}".encode()
        return sid, f"{self.base}/2010-04-01/Accounts/{ACCOUNT}/Recordings/{sid}"


RECORDINGS: Recordings | None = None


def phone_caller(base: str, signer: Signer, n: int, latencies: list[float], errors: list[str]) -> None:
    """One call: ring, then recorded turns (each answered with the next prompt)."""
    caller = "+86138" + str(uuid.uuid4().int)[:8]
    call = {"CallSid": "CA" + uuid.uuid4().hex, "AccountSid": ACCOUNT, "From": caller, "Caller": caller,
            "To": "+15005550006", "Called": "+15005550006", "CallStatus": "in-progress", "Direction": "inbound",
            "ApiVersion": "2010-04-01"}
    with httpx.Client(timeout=120) as client:
        for i in range(n):
            if i % (len(TEXTS) + 1) == 0:
                path, params = "/channels/phone/twilio/incoming", {**call, "CallStatus": "ringing"}
            else:
                sid, url = RECORDINGS.add(TEXTS[i % (len(TEXTS) + 1) - 1])
                path = "/channels/phone/twilio/recording?seq=0"
                params = {**call, "RecordingSid": sid, "RecordingUrl": url, "RecordingDuration": "3", "Digits": "#"}
            started = time.perf_counter()
            r = signer.post(client, base, path, params)
            latencies.append(time.perf_counter() - started)
            if r.status_code != 200:
                errors.append(f"{r.status_code} {r.text[:80]}")


def run_channel(name: str, target, base: str, signer: Signer, senders: int, messages: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    threads = [threading.Thread(target=target, args=(base, signer, messages, latencies, errors)) for _ in range(senders)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    print(f"{name:<9} requests={len(latencies):>5} {len(latencies) / elapsed:8.1f} req/s  "
          f"p50={pct(latencies, 50) * 1000:7.1f} ms  p95={pct(latencies, 95) * 1000:7.1f} ms  "
          f"mean={statistics.mean(latencies) * 1000:7.1f} ms  errors={len(errors)}" + (f" ({errors[0]})" if errors else ""))
    return {"requests_per_s": round(len(latencies) / elapsed, 1), **latency_summary(latencies), "errors": len(errors)}


def validator_rate(seconds: float = 1.0) -> float:
    """Return how many signatures one core checks per second (the check's own cost)."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(TOKEN)
    url = "https://petition.example.gov.cn/channels/sms/twilio"
    params = {"MessageSid": "SM" + "0" * 32, "From": "+8613912345678", "Body": TEXTS[0], "AccountSid": ACCOUNT,
              "To": "+15005550006", "NumMedia": "0"}
    signature = validator.compute_signature(url, params)
    count, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        assert validator.validate(url, params, signature)
        count += 1
    return count / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--senders", type=int, default=20, help="concurrent senders per channel")
    parser.add_argument("--messages", type=int, default=20, help="requests per sender")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    global RECORDINGS
    RECORDINGS = Recordings()
    tmp = Path(tempfile.mkdtemp(prefix="bench-channels-"))
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    env = {**os.environ, "PETITION_DATABASE_URL": url, "PETITION_ENVIRONMENT": "test", "PETITION_LOG_LEVEL": "WARNING",
           "PETITION_EMBEDDED_SCHEDULER": "false", "PETITION_ROUTE_ON_REGISTER": "false", "PETITION_RATE_LIMIT_ENABLED": "false",
           "PETITION_TWILIO_ACCOUNT_SID": ACCOUNT, "PETITION_TWILIO_AUTH_TOKEN": TOKEN,
           "PETITION_TWILIO_FROM": "+15005550006", "PETITION_PUBLIC_BASE_URL": public,
           "PETITION_TWILIO_API_BASE": RECORDINGS.base,
           "PETITION_MEDIA_DIR": str(tmp / "media"), "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", "from server.bench_setup import main; main()"], env=env, check=True, cwd=ROOT)
    (tmp / "bench_channels_app.py").write_text(APP)
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench_channels_app:create", "--factory", "--app-dir", str(tmp),
                               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                               "--workers", str(args.workers)], env=env, cwd=ROOT)
    try:
        wait_up(f"{public}/healthz")
        signer = Signer(public)
        print(f"senders={args.senders} requests/sender={args.messages} workers={args.workers} database={url.split(':')[0]} "
              f"cpus={os.cpu_count()}")
        figures = {}
        for name, target in (("webchat", webchat_sender), ("sms", sms_sender), ("phone", phone_caller),
                             ("forged", forged_sender)):
            figures[name] = run_channel(name, target, public, signer, args.senders, args.messages)
        validations = validator_rate()
        print(f"signature check alone: {validations:,.0f} validations/s on one core")
        save_results("channels", {"senders": args.senders, "requests_per_sender": args.messages, "workers": args.workers,
                                  "database": url.split(":")[0], "channels": figures,
                                  "signature_validations_per_s_one_core": round(validations)})
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
