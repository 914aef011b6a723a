"""Recordings: asked for by the host, made only after everyone present consents, uploaded in chunks, kept with the case.

The host's browser records the mixed audio of the room (MediaRecorder, WebM/Opus) and uploads a chunk
every few seconds, so a closed tab loses seconds, not the session, and no request comes near the body limit.
When the host stops, a task joins the chunks, converts them to MP3 (an attachment type the case accepts,
in parts of at most 10 MB) and attaches them to the case; a second task writes the transcript.
"""

from __future__ import annotations

import io
import logging
import threading
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cases import audit
from cases.handling.service import MAX_ATTACHMENT_BYTES, create_attachment
from cases.service import Conflict, Forbidden, Invalid
from core.accounts import Actor, Role, get_by_username
from core.db import Database, insert_for, utcnow
from core.settings import get_settings
from core.tasks import enqueue
from mediation.enums import RecordingStatus, SessionStatus
from mediation.models import MediationParticipant, MediationRecording, MediationRecordingChunk, MediationSession
from mediation.service import SessionNotFound, petition_of

log = logging.getLogger(__name__)

CHUNK_MAX_BYTES = 900_000
MAX_RECORDING_BYTES = 400 * 1024 * 1024
MP3_RATE = 16_000
MP3_BITRATE = 32_000
# 32 kbit/s is 4 000 bytes a second: 40 minutes fit in one attachment of at most 10 MB.
PART_SECONDS = min(40 * 60, int(MAX_ATTACHMENT_BYTES * 0.95 / (MP3_BITRATE / 8)))
ACTIVE = (RecordingStatus.CONSENT, RecordingStatus.RECORDING)


def _recording(session: Session, participant: MediationParticipant, recording_id: int, *, host: bool = False,
               for_update: bool = False) -> MediationRecording:
    stmt = select(MediationRecording).where(MediationRecording.id == recording_id)
    if for_update:
        stmt = stmt.with_for_update()
    rec = session.scalar(stmt)
    if rec is None or rec.session_id != participant.session_id:
        raise SessionNotFound(f"no recording {recording_id} in this session")
    if host and not participant.is_host:
        raise Forbidden("only the host records")
    return rec


def active_recording(session: Session, *, session_id: int) -> MediationRecording | None:
    """Return the session's recording that is waiting for consent or running, if any."""
    return session.scalar(select(MediationRecording).where(MediationRecording.session_id == session_id,
                                                           MediationRecording.status.in_(ACTIVE)))


def waiting_for_consent(rec: MediationRecording, present: list[int]) -> list[int]:
    """Return the participants present who have not consented yet."""
    return [pid for pid in present if not (rec.consents or {}).get(str(pid), {}).get("agree")]


def _start(session: Session, ms: MediationSession, rec: MediationRecording, actor: str, now: datetime) -> None:
    rec.status, rec.started_at = RecordingStatus.RECORDING, now
    audit.append(session, actor=actor, action="mediation_recording_started", petition_id=ms.petition_id, at=now,
                 data={"session_id": ms.id, "recording_id": rec.id, "consented": sorted(int(k) for k in rec.consents)})


def do_request_recording(session: Session, *, host: MediationParticipant, present: list[int],
                         now: datetime | None = None) -> MediationRecording:
    """Ask everyone present to consent to a recording (host only); it starts once all have."""
    now = now or utcnow()
    if not host.is_host:
        raise Forbidden("only the host records")
    ms = host.session
    if ms.status != SessionStatus.LIVE:
        raise Conflict("record only during the session")
    rec = active_recording(session, session_id=ms.id)
    if rec is not None:
        return rec
    rec = MediationRecording(session_id=ms.id, requested_by=host.username or "host", created_at=now,
                             status=RecordingStatus.CONSENT, consents={str(host.id): {"agree": True, "at": now.isoformat()}},
                             size=0, attachment_ids=[], transcript_status="none")
    session.add(rec)
    session.flush()
    if not waiting_for_consent(rec, present):
        _start(session, ms, rec, rec.requested_by, now)
    session.flush()
    return rec


def do_consent(session: Session, *, participant: MediationParticipant, recording_id: int, agree: bool,
               present: list[int], now: datetime | None = None) -> MediationRecording:
    """Record a participant's answer; a refusal stops (or never starts) the recording."""
    now = now or utcnow()
    rec = _recording(session, participant, recording_id, for_update=True)
    if rec.status not in ACTIVE:
        return rec
    rec.consents = {**(rec.consents or {}), str(participant.id): {"agree": bool(agree), "at": now.isoformat()}}
    ms = participant.session
    if not agree:
        was = rec.status
        # What was recorded before, everyone then present had agreed to; it is kept.
        rec.status = RecordingStatus.DECLINED if was == RecordingStatus.CONSENT else RecordingStatus.PROCESSING
        rec.ended_at = now
        audit.append(session, actor=participant.username or f"mediation:{participant.role}",
                     action="mediation_recording_declined", petition_id=ms.petition_id, at=now,
                     data={"session_id": ms.id, "recording_id": rec.id, "participant_id": participant.id,
                           "role": str(participant.role)})
        if rec.status == RecordingStatus.PROCESSING:
            enqueue(session, "mediation.process_recording", recording_id=rec.id)
    elif rec.status == RecordingStatus.CONSENT and not waiting_for_consent(rec, present):
        _start(session, ms, rec, rec.requested_by, now)
    session.flush()
    return rec


