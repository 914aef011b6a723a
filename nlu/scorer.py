"""The category classifier's linear scorer, the softmax temperature that calibrates it, and its folds.

Margins become probabilities through a softmax whose temperature is picked on held-out margins from
cross-validation folds; texts that repeat stay in one fold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

TEMPERATURES = np.concatenate([np.arange(0.5, 5.0, 0.25), np.arange(5.0, 30.5, 1.0)])


def softmax(scores: np.ndarray) -> np.ndarray:
    """Return the row-wise softmax of scores."""
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class LinearScorer:
    """A linear one-vs-rest scorer over shared features: coefficients, intercepts, classes, temperature."""

    def __init__(self, classes: np.ndarray, coef: np.ndarray, intercept: np.ndarray, temperature: float = 5.0):
        self.classes = classes
        self.coef = coef
        self.intercept = intercept
        self.temperature = temperature

    @classmethod
    def train(cls, matrix, labels: np.ndarray, weights: np.ndarray, *, c: float, seed: int) -> LinearScorer:
        """Train a linear SVM on weighted rows; one class gives a constant scorer."""
        from sklearn.svm import LinearSVC

        classes = np.unique(labels)
        if len(classes) == 1:
            return cls(classes, np.zeros((1, matrix.shape[1]), np.float32), np.zeros(1, np.float32))
        svm = LinearSVC(C=c, random_state=seed).fit(matrix, labels, sample_weight=weights)
        coef, intercept = svm.coef_, svm.intercept_
        if len(classes) == 2:
            # scikit-learn keeps one margin for two classes, positive for the second.
            coef, intercept = np.vstack([-coef, coef]), np.concatenate([-intercept, intercept])
        return cls(classes, coef.astype(np.float32), intercept.astype(np.float32))

    def margins(self, matrix) -> np.ndarray:
        """Return each row's margin for each class."""
        return np.asarray(matrix @ self.coef.T) + self.intercept

    def probabilities(self, matrix) -> np.ndarray:
        """Return each row's class probabilities at the scorer's temperature."""
        if len(self.classes) == 1:
            return np.ones((matrix.shape[0], 1))
        return softmax(self.margins(matrix) * self.temperature)


def fold_groups(docs: Sequence[tuple[str, ...]]) -> np.ndarray:
    """Return a group id per document, the same for identical documents."""
    # The same text twice (a repeated title) must sit in one fold, or cross-validation grades memory.
    ids: dict[tuple[str, ...], int] = {}
    return np.array([ids.setdefault(d, len(ids)) for d in docs])


def split_folds(labels: np.ndarray, groups: np.ndarray, wanted: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return stratified group folds, fewer than wanted when the data is small and none below two."""
    from sklearn.model_selection import StratifiedGroupKFold

    smallest = int(np.unique(labels, return_counts=True)[1].min()) if len(labels) else 0
    k = min(wanted, smallest, len(np.unique(groups)))
    if k < 2:
        return []
    return list(StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels,
                                                                                          groups))


def best_temperature(margins: np.ndarray, truth: np.ndarray) -> float:
    """Return the temperature from TEMPERATURES with the lowest log loss on held-out margins."""
    losses = [-np.log(softmax(margins * t)[np.arange(len(truth)), truth] + 1e-12).mean() for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(losses))])
