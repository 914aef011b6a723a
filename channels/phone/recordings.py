"""A call's recordings on disk: fetched from Twilio once with the account's credentials, transcribed once.

Both steps leave their result beside the recording, so a repeated callback for the same turn neither
downloads nor transcribes it again.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx

from channels.phone import transcriber as speech
from channels.sms import adapter as twilio
from core.settings import Settings

DOWNLOAD_RETRIES = 3

_client: httpx.Client | None = None


def _http() -> httpx.Client:
    # One pooled client: making one per download costs more than the download itself.
    global _client
    if _client is None:
        _client = httpx.Client(timeout=30, follow_redirects=True)
    return _client


def download_recording(settings: Settings, url: str, dest: Path) -> Path:
    """Fetch a recording as WAV from Twilio (only from our account's recordings) with the account credentials."""
    prefix = f"{twilio.api_base(settings)}/2010-04-01/Accounts/{settings.twilio_account_sid}/Recordings/"
    if not settings.twilio_account_sid or not url.startswith(prefix):
        raise speech.TranscriptionError("the recording URL is not one of this Twilio account's recordings")
    # 8 kHz 16-bit WAV, mono or two channels, with room to spare; anything bigger is not a turn.
    limit = (settings.max_recording_seconds + 30) * 8000 * 2 * 2 + 4096
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".part")
    auth = (settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value())
    for attempt in range(DOWNLOAD_RETRIES):
        with _http().stream("GET", url + ".wav", auth=auth) as reply:
            if reply.status_code == 404 and attempt + 1 < DOWNLOAD_RETRIES:
                time.sleep(0.5 * (attempt + 1))  # Twilio may call back a moment before the file is ready
                continue
            if reply.status_code != 200:
                raise speech.TranscriptionError(f"downloading the recording failed: HTTP {reply.status_code}")
            size = 0
            with tmp.open("wb") as out:
                for chunk in reply.iter_bytes():
                    size += len(chunk)
                    if size > limit:
                        out.close()
                        tmp.unlink(missing_ok=True)
                        raise speech.RecordingTooLong(size / 16000, settings.max_recording_seconds)
                    out.write(chunk)
        os.replace(tmp, dest)
        return dest
    raise speech.TranscriptionError("the recording was not available")


def transcript_for(settings: Settings, path: Path, language: str | None) -> speech.TranscriptResult:
    """Transcribe a kept recording once: the result is kept beside it and reused on a repeated callback."""
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        try:
            data = json.loads(sidecar.read_text(encoding="utf-8"))
            return speech.TranscriptResult(data["text"], data["language"], data["duration_s"], data.get("segments", []))
        except (ValueError, KeyError):
            pass
    result = speech.get_transcriber().transcribe(path, language=language)
    tmp = sidecar.with_suffix(".json.part")
    tmp.write_text(json.dumps(result.__dict__, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, sidecar)
    return result
