"""Aho–Corasick multi-pattern matching: every lexicon term found in one pass over the text."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Hit:
    term: str
    start: int
    end: int


class Matcher:
    """An automaton over a fixed set of terms; ``find`` reports every occurrence, overlapping ones too."""

    def __init__(self, terms: list[str]):
        self._goto: list[dict[str, int]] = [{}]
        self._fail: list[int] = [0]
        self._out: list[list[str]] = [[]]
        for term in {t for t in terms if t}:
            self._add(term)
        self._link()

    def _add(self, term: str) -> None:
        node = 0
        for ch in term:
            nxt = self._goto[node].get(ch)
            if nxt is None:
                nxt = len(self._goto)
                self._goto.append({})
                self._fail.append(0)
                self._out.append([])
                self._goto[node][ch] = nxt
            node = nxt
        self._out[node].append(term)

    def _link(self) -> None:
        queue = deque(self._goto[0].values())
        while queue:
            node = queue.popleft()
            for ch, child in self._goto[node].items():
                queue.append(child)
                fail = self._fail[node]
                while fail and ch not in self._goto[fail]:
                    fail = self._fail[fail]
                target = self._goto[fail].get(ch, 0)
                self._fail[child] = target if target != child else 0
                # Invariant: a node's outputs include those of its failure chain.
                self._out[child] = self._out[child] + self._out[self._fail[child]]

    def find(self, text: str) -> list[Hit]:
        """Return every occurrence of every term in ``text``, by position."""
        hits, node = [], 0
        for i, ch in enumerate(text):
            while node and ch not in self._goto[node]:
                node = self._fail[node]
            node = self._goto[node].get(ch, 0)
            for term in self._out[node]:
                hits.append(Hit(term, i + 1 - len(term), i + 1))
        return sorted(hits, key=lambda h: (h.start, -h.end))
