"""The Aho–Corasick matcher against a brute-force search."""

from __future__ import annotations

import random

from risk.matcher import Matcher


def brute(terms, text):
    return sorted({(t, i, i + len(t)) for t in set(terms) if t for i in range(len(text)) if text.startswith(t, i)},
                  key=lambda h: (h[1], -h[2], h[0]))


def test_overlapping_and_nested_terms():
    m = Matcher(["跳楼", "楼", "集体上访", "上访", "he", "she", "hers"])
    hits = [(h.term, h.start, h.end) for h in m.find("要跳楼，还要集体上访 ushers")]
    assert ("跳楼", 1, 3) in hits and ("楼", 2, 3) in hits
    assert ("集体上访", 6, 10) in hits and ("上访", 8, 10) in hits
    assert {("she", 12, 15), ("he", 13, 15), ("hers", 13, 17)} <= set(hits)


def test_matches_brute_force_on_random_texts():
    rng = random.Random(7)
    alphabet = "访上集体楼跳ab"
    for _ in range(200):
        terms = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4))) for _ in range(rng.randint(1, 8))]
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        got = sorted(((h.term, h.start, h.end) for h in Matcher(terms).find(text)), key=lambda h: (h[1], -h[2], h[0]))
        assert got == brute(terms, text), (terms, text)


def test_empty():
    assert Matcher([]).find("任何文字") == [] and Matcher(["a"]).find("") == []
