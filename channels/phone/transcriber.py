"""Speech to text behind one small interface, with a faster-whisper implementation that runs offline on CPU.

The model is loaded once per process (``get_transcriber``) from the folder ``petition models install``
assembles; an operator points ``PETITION_TRANSCRIBER_MODEL_DIR`` at a larger model to trade speed for
accuracy. Mandarin output is normalised to Simplified Chinese (Whisper writes 廣州 as often as 广州).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from core.metrics import timed_model
from core.settings import ROOT, get_settings
from nlu.normalize import normalize

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
# Whisper's own wording works better with a prompt in the script wanted: it steers it to Simplified and to punctuation.
ZH_PROMPT = "以下是普通话的句子，请使用简体中文。"
# Below these the audio is silence or line noise: Whisper would invent text ("谢谢观看") for it.
SILENT_PEAK = 0.01
SILENT_RMS = 0.002
# Languages the service answers in; language detection chooses among these only.
LANGUAGES = ("zh", "en")


@dataclass
class TranscriptResult:
    """What was said in one recording."""

    text: str
    language: str
    duration_s: float
    segments: list = field(default_factory=list)


class TranscriptionError(ValueError):
    """The audio cannot be transcribed; the message says why, in words fit for a log and an API answer."""


class RecordingTooLong(TranscriptionError):
    """The recording is longer than ``max_recording_seconds``."""

    def __init__(self, duration_s: float, limit_s: float):
        super().__init__(f"recording is {duration_s:.0f} s long; the limit is {limit_s:.0f} s")
        self.duration_s, self.limit_s = duration_s, limit_s


class Transcriber(Protocol):
    """Turn a recording into text."""

    def transcribe(self, path, *, language: str | None = None) -> TranscriptResult:
        """Transcribe the audio file at path; language None detects it (among Chinese and English)."""


def resolve_path(path: str | Path) -> Path:
    """Return a settings path as an absolute path (relative ones are under the project root)."""
    path = Path(path)
    return path if path.is_absolute() else ROOT / path


def probe_duration(path: str | Path) -> float | None:
    """Return the duration the file's container declares, in seconds, without decoding it (None if unknown)."""
    import av

    try:
        with av.open(str(path)) as container:
            if container.duration is not None:
                return container.duration / av.time_base
            stream = next(iter(container.streams.audio), None)
            if stream is not None and stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
    except (av.error.FFmpegError, OSError, StopIteration) as exc:
        raise TranscriptionError(f"unreadable audio: {type(exc).__name__}: {exc}") from None
    return None


def load_audio(path: str | Path, *, max_seconds: float | None = None):
    """Decode a file to 16 kHz mono float32, refusing one longer than max_seconds before decoding it whole."""
    from faster_whisper import decode_audio

    if not Path(path).is_file():
        raise TranscriptionError(f"no audio file at {path}")
    declared = probe_duration(path)
    if max_seconds is not None and declared is not None and declared > max_seconds + 0.5:
        raise RecordingTooLong(declared, max_seconds)
    try:
        audio = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    except Exception as exc:  # PyAV raises many kinds for a broken file
        raise TranscriptionError(f"unreadable audio: {type(exc).__name__}: {exc}") from None
    duration = len(audio) / SAMPLE_RATE
    if max_seconds is not None and duration > max_seconds + 0.5:
        raise RecordingTooLong(duration, max_seconds)
    return audio


def is_silent(audio) -> bool:
    """Tell whether decoded audio holds no speech worth transcribing (empty, or below the noise floor)."""
    import numpy as np

    if len(audio) < SAMPLE_RATE // 10:
        return True
    return float(np.max(np.abs(audio))) < SILENT_PEAK or float(np.sqrt(np.mean(audio ** 2))) < SILENT_RMS


class WhisperTranscriber:
    """faster-whisper on CPU (int8); an optional English-only model for English turns.

    ``max_seconds`` None follows ``max_recording_seconds`` in the settings at each call.
    """

    def __init__(self, model_dir: str | Path, *, english_model_dir: str | Path | None = None,
                 max_seconds: float | None = None, beam_size: int = 5, vad: bool = True, cpu_threads: int = 0):
        from faster_whisper import WhisperModel

        model_dir = resolve_path(model_dir)
        if not (model_dir / "model.bin").is_file():
            raise FileNotFoundError(f"no Whisper model in {model_dir}: run `petition models install` or set "
                                    "PETITION_TRANSCRIBER_MODEL_DIR")
        self.model_dir = model_dir
        self.model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=cpu_threads)
        self.english = None
        if english_model_dir:
            self.english = WhisperModel(str(resolve_path(english_model_dir)), device="cpu", compute_type="int8",
                                        cpu_threads=cpu_threads)
        self.max_seconds, self.beam_size, self.vad = max_seconds, beam_size, vad

    def detect_language(self, audio) -> str:
        """Return the likelier of the service's languages for this audio."""
        _, _, probabilities = self.model.detect_language(audio)
        scores = dict(probabilities)
        return max(LANGUAGES, key=lambda code: scores.get(code, 0.0))

    @timed_model("whisper", "faster_whisper")
    def transcribe(self, path, *, language: str | None = None) -> TranscriptResult:
        """Transcribe one recording; silence gives empty text, an over-long recording raises RecordingTooLong."""
        limit = self.max_seconds if self.max_seconds is not None else get_settings().max_recording_seconds
        audio = load_audio(path, max_seconds=limit)
        duration = round(len(audio) / SAMPLE_RATE, 3)
        if is_silent(audio):
            return TranscriptResult("", language or "zh", duration, [])
        language = language if language in LANGUAGES else self.detect_language(audio)
        model = self.english if language == "en" and self.english is not None else self.model
        options = {"language": language, "beam_size": self.beam_size, "vad_filter": self.vad,
                   "condition_on_previous_text": False}
        if language == "zh":
            options["initial_prompt"] = ZH_PROMPT
        pieces, _info = model.transcribe(audio, **options)
        segments = []
        for piece in pieces:
            text = normalize(piece.text)
            if text:
                segments.append({"start": round(piece.start, 2), "end": round(piece.end, 2), "text": text})
        joiner = " " if language == "en" else ""
        return TranscriptResult(joiner.join(s["text"] for s in segments).strip(), language, duration, segments)


_lock = threading.Lock()
_transcriber: Transcriber | None = None


def get_transcriber() -> Transcriber:
    """Return this process's transcriber, loading the model the first time."""
    global _transcriber
    if _transcriber is None:
        with _lock:
            if _transcriber is None:
                settings = get_settings()
                _transcriber = WhisperTranscriber(settings.transcriber_model_dir,
                                                  english_model_dir=settings.transcriber_english_model_dir)
                log.info("speech model loaded from %s", settings.transcriber_model_dir)
    return _transcriber


def set_transcriber(transcriber: Transcriber | None) -> None:
    """Use this transcriber in the process (None: load the configured one on next use)."""
    global _transcriber
    with _lock:
        _transcriber = transcriber
