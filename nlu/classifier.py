"""Petition category classifier: first-level category (and deeper levels where the labels have them).

The model is a linear SVM over ``nlu.features.FieldTfidf`` (character 1–3-grams, optionally jieba words, each
field of a message normalised on its own and summed), trained on title-only, body-only and
title-plus-body rows together; rows that carry several fields are weighted up because new petitions
look like them. Margins become probabilities through a softmax whose temperature is fitted on
cross-validation folds, and the same folds give the cross-validated metrics kept in the manifest.

Labels may be taxonomy paths ("城乡建设/城市建设和市政管理/燃气供应"). With ``levels`` above 1 a
child model is trained under each category whose rows carry a next-level label, and a prediction
walks down the tree, taking the most likely child at each level.

A model directory holds ``manifest.json`` plus numpy ``.npz`` arrays, read with
``allow_pickle=False``: loading a directory never runs code from it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from core.metrics import timed_model
from nlu.features import FieldTfidf
from nlu.metrics import evaluate
from nlu.scorer import LinearScorer, best_temperature, fold_groups, split_folds
from nlu.training_data import DataError, Row, as_fields, read_rows

# DataError, Row, read_rows and evaluate live in nlu.training_data and nlu.metrics; importers of this
# module keep getting them from here.
__all__ = ["MANIFEST", "MODEL_FORMAT", "MODEL_KIND", "CategoryClassifier", "ClassifierSettings", "DataError",
           "Prediction", "Row", "evaluate", "read_rows"]

MODEL_KIND = "petition-category-classifier"
MODEL_FORMAT = 1
MANIFEST = "manifest.json"
_FEATURES_FILE = "features.npz"
_NODES_FILE = "nodes.npz"


@dataclass(frozen=True)
class ClassifierSettings:
    """How a CategoryClassifier is trained; stored in the manifest."""

    char_ngrams: tuple[int, int] = (1, 3)
    # jieba words added nothing over character 1–3-grams (bench/classifier_cv.py, 5 folds: title+body 0.867 with
    # words, 0.871 without; titles 0.875 / 0.877; bodies 0.876 / 0.872) and cost most of the time: p50 / p95 per
    # petition on one core 5.9 / 14.0 ms with words, 2.3 / 4.4 ms without. Words stay available for other data.
    word_ngrams: tuple[int, int] | None = None
    min_df: int = 2
    # Cut each field here: a petition's topic is stated early (bench/classifier_cv.py: 3,000 scored 0.006
    # macro-F1 more on title+body folds, within their noise).
    max_chars: int = 1000
    # With word n-grams on, segment only this much of each field into words, the costliest step.
    word_max_chars: int = 500
    c: float = 3.0
    # Weight of rows with two or more non-empty fields (title and body), the shape of new petitions.
    joint_weight: float = 3.0
    levels: int = 1
    separator: str = "/"
    # Folds for the temperature and the cross-validated metrics; below 2 skips both (temperature 5).
    cv_folds: int = 5
    # A taxonomy node gets its own child model only with this many rows below it.
    min_child_rows: int = 10
    seed: int = 0

    def to_dict(self) -> dict:
        """Return the settings as JSON-ready values."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> ClassifierSettings:
        """Build settings from to_dict() output, refusing unknown keys."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise DataError(f"unknown classifier settings: {', '.join(sorted(unknown))}")
        values = dict(data)
        for key in ("char_ngrams", "word_ngrams"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(**values)


@dataclass(frozen=True)
class Prediction:
    """One petition's category: the full label path, its probability, and the first-level runners-up."""

    label: str
    confidence: float
    # The three most likely first-level categories with their probabilities, most likely first.
    top3: list[tuple[str, float]]
    # (label, probability given the parent) for each taxonomy level the model went down.
    path: tuple[tuple[str, float], ...] = ()

    def to_dict(self) -> dict:
        """Return the prediction as JSON-ready values."""
        return {"label": self.label, "confidence": self.confidence, "top3": [list(t) for t in self.top3],
                "path": [list(p) for p in self.path]}


