"""Media files from WeChat: downloads through the official account's API, uploads from the mini-program.

Every file is stored in the media folder under a fresh random name (never one a client, WeChat or a forger
chose), in a folder per source, kind and month. Voice is transcribed by the phone channel's speech engine,
imported only when a voice message needs it.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import httpx

from channels import registry
from channels.wechat.adapter import official_client
from channels.wechat.client import WeChatAPIError
from core.db import utcnow
from core.settings import ROOT, get_settings

log = logging.getLogger(__name__)

EXTENSIONS = {"image/jpeg": ".jpg", "image/jpg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp",
              "audio/amr": ".amr", "voice/amr": ".amr", "audio/speex": ".speex", "voice/speex": ".speex",
              "audio/mpeg": ".mp3", "audio/mp3": ".mp3", "audio/wav": ".wav", "audio/x-wav": ".wav",
              "audio/wave": ".wav", "video/mp4": ".mp4"}


def media_root() -> Path:
    """Return the folder media files are stored in (PETITION_MEDIA_DIR, relative to the project root)."""
    folder = Path(get_settings().media_dir)
    return folder if folder.is_absolute() else ROOT / folder


def store(data: bytes, *, source: str, kind: str, suffix: str, what: str) -> str | None:
    """Write a media file under a fresh name in the media folder; None (logged as ``what``) if it cannot be written."""
    folder = media_root() / source / kind / utcnow().strftime("%Y%m")
    path = folder / f"{uuid.uuid4().hex}{suffix}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        log.error("%s could not be stored in %s: %s", what, folder, exc)
        return None
    return str(path)


def sniff(data: bytes, kind: str) -> str | None:
    """Return the file extension the bytes really are, for an image or a voice recording; None if neither."""
    head = data[:16]
    if kind == "image":
        if head.startswith(b"\xff\xd8\xff"):
            return ".jpg"
        if head.startswith(b"\x89PNG\r\n\x1a\n"):
            return ".png"
        if head[:6] in (b"GIF87a", b"GIF89a"):
            return ".gif"
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            return ".webp"
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return ".wav"
    if head[4:8] == b"ftyp":
        return ".m4a"
    if head.startswith(b"ID3"):
        return ".mp3"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        # Frame sync: layer bits 00 mean AAC in ADTS (the recorder's "aac"), anything else is MPEG audio.
        return ".aac" if head[1] & 0x06 == 0 else ".mp3"
    return None


def get_transcriber():
    """Return the speech-to-text engine (the phone channel's), imported only when a voice message needs it."""
    from channels.phone.transcriber import get_transcriber as phone_transcriber

    return phone_transcriber()


def transcribe(path: str, *, no_engine: str) -> str | None:
    """Return what a recording says; None (logged) when no engine is installed or it fails."""
    from channels.phone.transcriber import TranscriptionError

    try:
        result = get_transcriber().transcribe(path)
    except TranscriptionError:
        raise  # an unusable recording: each caller tells its user in its own way
    except ImportError:
        log.warning(no_engine)
        return None
    except Exception:
        log.exception("transcribing %s failed", path)
        return None
    return (getattr(result, "text", "") or "").strip() or None


class WeChatMedia:
    """Fetch media through the official account's API and transcribe voice without WeChat's recognition."""

    def fetch(self, media_id: str, kind: str) -> str | None:
        """Download a media file into the media folder; None (logged) if WeChat cannot serve it."""
        try:
            media = official_client().download_media(media_id)
        except (WeChatAPIError, httpx.HTTPError, registry.DeliveryError) as exc:
            log.warning("WeChat %s %s could not be downloaded: %s", kind, media_id[:32], exc)
            return None
        suffix = EXTENSIONS.get(media.content_type) or Path(media.filename or "").suffix.lower()
        if not (suffix[1:].isalnum() and len(suffix) <= 6):
            suffix = ".bin"
        return store(media.content, source="wechat", kind=kind, suffix=suffix, what=f"WeChat {kind} {media_id[:32]}")

    def transcribe(self, path: str) -> str | None:
        """Return what the recording says; None (logged) when no engine is installed or it fails."""
        from channels.phone.transcriber import TranscriptionError

        try:
            return transcribe(path, no_engine="voice message without WeChat recognition, and no transcriber installed")
        except TranscriptionError:
            log.exception("transcribing %s failed", path)
            return None