def add_chunk(session: Session, *, participant: MediationParticipant, recording_id: int, seq: int, data: bytes,
              mime: str | None = None) -> MediationRecording:
    """Store one uploaded piece of a running recording (host only; a repeated piece is ignored)."""
    rec = _recording(session, participant, recording_id, host=True, for_update=True)
    if rec.status != RecordingStatus.RECORDING:
        raise Conflict(f"the recording is {rec.status}, not running")
    if not 0 <= seq <= 100_000:
        raise Invalid("chunk number out of range")
    if not data:
        raise Invalid("empty chunk")
    if len(data) > CHUNK_MAX_BYTES:
        raise Invalid(f"a chunk is at most {CHUNK_MAX_BYTES} bytes")
    if rec.size + len(data) > MAX_RECORDING_BYTES:
        raise Invalid("the recording is too large")
    inserted = session.execute(insert_for(session)(MediationRecordingChunk).values(
        recording_id=rec.id, seq=seq, data=data, created_at=utcnow()).on_conflict_do_nothing(
        index_elements=["recording_id", "seq"]).returning(MediationRecordingChunk.id)).scalar_one_or_none()
    if inserted is not None:
        rec.size += len(data)
    if mime and not rec.mime:
        rec.mime = mime.split(";")[0].strip().lower()[:80]
    session.flush()
    return rec


def do_finish(session: Session, *, participant: MediationParticipant, recording_id: int, now: datetime | None = None
              ) -> MediationRecording:
    """Stop a recording (host only) and queue its conversion and attachment to the case."""
    now = now or utcnow()
    rec = _recording(session, participant, recording_id, host=True, for_update=True)
    if rec.status == RecordingStatus.CONSENT:
        rec.status, rec.ended_at = RecordingStatus.DECLINED, now
    elif rec.status == RecordingStatus.RECORDING:
        rec.status, rec.ended_at = RecordingStatus.PROCESSING, now
        enqueue(session, "mediation.process_recording", recording_id=rec.id)
    session.flush()
    return rec


def list_recordings(session: Session, *, session_id: int) -> list[MediationRecording]:
    """List a session's recordings, oldest first."""
    return list(session.scalars(select(MediationRecording).where(MediationRecording.session_id == session_id)
                                .order_by(MediationRecording.id)))


# ---- conversion and transcript -----------------------------------------------------------------------------

def transcode_to_mp3(data: bytes, *, part_seconds: int = PART_SECONDS) -> tuple[list[bytes], float]:
    """Convert a recording (WebM/Ogg/anything PyAV reads) to mono MP3 parts; return them and the duration in seconds."""
    import av

    parts: list[bytes] = []
    state: dict = {}

    def open_part() -> None:
        buf = io.BytesIO()
        out = av.open(buf, "w", format="mp3")
        stream = out.add_stream("libmp3lame", rate=MP3_RATE)
        stream.layout, stream.bit_rate = "mono", MP3_BITRATE
        state.update(buf=buf, out=out, stream=stream, samples=0)

    def close_part() -> None:
        for packet in state["stream"].encode(None):
            state["out"].mux(packet)
        state["out"].close()
        if state["samples"]:
            parts.append(state["buf"].getvalue())

    total = 0
    try:
        with av.open(io.BytesIO(data)) as src:
            audio = next((s for s in src.streams if s.type == "audio"), None)
            if audio is None:
                raise Invalid("the recording has no audio")
            resampler = av.AudioResampler(format="s16p", layout="mono", rate=MP3_RATE)
            open_part()
            for frame in src.decode(audio):
                for piece in resampler.resample(frame):
                    if state["samples"] >= part_seconds * MP3_RATE:
                        close_part()
                        open_part()
                    piece.pts = None
                    for packet in state["stream"].encode(piece):
                        state["out"].mux(packet)
                    state["samples"] += piece.samples
                    total += piece.samples
            for piece in resampler.resample(None):
                piece.pts = None
                for packet in state["stream"].encode(piece):
                    state["out"].mux(packet)
                state["samples"] += piece.samples
                total += piece.samples
            close_part()
    except av.error.FFmpegError as exc:
        raise Invalid(f"the recording cannot be decoded: {exc}") from None
    return parts, total / MP3_RATE


def _actor_for(session: Session, ms: MediationSession) -> Actor:
    user = get_by_username(session, ms.host)
    return Actor.of(user) if user is not None else Actor(ms.host, Role.TRIAGE)


