"""The classifier's features: the numpy n-gram lookup gives exactly what the dictionary lookup gives."""

from __future__ import annotations

import random

import numpy as np
import pytest

from nlu import features
from nlu.features import FieldTfidf

ALPHABET = "物业小区停车收费噪音工地拖欠工资学校幼儿园！，。 AbcİΣß\x00😀𠀀"


def _texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 40))) for _ in range(n)]


@pytest.mark.parametrize("grams", [(1, 3), (2, 3), (1, 1), (1, 4)])
def test_keyed_lookup_matches_the_dictionary(grams):
    model = FieldTfidf(char_ngrams=grams, word_ngrams=None, min_df=1).fit([(t,) for t in _texts(200, 1)])
    vocabulary = model._vocabulary["char"]
    for text in _texts(200, 2) + [""]:
        expected = sorted(c for c in (vocabulary.get(g) for g in features._char_grams(text, *grams)) if c is not None)
        assert sorted(model._columns("char", vocabulary, text).tolist()) == expected, text


def test_refitting_rebuilds_the_lookup():
    model = FieldTfidf(word_ngrams=None, min_df=1).fit([("物业收费",)])
    first = model.transform([("物业",)])
    model.fit([("停车收费",), ("学校",)])
    again = model.transform([("停车",)])
    assert first.nnz > 0 and again.nnz > 0
    assert np.allclose(again.toarray(), FieldTfidf(word_ngrams=None, min_df=1).fit([("停车收费",), ("学校",)])
                       .transform([("停车",)]).toarray())
