"""Speech to text on real clips: character error rate (Mandarin), word error rate (English), real-time factor.

Reads the clips and reference transcripts in ../shared/data/speech (see its SOURCE.md), runs the
phone channel's transcriber on each and prints one line per clip. The real-time factor is transcription
time over audio duration (below 1 is faster than real time); the model load is reported apart.

    .venv/bin/python bench/speech.py
    .venv/bin/python bench/speech.py --model-dir models/whisper-base --no-vad --beam 1
    .venv/bin/python bench/speech.py --english-model-dir models/whisper-tiny-en
    .venv/bin/python bench/speech.py --telephone     # as a phone line carries it: 8 kHz, 16-bit mono WAV
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The tests load this file by path for its CER / WER scoring: make its helper module importable then too.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import save_results  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "speech"
_PUNCT = re.compile(r"[^\w\s']|_", re.UNICODE)


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Return the Levenshtein distance between two token sequences."""
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return previous[-1]


def chinese_chars(text: str) -> list[str]:
    """Return the characters scored for CER: simplified, without punctuation or spaces."""
    from nlu.normalize import to_simplified

    text = to_simplified(unicodedata.normalize("NFKC", text))
    return [c for c in _PUNCT.sub("", text) if not c.isspace()]


def english_words(text: str) -> list[str]:
    """Return the words scored for WER: lower case, without punctuation."""
    text = unicodedata.normalize("NFKC", text).lower().replace("-", " ")
    return _PUNCT.sub(" ", text).split()


def cer(reference: str, hypothesis: str) -> float:
    """Return the character error rate of a Mandarin transcript."""
    ref = chinese_chars(reference)
    return edit_distance(ref, chinese_chars(hypothesis)) / max(1, len(ref))


def wer(reference: str, hypothesis: str) -> float:
    """Return the word error rate of an English transcript."""
    ref = english_words(reference)
    return edit_distance(ref, english_words(hypothesis)) / max(1, len(ref))


def clips(data: Path = DATA) -> list[dict]:
    """Return the rows of transcripts.tsv (file, language, reference, source, reference_kind)."""
    with (data / "transcripts.tsv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def score(row: dict, text: str) -> tuple[str, float]:
    """Return the metric name and value for a clip's transcript."""
    if row["language"] == "zh":
        return "CER", cer(row["reference"], text)
    reference = row["reference"].split("||")[0]
    if "+" in row["language"]:
        # Only the English part of a mixed clip has a reference worth scoring against; the rest is model output.
        text = " ".join(english_words(text)[: len(english_words(reference))])
    return "WER", wer(reference, text)


def as_telephone(path: Path, folder: Path) -> Path:
    """Write the clip as Twilio records a call (8 kHz, 16-bit, mono WAV) and return the new file."""
    import wave

    import numpy as np
    from faster_whisper import decode_audio

    samples = decode_audio(str(path), sampling_rate=8000)
    target = folder / (path.stem + ".8k.wav")
    with wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--model-dir", default="models/whisper-base")
    parser.add_argument("--english-model-dir", default=None)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--no-vad", action="store_true")
    parser.add_argument("--detect", action="store_true", help="let the model detect the language (default: tell it)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for CTranslate2 (0: its default)")
    parser.add_argument("--telephone", action="store_true", help="down-sample each clip to 8 kHz first, as a call is")
    args = parser.parse_args()
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="bench-speech-"))

    from channels.phone.transcriber import WhisperTranscriber

    started = time.perf_counter()
    transcriber = WhisperTranscriber(args.model_dir, english_model_dir=args.english_model_dir, max_seconds=600,
                                     beam_size=args.beam, vad=not args.no_vad, cpu_threads=args.threads)
    load_s = time.perf_counter() - started
    per_clip = []
    print(f"model {args.model_dir} loaded in {time.perf_counter() - started:.2f} s (beam {args.beam}, "
          f"vad {'off' if args.no_vad else 'on'}, language {'detected' if args.detect else 'given'}, "
          f"audio {'8 kHz telephone' if args.telephone else 'as recorded'})")
    totals: dict[str, list[float]] = {"CER": [], "WER": []}
    audio_s = work_s = 0.0
    print(f"{'clip':52} {'lang':5} {'metric':>6} {'dur s':>6} {'time s':>6} {'RTF':>5}  transcript")
    for row in clips(args.data):
        language = None if args.detect else row["language"].split("+")[0]
        path = as_telephone(args.data / row["file"], scratch) if args.telephone else args.data / row["file"]
        started = time.perf_counter()
        result = transcriber.transcribe(path, language=language)
        elapsed = time.perf_counter() - started
        metric, value = score(row, result.text)
        mixed = "+" in row["language"]
        if not mixed:
            totals[metric].append(value)
        audio_s, work_s = audio_s + result.duration_s, work_s + elapsed
        label = f"{metric} {value:.3f}" + ("*" if mixed else "")
        per_clip.append({"file": row["file"], "language": result.language, "metric": metric, "value": round(value, 4),
                         "mixed": mixed, "duration_s": round(result.duration_s, 2), "seconds": round(elapsed, 2),
                         "transcript": result.text})
        print(f"{row['file']:52} {result.language:5} {label:>10} {result.duration_s:6.1f} {elapsed:6.2f} "
              f"{elapsed / result.duration_s:5.2f}  {result.text[:80]}")
    for metric, values in totals.items():
        if values:
            print(f"mean {metric}: {sum(values) / len(values):.3f} over {len(values)} clips")
    print(f"overall RTF: {work_s / audio_s:.2f} ({work_s:.1f} s for {audio_s:.1f} s of audio)")
    print("* mixed-language clip: its reference is whisper-tiny output; scored on the English part only, not in the mean")
    save_results("speech" + ("_telephone" if args.telephone else ""), {
        "args": {k: str(v) for k, v in vars(args).items()}, "model_load_s": round(load_s, 2),
        "mean": {metric: sum(values) / len(values) for metric, values in totals.items() if values},
        "rtf": work_s / audio_s, "audio_s": round(audio_s, 1), "clips": per_clip})


if __name__ == "__main__":
    main()
