"""Zero-shot category classification: compare a petition with label descriptions in embedding space.

What a new deployment gets on day one, before any labelled petition exists: each label is described
by its taxonomy names (Chinese and English), its sub-categories and the duty lists of the units that
handle it; a text goes to the label whose description segments it resembles most.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from core.metrics import timed_model
from nlu.embeddings import Embedder

# Cosines of one e5 model all fall within a narrow band (0.75–0.9); dividing by a small temperature
# spreads them into probabilities. 0.0075 gave the lowest log-loss on all three labelled Teddy Cup sets
# (mean confidence 0.6 against 0.65 accuracy); at 0.02 confidences sat near 0.3 whatever the answer.
TEMPERATURE = 0.0075
# A description is split into segments at line breaks and Chinese or English semicolons; one long
# embedding of everything a bureau does blurs it, separate segments each keep a sharp meaning.
# A label scores the mean of its best 3 segments: best of 1, 3 and 5 on two of the three sets.
_SEGMENT = re.compile(r"[\n；;]+")
TOP_SEGMENTS = 3


def segments(description: str) -> list[str]:
    """Split a label description into the segments that are embedded one by one."""
    return [s.strip() for s in _SEGMENT.split(description) if s.strip()]


class ZeroShotClassifier:
    """Nearest label description by cosine, with a softmax over labels for the confidence."""

    def __init__(self, embedder: Embedder, labels: dict[str, str], *, temperature: float = TEMPERATURE,
                 top_segments: int = TOP_SEGMENTS):
        if len(labels) < 2:
            raise ValueError("zero-shot classification needs at least two labels")
        self.embedder = embedder
        self.labels = list(labels)
        self.temperature = temperature
        self.top_segments = top_segments
        texts, owner = [], []
        for n, label in enumerate(self.labels):
            parts = segments(labels[label]) or [label]
            texts.extend(parts)
            owner.extend([n] * len(parts))
        self._owner = np.asarray(owner)
        # Label texts play the document; the petition is the query looking for it.
        self._segments = embedder.embed(texts, kind="passage")

    def label_scores(self, vectors: np.ndarray) -> np.ndarray:
        """Score query vectors against each label: the mean cosine of the label's best few segments."""
        cosines = np.asarray(vectors, dtype=np.float32) @ self._segments.T
        scores = np.empty((len(cosines), len(self.labels)), dtype=np.float32)
        for n in range(len(self.labels)):
            own = np.sort(cosines[:, self._owner == n], axis=1)[:, ::-1][:, : self.top_segments]
            scores[:, n] = own.mean(axis=1)
        return scores

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float, list[tuple[str, float]]]]:
        """Return (label, confidence, top 3 (label, probability)) for each text."""
        if not texts:
            return []
        return self.predict_vectors(self.embedder.embed(list(texts), kind="query"))

    # Timed without the embedding, which the embedder's own metric counts.
    @timed_model("classifier", "zero_shot")
    def predict_vectors(self, vectors: np.ndarray) -> list[tuple[str, float, list[tuple[str, float]]]]:
        """Classify texts already embedded by this embedder with kind="query" (as for the similar-case index)."""
        if not len(vectors):
            return []
        scores = self.label_scores(vectors) / self.temperature
        scores -= scores.max(axis=1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=1, keepdims=True)
        out = []
        for row in probs:
            order = np.argsort(-row)[:3]
            top = [(self.labels[i], float(row[i])) for i in order]
            out.append((top[0][0], top[0][1], top))
        return out


def label_descriptions(*, taxonomy: Iterable[Mapping[str, str]], units: Iterable[Mapping] = (),
                       labels: Iterable[str] | None = None) -> dict[str, str]:
    """Describe each first-level category from taxonomy rows and unit duty lists, one segment a line.

    taxonomy: rows with level1, level1_en, level2, level2_en, level3, level3_en (cases/data/taxonomy.csv).
    units: dicts with name, name_en, description, description_en and categories, a list of
    "level1" or "level1/level2" paths. labels: keep only these first-level categories.
    """
    wanted = set(labels) if labels is not None else None
    lines: dict[str, list[str]] = {}

    def add(label: str, text: str | None) -> None:
        if text and (wanted is None or label in wanted) and text not in lines.setdefault(label, []):
            lines[label].append(text)

    for row in taxonomy:
        top = row.get("level1") or ""
        if not top:
            continue
        add(top, top)
        add(top, row.get("level1_en"))
        for level in ("level2", "level3"):
            zh, en = row.get(level) or "", row.get(f"{level}_en") or ""
            if zh:
                # The parent's name keeps a bare sub-category (供水, 噪声) anchored to its domain.
                add(top, f"{top}：{zh}" + (f" ({en})" if en else ""))
    for unit in units:
        for path in unit.get("categories") or ():
            top, _, sub = str(path).partition("/")
            duty = f"{unit.get('name', '')}" + (f"（{sub}）" if sub else "") + f"：{unit.get('description', '')}"
            add(top, duty)
            if unit.get("description_en"):
                add(top, f"{unit.get('name_en', '')}: {unit['description_en']}")
    if wanted is not None and (missing := wanted - set(lines)):
        raise ValueError(f"no taxonomy rows describe {sorted(missing)}")
    return {label: "\n".join(parts) for label, parts in lines.items()}
