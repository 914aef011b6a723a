"""Sparse TF-IDF features for petition text that keep a message's fields (title, body) apart.

A petition arrives as a short title and a long body, but most labelled data has only one of the two.
Each field is vectorised on its own (character n-grams, since Chinese has no spaces, plus jieba words),
L2-normalised, and the fields are summed: a 20-character title then weighs as much as a 400-character
body, and a title-only or body-only training row lands in the same space as a full message.

Everything a fitted featuriser holds is plain arrays (vocabulary strings, idf weights), so a model
directory is read with ``numpy.load(allow_pickle=False)`` and never runs code from the artefact.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from nlu.normalize import normalize

# Excel's escaped carriage return, left in text exported from xlsx cells.
_XLSX_CR = re.compile(r"_x000[dD]_")
_PUNCT_OR_SPACE = re.compile(r"^[\W_]+$")


def clean(text: str, *, max_chars: int = 0) -> str:
    """Return text normalised for the classifier (NFKC, simplified, xlsx escapes removed), cut to max_chars."""
    text = normalize(_XLSX_CR.sub(" ", text or ""))
    return text[:max_chars] if max_chars > 0 else text


@functools.cache
def _jieba():
    import jieba

    # jieba logs its dictionary build at DEBUG on its own logger; keep the CLI quiet.
    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


# Cross-validation refits the features on each fold; segmenting a text once is the slow part.
@functools.lru_cache(maxsize=65536)
def words(text: str) -> tuple[str, ...]:
    """Return the jieba words of text without punctuation and whitespace tokens."""
    return tuple(w for w in _jieba().lcut(text, HMM=False) if not _PUNCT_OR_SPACE.match(w))


def _char_grams(text: str, low: int, high: int) -> list[str]:
    text = text.lower()
    return [text[i:i + n] for n in range(low, high + 1) for i in range(len(text) - n + 1)]


# A code point (plus one, so that none is zero) fits in 21 bits: a 1-, 2- or 3-character n-gram is one int64 key,
# and keys of different lengths never collide (a bigram's key is at least 2**21, a trigram's at least 2**42).
_CODE_BITS = 21
_MAX_KEYED_N = 3


def _codes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64) + 1


def _window_keys(codes: np.ndarray, low: int, high: int) -> np.ndarray:
    """Return the key of every n-character window of codes, for n from low to high."""
    parts = []
    for n in range(low, high + 1):
        count = len(codes) - n + 1
        if count <= 0:
            continue
        keys = codes[:count].copy()
        for k in range(1, n):
            keys = (keys << _CODE_BITS) | codes[k:k + count]
        parts.append(keys)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _term_key(term: str) -> int:
    key = 0
    for char in term:
        key = (key << _CODE_BITS) | (ord(char) + 1)
    return key


class _CharIndex:
    """The character vocabulary as sorted int64 keys: a whole field's n-grams are looked up at once in numpy."""

    def __init__(self, vocabulary: dict[str, int]):
        keys = np.fromiter((_term_key(term) for term in vocabulary), dtype=np.int64, count=len(vocabulary))
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.columns = np.fromiter(vocabulary.values(), dtype=np.int64, count=len(vocabulary))[order]

    def columns_of(self, text: str, low: int, high: int) -> np.ndarray:
        """Return the column of every known n-gram occurrence of text (lower-cased, as the vocabulary was built)."""
        keys = _window_keys(_codes(text.lower()), low, high)
        if not len(keys) or not len(self.keys):
            return np.zeros(0, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return self.columns[at[self.keys[at] == keys]]


def _word_grams(text: str, low: int, high: int) -> list[str]:
    tokens = words(text)
    grams = list(tokens) if low == 1 else []
    for n in range(max(low, 2), high + 1):
        grams.extend(" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    return grams


class FieldTfidf:
    """Sublinear TF-IDF over character and word n-grams, each field normalised separately, then summed."""

    def __init__(self, *, char_ngrams: tuple[int, int] = (1, 3), word_ngrams: tuple[int, int] | None = (1, 1),
                 min_df: int = 2, max_chars: int = 3000, word_max_chars: int = 0):
        self.char_ngrams = tuple(char_ngrams)
        self.word_ngrams = tuple(word_ngrams) if word_ngrams else None
        self.min_df = min_df
        self.max_chars = max_chars
        # Word segmentation costs several times the character n-grams; 0 segments the whole field.
        self.word_max_chars = word_max_chars
        self._vocabulary: dict[str, dict[str, int]] = {}
        self._idf: dict[str, np.ndarray] = {}
        self._char_index: _CharIndex | None = None

    @property
    def kinds(self) -> tuple[str, ...]:
        """Return the n-gram kinds in use (char, and word when enabled)."""
        return ("char", "word") if self.word_ngrams else ("char",)

    @property
    def n_features(self) -> int:
        """Return the number of feature columns."""
        return sum(len(self._idf[k]) for k in self.kinds)

    def _grams(self, kind: str, text: str) -> list[str]:
        if kind == "char":
            return _char_grams(text, *self.char_ngrams)
        return _word_grams(text[:self.word_max_chars] if self.word_max_chars > 0 else text, *self.word_ngrams)

    def _fields(self, doc: Sequence[str]) -> list[str]:
        return [t for t in (clean(f, max_chars=self.max_chars) for f in doc) if t]

    def fit(self, docs: Sequence[Sequence[str]]) -> FieldTfidf:
        """Learn the vocabulary and idf weights from docs, each a sequence of field texts."""
        texts = [t for doc in docs for t in self._fields(doc)]
        if not texts:
            raise ValueError("no text to learn features from")
        # A tiny corpus (tests, a new taxonomy node) would lose every n-gram to min_df.
        min_df = self.min_df if len(texts) >= 20 * self.min_df else 1
        for kind in self.kinds:
            df: Counter[str] = Counter()
            for text in texts:
                df.update(set(self._grams(kind, text)))
            terms = sorted(t for t, n in df.items() if n >= min_df)
            self._vocabulary[kind] = {t: i for i, t in enumerate(terms)}
            counts = np.array([df[t] for t in terms], dtype=np.float64)
            self._idf[kind] = (np.log((1 + len(texts)) / (1 + counts)) + 1).astype(np.float32)
        self._index_chars()
        return self

    def _row(self, doc: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Return one doc's (column, weight) pairs; a column may repeat across fields and is summed later."""
        indices: list[np.ndarray] = []
        values: list[np.ndarray] = []
        offset = 0
        fields = self._fields(doc)
        for kind in self.kinds:
            vocabulary, idf = self._vocabulary[kind], self._idf[kind]
            for text in fields:
                found = self._columns(kind, vocabulary, text)
                if not len(found):
                    continue
                ids, tf = np.unique(found, return_counts=True)
                weights = (1 + np.log(tf)) * idf[ids]
                indices.append(ids + offset)
                values.append(weights / np.sqrt(weights @ weights))
            offset += len(idf)
        if not indices:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        return np.concatenate(indices), np.concatenate(values)

    def _index_chars(self) -> None:
        """Key the character vocabulary for numpy lookups (n-grams up to three characters fit one int64)."""
        keyed = self.char_ngrams[1] <= _MAX_KEYED_N
        self._char_index = _CharIndex(self._vocabulary["char"]) if keyed else None

    def _columns(self, kind: str, vocabulary: dict[str, int], text: str) -> np.ndarray:
        """Return the column of every known n-gram occurrence in one field."""
        if kind == "char" and self._char_index is not None:
            return self._char_index.columns_of(text, *self.char_ngrams)
        grams = self._grams(kind, text)
        found = np.fromiter(map(vocabulary.get, grams, itertools.repeat(-1)), dtype=np.int64, count=len(grams))
        return found[found >= 0]

    def transform(self, docs: Sequence[Sequence[str]]) -> sp.csr_matrix:
        """Return the L2-normalised feature rows of docs (sum of per-field normalised TF-IDF blocks)."""
        indptr = [0]
        columns: list[np.ndarray] = []
        values: list[np.ndarray] = []
        for doc in docs:
            row_columns, row_values = self._row(doc)
            # A column that several fields share is summed; np.unique also sorts the row's columns.
            unique, inverse = np.unique(row_columns, return_inverse=True)
            summed = np.bincount(inverse, weights=row_values, minlength=len(unique))
            norm = np.sqrt(summed @ summed)
            columns.append(unique)
            values.append(summed / norm if norm > 0 else summed)
            indptr.append(indptr[-1] + len(unique))
        shape = (len(docs), self.n_features)
        if not docs:
            return sp.csr_matrix(shape, dtype=np.float32)
        return sp.csr_matrix((np.concatenate(values).astype(np.float32), np.concatenate(columns), np.array(indptr)),
                             shape=shape)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Return the fitted state as plain arrays for numpy.savez."""
        out: dict[str, np.ndarray] = {}
        for kind in self.kinds:
            vocabulary = self._vocabulary[kind]
            out[f"{kind}_terms"] = np.array(sorted(vocabulary, key=vocabulary.get), dtype=str)
            out[f"{kind}_idf"] = self._idf[kind]
        return out

    @classmethod
    def from_arrays(cls, arrays, *, char_ngrams: tuple[int, int], word_ngrams: tuple[int, int] | None, min_df: int,
                    max_chars: int, word_max_chars: int = 0) -> FieldTfidf:
        """Rebuild a fitted featuriser from to_arrays() output."""
        self = cls(char_ngrams=char_ngrams, word_ngrams=word_ngrams, min_df=min_df, max_chars=max_chars,
                   word_max_chars=word_max_chars)
        for kind in self.kinds:
            terms = [str(t) for t in arrays[f"{kind}_terms"]]
            self._vocabulary[kind] = {t: i for i, t in enumerate(terms)}
            self._idf[kind] = np.asarray(arrays[f"{kind}_idf"], dtype=np.float32)
            if len(self._idf[kind]) != len(terms):
                raise ValueError(f"corrupt model: {kind} vocabulary and idf differ in length")
        self._index_chars()
        return self