def process_recording(db: Database, recording_id: int) -> str:
    """Join a finished recording's chunks, convert them to MP3 and attach them to the case (idempotent)."""
    with db.transaction() as session:
        rec = session.scalar(select(MediationRecording).where(MediationRecording.id == recording_id).with_for_update())
        if rec is None or rec.status != RecordingStatus.PROCESSING:
            return rec.status if rec else "missing"
        chunks = list(session.scalars(select(MediationRecordingChunk.data).where(
            MediationRecordingChunk.recording_id == rec.id).order_by(MediationRecordingChunk.seq)))
        ms = session.get(MediationSession, rec.session_id)
        if not chunks:
            rec.status, rec.error = RecordingStatus.FAILED, "nothing was uploaded"
            return str(rec.status)
        try:
            parts, duration = transcode_to_mp3(b"".join(chunks))
        except Invalid as exc:
            rec.status, rec.error = RecordingStatus.FAILED, str(exc)[:2000]
            return str(rec.status)
        petition = petition_of(session, ms)
        actor = _actor_for(session, ms)
        stamp = (rec.started_at or rec.created_at).strftime("%Y%m%d-%H%M")
        ids = []
        for index, part in enumerate(parts, start=1):
            suffix = f"-{index}" if len(parts) > 1 else ""
            row = create_attachment(session, petition=petition, filename=f"调解录音-{ms.id}-{stamp}{suffix}.mp3",
                                    content_type="audio/mpeg", data=part, actor=actor)
            ids.append(row.id)
        rec.attachment_ids, rec.status = ids, RecordingStatus.ATTACHED
        session.execute(delete(MediationRecordingChunk).where(MediationRecordingChunk.recording_id == rec.id))
        audit.append(session, actor=actor.name, action="mediation_recording", petition_id=ms.petition_id,
                     data={"session_id": ms.id, "recording_id": rec.id, "attachment_ids": ids,
                           "duration_s": round(duration, 1), "consented": sorted(int(k) for k, v in rec.consents.items()
                                                                                 if v.get("agree"))})
        if get_settings().mediation_transcribe:
            rec.transcript_status = "pending"
            enqueue(session, "mediation.transcribe_recording", recording_id=rec.id)
        return str(rec.status)


_transcriber = None
_transcriber_lock = threading.Lock()


def get_transcriber():
    """Return the transcriber for mediation recordings: the phone channel's Whisper, allowed a recording part's length."""
    global _transcriber
    if _transcriber is None:
        with _transcriber_lock:
            if _transcriber is None:
                from channels.phone.transcriber import WhisperTranscriber

                settings = get_settings()
                _transcriber = WhisperTranscriber(settings.transcriber_model_dir,
                                                  english_model_dir=settings.transcriber_english_model_dir,
                                                  max_seconds=PART_SECONDS + 60)
    return _transcriber


def set_transcriber(transcriber) -> None:
    """Use this transcriber for recordings (None: load the configured Whisper model on next use)."""
    global _transcriber
    with _transcriber_lock:
        _transcriber = transcriber


def transcribe_recording(db: Database, recording_id: int) -> str:
    """Transcribe an attached recording and attach the text to the case as well (idempotent)."""
    import tempfile

    from cases.handling.models import CaseAttachment

    with db.session() as session:
        rec = session.get(MediationRecording, recording_id)
        if rec is None or rec.transcript_status != "pending":
            return rec.transcript_status if rec else "missing"
        audio = [session.get(CaseAttachment, aid).data for aid in rec.attachment_ids]
        language = "en" if petition_of(session, session.get(MediationSession, rec.session_id)).language == "en" else "zh"
    try:
        transcriber = get_transcriber()
    except (FileNotFoundError, ImportError) as exc:
        return _set_transcript(db, recording_id, "unavailable", None, str(exc))
    texts = []
    try:
        for data in audio:
            with tempfile.NamedTemporaryFile(suffix=".mp3") as handle:
                handle.write(data)
                handle.flush()
                texts.append(transcriber.transcribe(handle.name, language=language).text)
    except ValueError as exc:  # TranscriptionError: the audio cannot be decoded or is too long
        return _set_transcript(db, recording_id, "failed", None, str(exc))
    text = ("\n" if language == "zh" else "\n\n").join(t for t in texts if t).strip()
    return _set_transcript(db, recording_id, "done" if text else "empty", text, None)


def _set_transcript(db: Database, recording_id: int, status: str, text: str | None, error: str | None) -> str:
    with db.transaction() as session:
        rec = session.scalar(select(MediationRecording).where(MediationRecording.id == recording_id).with_for_update())
        if rec is None or rec.transcript_status != "pending":
            return rec.transcript_status if rec else "missing"
        rec.transcript_status, rec.transcript, rec.error = status, text, error
        if text:
            ms = session.get(MediationSession, rec.session_id)
            row = create_attachment(session, petition=petition_of(session, ms), filename=f"调解录音文字稿-{ms.id}-{rec.id}.txt",
                                    content_type="text/plain", data=text.encode("utf-8"), actor=_actor_for(session, ms))
            rec.attachment_ids = [*rec.attachment_ids, row.id]
        return status


def chunk_count(session: Session, *, recording_id: int) -> int:
    """Return how many chunks of a recording are stored."""
    return session.scalar(select(func.count()).where(MediationRecordingChunk.recording_id == recording_id)) or 0
