"""Text normalisation and language detection, the first step for every message."""

from __future__ import annotations

import functools
import importlib.util
import re
import unicodedata
from pathlib import Path

# Characters that are also ordinary simplified characters with their own meaning (著名, 乾坤, 覆盖,
# 狼藉, 幺 for "one" in phone numbers, 哪吒, 大阪): mapping them would corrupt simplified text.
_AMBIGUOUS = frozenset("乾著覆藉幺吒阪屙")
# jionlp maps these to rare variant forms; the standard simplified forms are wanted.
_OVERRIDES = {"餘": "余", "鍾": "钟", "瀋": "沈"}
# Traditional words built on those ambiguous characters, common in petitions (答覆 = reply, 覆核 = review).
_EXTRA_WORDS = {"答覆": "答复", "回覆": "回复", "批覆": "批复", "覆核": "复核", "覆查": "复查", "覆議": "复议",
                "反覆": "反复", "乾淨": "干净", "乾燥": "干燥", "餅乾": "饼干", "著急": "着急", "藉口": "借口",
                "憑藉": "凭借", "睡著": "睡着"}
_EXTRA = re.compile("|".join(_EXTRA_WORDS))

_SPACE = re.compile(r"\s+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_LATIN = re.compile(r"[A-Za-z]")
_TRACKING = re.compile(r"XF[-_ ]?\d{8}[-_ ]?\d{6}", re.IGNORECASE)


def _dictionary_dir() -> Path:
    # jionlp is only a data source here: importing it is slow and prints a banner.
    spec = importlib.util.find_spec("jionlp")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("jionlp is not installed; it supplies the traditional-to-simplified tables")
    return Path(next(iter(spec.submodule_search_locations))) / "dictionary"


def _read_pairs(path: Path) -> list[tuple[str, str]]:
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) == 2 and parts[0] and parts[1]:
            pairs.append((parts[0], parts[1]))
    return pairs


@functools.cache
def _tables() -> tuple[dict[int, str], dict[str, list[tuple[str, str]]]]:
    folder = _dictionary_dir()
    chars = {t: s for t, s in _read_pairs(folder / "tra2sim_char.txt") if len(t) == 1 and t not in _AMBIGUOUS}
    chars.update(_OVERRIDES)
    # Only word entries written in traditional characters: the file also rewrites Taiwanese vocabulary
    # in simplified script (芝士 → 乾酪), which would mangle mainland text.
    words: dict[str, list[tuple[str, str]]] = {}
    for trad, simp in _read_pairs(folder / "tra2sim_word.txt"):
        if trad != simp and len(trad) > 1 and any(c in chars for c in trad):
            words.setdefault(trad[0], []).append((trad, simp))
    for trad, simp in _EXTRA_WORDS.items():
        words.setdefault(trad[0], []).append((trad, simp))
    for entries in words.values():
        entries.sort(key=lambda pair: -len(pair[0]))
    return {ord(t): s for t, s in chars.items()}, words


def to_simplified(text: str) -> str:
    """Convert traditional Chinese characters and words in text to simplified ones."""
    char_table, word_table = _tables()
    converted = text.translate(char_table)
    if converted == text and not _EXTRA.search(text):
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        for trad, simp in word_table.get(text[i], ()):
            if text.startswith(trad, i):
                out.append(simp)
                i += len(trad)
                break
        else:
            out.append(text[i].translate(char_table))
            i += 1
    return "".join(out)


def normalize(text: str) -> str:
    """Return text in NFKC (half-width) form, simplified, with whitespace collapsed and stripped."""
    text = unicodedata.normalize("NFKC", text or "")
    text = to_simplified(text)
    return _SPACE.sub(" ", text).strip()


def detect_language(text: str) -> str:
    """Return "zh" or "en" for text by its share of Chinese characters against Latin words."""
    text = _TRACKING.sub(" ", text or "")
    han = len(_HAN.findall(text))
    if han == 0:
        return "en" if _LATIN.search(text) else "zh"
    # One Chinese character carries about half of what an English word does; ties go to Chinese.
    return "en" if 2 * len(_LATIN_WORD.findall(text)) > han else "zh"