def _data_hash(docs: Sequence[tuple[str, ...]], labels: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for doc, label in zip(docs, labels, strict=True):
        digest.update(json.dumps([list(doc), label], ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for package in ("numpy", "scipy", "scikit-learn", "jieba", "petition-intake"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


class CategoryClassifier:
    """Classify petition text into the category taxonomy; train, predict, save and load."""

    def __init__(self, settings: ClassifierSettings | None = None):
        self.settings = settings or ClassifierSettings()
        self.features: FieldTfidf | None = None
        # Taxonomy path of the parent ("" for the root) → the scorer over that node's children.
        self.nodes: dict[str, LinearScorer] = {}
        self.metrics: dict = {}
        self.info: dict = {}

    @property
    def classes(self) -> list[str]:
        """Return the first-level categories the model knows."""
        return [str(c) for c in self.nodes[""].classes] if "" in self.nodes else []

    def _new_features(self) -> FieldTfidf:
        s = self.settings
        return FieldTfidf(char_ngrams=s.char_ngrams, word_ngrams=s.word_ngrams, min_df=s.min_df, max_chars=s.max_chars,
                          word_max_chars=s.word_max_chars)

    def _weights(self, docs: Sequence[tuple[str, ...]]) -> np.ndarray:
        return np.array([self.settings.joint_weight if sum(1 for f in d if f.strip()) >= 2 else 1.0 for d in docs])

    def _train_node(self, matrix, labels: np.ndarray, weights: np.ndarray, docs, *,
                    refit_features: bool) -> tuple[LinearScorer, dict]:
        """Train one node; with folds, fit its temperature and measure it on held-out rows."""
        s = self.settings
        folds = split_folds(labels, fold_groups(docs), s.cv_folds, s.seed)
        node = LinearScorer.train(matrix, labels, weights, c=s.c, seed=s.seed)
        if not folds or len(node.classes) < 2:
            return node, {}
        held = np.zeros((len(labels), len(node.classes)))
        for train, test in folds:
            if refit_features:
                # The root refits its vocabulary per fold so that held-out text is truly unseen.
                features = self._new_features().fit([docs[i] for i in train])
                train_matrix, test_matrix = features.transform([docs[i] for i in train]), features.transform(
                    [docs[i] for i in test])
            else:
                train_matrix, test_matrix = matrix[train], matrix[test]
            part = LinearScorer.train(train_matrix, labels[train], weights[train], c=s.c, seed=s.seed)
            columns = np.searchsorted(node.classes, part.classes)
            scores = np.full((len(test), len(node.classes)), -10.0)
            scores[:, columns] = part.margins(test_matrix)
            held[test] = scores
        truth = np.searchsorted(node.classes, labels)
        multi = np.array([sum(1 for f in d if f.strip()) >= 2 for d in docs])
        # Margins of title-plus-body rows run larger than those of single fields; calibrate on the
        # shape new petitions have when there are enough of them.
        calibrate = multi if multi.sum() >= 100 else np.ones(len(labels), dtype=bool)
        node.temperature = best_temperature(held[calibrate], truth[calibrate])
        predicted = node.classes[held.argmax(axis=1)]
        report = evaluate(list(labels), list(predicted), labels=[str(c) for c in node.classes])
        report["folds"] = len(folds)
        for name, mask in (("single_field_rows", ~multi), ("multi_field_rows", multi)):
            if mask.any():
                sub = evaluate(list(labels[mask]), list(predicted[mask]))
                report[name] = {"n": sub["n"], "accuracy": sub["accuracy"], "macro_f1": sub["macro_f1"]}
        return node, report

    def fit(self, texts: Sequence[str | Sequence[str]], labels: Sequence[str], *, settings: ClassifierSettings | None = None,
            sources: dict | None = None) -> CategoryClassifier:
        """Train on texts (each a sequence of fields such as title and body, or a string) and their labels."""
        if settings is not None:
            self.settings = settings
        s = self.settings
        docs = [as_fields(t) for t in texts]
        if len(docs) != len(labels):
            raise DataError("texts and labels differ in length")
        keep = [i for i, d in enumerate(docs) if any(f.strip() for f in d) and labels[i] and labels[i].strip()]
        if not keep:
            raise DataError("no row has both text and a label")
        docs = [docs[i] for i in keep]
        paths = [tuple(p.strip() for p in labels[i].split(s.separator) if p.strip()) for i in keep]
        depth_seen = max(len(p) for p in paths)
        levels = max(1, min(s.levels, depth_seen))
        top = np.array([p[0] for p in paths])
        if len(np.unique(top)) < 2:
            raise DataError("training needs at least two categories")

        self.features = self._new_features().fit(docs)
        matrix = self.features.transform(docs)
        weights = self._weights(docs)
        self.nodes, self.metrics = {}, {}
        self.nodes[""], report = self._train_node(matrix, top, weights, docs, refit_features=True)
        if report:
            self.metrics["cv"] = report
        children: dict[str, dict] = {}
        for level in range(1, levels):
            parents = Counter(s.separator.join(p[:level]) for p in paths if len(p) > level)
            for parent, count in sorted(parents.items()):
                rows = [i for i, p in enumerate(paths) if len(p) > level and s.separator.join(p[:level]) == parent]
                child_labels = np.array([paths[i][level] for i in rows])
                if count < s.min_child_rows or len(np.unique(child_labels)) < 2:
                    continue
                node, report = self._train_node(matrix[rows], child_labels, weights[rows], [docs[i] for i in rows],
                                                refit_features=False)
                self.nodes[parent] = node
                children[parent] = {"classes": [str(c) for c in node.classes], "rows": count}
                if report:
                    children[parent]["cv"] = {k: report[k] for k in ("folds", "accuracy", "macro_f1", "n")}
        if children:
            self.metrics["children"] = children
        self.info = {
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "data": {"sha256": _data_hash(docs, [labels[i] for i in keep]), "rows": len(docs),
                     "rows_skipped": len(texts) - len(docs), "label_counts": dict(Counter(top.tolist()).most_common()),
                     "sources": sources or {}},
            "taxonomy": {"levels_seen": depth_seen, "levels_trained": levels,
                         "models_per_level": dict(Counter(str(len(p.split(s.separator)) + 1 if p else 1)
                                                         for p in self.nodes))},
        }
        return self

    def _require_fitted(self) -> None:
        if self.features is None or "" not in self.nodes:
            raise DataError("the classifier is not trained")

    @timed_model("classifier", "trained")
    def predict(self, texts: Sequence[str | Sequence[str]]) -> list[Prediction]:
        """Predict the category of each text: a sequence of fields (title, body) or a string, split at its first line break."""
        self._require_fitted()
        docs = [as_fields(t) for t in texts]
        if not docs:
            return []
        matrix = self.features.transform(docs)
        root = self.nodes[""]
        probs = root.probabilities(matrix)
        order = np.argsort(-probs, axis=1, kind="stable")
        paths: list[list[tuple[str, float]]] = [[(str(root.classes[o[0]]), float(p[o[0]]))] for p, o in zip(probs, order,
                                                                                                         strict=True)]
        sep = self.settings.separator
        # Walk down one level at a time, scoring all rows under the same parent in one batch.
        level = 1
        while True:
            pending: dict[str, list[int]] = {}
            for i, path in enumerate(paths):
                key = sep.join(label for label, _ in path)
                if len(path) == level and key in self.nodes:
                    pending.setdefault(key, []).append(i)
            if not pending:
                break
            for key, rows in pending.items():
                node = self.nodes[key]
                for i, p in zip(rows, node.probabilities(matrix[rows]), strict=True):
                    best = int(p.argmax())
                    paths[i].append((str(node.classes[best]), float(p[best])))
            level += 1
        out = []
        for path, p, o in zip(paths, probs, order, strict=True):
            top3 = [(str(root.classes[j]), float(p[j])) for j in o[:3]]
            out.append(Prediction(label=sep.join(label for label, _ in path), confidence=float(np.prod([q for _, q in path])),
                                  top3=top3, path=tuple(path)))
        return out

    def predict_one(self, text: str | Sequence[str]) -> Prediction:
        """Predict the category of one petition (a string, or its fields such as title and body)."""
        return self.predict([text])[0]

    def manifest(self) -> dict:
        """Return the manifest that save() writes."""
        self._require_fitted()
        nodes = [{"path": path, "key": f"n{i}", "classes": [str(c) for c in node.classes], "temperature": node.temperature}
                 for i, (path, node) in enumerate(self.nodes.items())]
        return {"kind": MODEL_KIND, "format": MODEL_FORMAT, "created_at": self.info.get("created_at"),
                "classes": self.classes, "settings": self.settings.to_dict(), "metrics": self.metrics,
                "versions": _versions(), "n_features": self.features.n_features, "nodes": nodes,
                **{k: v for k, v in self.info.items() if k != "created_at"}}

    def save(self, directory: str | Path) -> Path:
        """Write the manifest and arrays into directory (created if needed); return its manifest path."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        manifest = self.manifest()
        np.savez_compressed(directory / _FEATURES_FILE, **self.features.to_arrays())
        arrays = {}
        for entry, node in zip(manifest["nodes"], self.nodes.values(), strict=True):
            arrays[f"{entry['key']}_coef"] = node.coef
            arrays[f"{entry['key']}_intercept"] = node.intercept
        np.savez_compressed(directory / _NODES_FILE, **arrays)
        # The manifest goes last: a directory with a manifest is a complete model.
        target = directory / MANIFEST
        target.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        return target

    @classmethod
    def load(cls, directory: str | Path) -> CategoryClassifier:
        """Load a model directory written by save(); only its manifest and numpy arrays are read."""
        directory = Path(directory)
        path = directory / MANIFEST
        if not path.is_file():
            raise DataError(f"no model in {directory}: {MANIFEST} is missing")
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"{path}: not a valid manifest ({exc})") from exc
        if manifest.get("kind") != MODEL_KIND:
            raise DataError(f"{directory} holds no category classifier (kind {manifest.get('kind')!r})")
        if manifest.get("format") != MODEL_FORMAT:
            raise DataError(f"{directory}: model format {manifest.get('format')!r} is not supported (want {MODEL_FORMAT})")
        model = cls(ClassifierSettings.from_dict(manifest["settings"]))
        s = model.settings
        try:
            with np.load(directory / _FEATURES_FILE, allow_pickle=False) as arrays:
                model.features = FieldTfidf.from_arrays(arrays, char_ngrams=s.char_ngrams, word_ngrams=s.word_ngrams,
                                                        min_df=s.min_df, max_chars=s.max_chars,
                                                        word_max_chars=s.word_max_chars)
            with np.load(directory / _NODES_FILE, allow_pickle=False) as arrays:
                for entry in manifest["nodes"]:
                    coef = arrays[f"{entry['key']}_coef"]
                    intercept = arrays[f"{entry['key']}_intercept"]
                    if coef.shape != (len(entry["classes"]), model.features.n_features) or intercept.shape != (coef.shape[0],):
                        raise DataError(f"{directory}: node {entry['path']!r} does not match the features")
                    model.nodes[entry["path"]] = LinearScorer(np.array(entry["classes"]), coef, intercept,
                                                         float(entry["temperature"]))
        except (OSError, KeyError, ValueError) as exc:
            if isinstance(exc, DataError):
                raise
            raise DataError(f"{directory}: model files are missing or damaged ({exc})") from exc
        model.metrics = manifest.get("metrics", {})
        model.info = {k: manifest[k] for k in ("data", "taxonomy", "created_at") if k in manifest}
        return model
