"""Classification metrics for the category classifier's cross-validation, the CLI and the benches."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nlu.training_data import DataError


def evaluate(y_true: Sequence[str], y_pred: Sequence[str], *, labels: Sequence[str] | None = None) -> dict:
    """Return accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    if len(y_true) != len(y_pred):
        raise ValueError("y_true and y_pred differ in length")
    if not y_true:
        raise DataError("nothing to evaluate")
    seen = set(y_true) | set(y_pred)
    order = list(labels or []) + sorted(seen - set(labels or []))
    # Macro-F1 averages over the classes that occur (truly or predicted): a class absent from both
    # would add a meaningless 0/0.
    scored = [c for c in order if c in seen]
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=order, zero_division=0)
    per_class = {c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
                 for i, c in enumerate(order)}
    accuracy = float(np.mean([t == q for t, q in zip(y_true, y_pred, strict=True)]))
    return {"accuracy": accuracy, "macro_f1": float(np.mean([per_class[c]["f1"] for c in scored])),
            "n": len(y_true), "per_class": per_class,
            "confusion": {"labels": order, "matrix": confusion_matrix(y_true, y_pred, labels=order).tolist()}}
