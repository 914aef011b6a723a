"""The similar-case index: vectors of petitions keyed by their integer ids, persisted under a directory.

No database here: callers embed petitions and hand over (id, vector) pairs. The faiss index holds
rows in the order they were added; a side array maps each row to its petition id. Removing or
replacing a petition marks its old row dead, and searches skip dead rows through a faiss selector,
so every kind (even HNSW, which cannot delete) supports removal the same way. Dead rows are
dropped when they pass a quarter of the index (``compact``), and on save when they pass a tenth.

Kinds, from the million-vector benchmark (bench/retrieval.py; 384 dimensions, 2 busy cores):
"flat" is exact inner-product search and the default; at 1M vectors (1.5 GB) one query takes
~0.4 s alone (15 ms each when batched), fine up to a few hundred thousand petitions. "ivf" (up to
1024 lists, 32 probed) found 99.4% of the exact top 10 in 8 ms per query with the same memory,
built in 15 s: the kind for a large index. It trains on the first batch it sees, so an IVF index
grown from nothing should be rebuilt once it is large. "hnsw" (M=32, efSearch=64) matched that recall
in 0.35 ms but took 6.4 minutes to build and 260 MB more; its compactions and delta replays on load
re-insert rows into the graph, so it suits a large index that changes little.

On disk: ``manifest.json`` (format, embedder name, dimension, kind, counts, file names) beside the
snapshot (a faiss file and its row-to-id array) and the deltas saved since (rows added and killed).
Save writes new files under fresh names, then swaps the manifest with an atomic rename, so a reader
sees the old index or the new one, never half of each.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import faiss
import numpy as np

FORMAT = 1
KINDS = ("flat", "hnsw", "ivf")
MANIFEST = "manifest.json"
LOCK = ".lock"
# Tuned on the million-vector benchmark (bench/retrieval.py): recall@10 against exact search 0.994 for both.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 40
HNSW_EF_SEARCH = 64
IVF_NPROBE = 32
IVF_MAX_LISTS = 1024
# faiss's k-means wants about 39 training points per list; below that it warns and clusters poorly.
# More than 64 per list buys little and costs minutes (k-means is points × lists × dimension per step).
IVF_POINTS_PER_LIST = 39
IVF_TRAIN_PER_LIST = 64
COMPACT_SHARE = 0.25
# Deltas are replayed on load (an HNSW graph re-inserts their rows), so they stay small.
DELTA_SHARE = 0.10
MAX_DELTAS = 1000
_DATA_PREFIXES = ("ids-", "index-", "delta-")
SAVE_COMPACT_SHARE = 0.10


class IndexMismatchError(ValueError):
    """An index on disk that was built for another embedder, dimension or format."""


def _ivf_lists(n: int) -> int:
    # About 4·√n lists (faiss's guideline), at most 1024 (the 1M benchmark: recall and speed hold, training
    # stays in seconds), never more than the points can train.
    return int(max(1, min(IVF_MAX_LISTS, 4 * np.sqrt(max(n, 1)), n // IVF_POINTS_PER_LIST)))


def _as_matrix(vectors: np.ndarray, dim: int) -> np.ndarray:
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    if matrix.ndim != 2 or matrix.shape[1] != dim:
        raise ValueError(f"expected vectors of shape (n, {dim}), got {np.shape(vectors)}")
    return matrix


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


class VectorIndex:
    """Vectors keyed by integer petition ids; inner-product search over L2-normalised rows (cosine)."""

    def __init__(self, *, embedder_name: str, dim: int, kind: str, faiss_index, row_ids: np.ndarray,
                 alive: np.ndarray, params: dict | None = None):
        self.embedder_name = embedder_name
        self.dim = dim
        self.kind = kind
        self.params = dict(params or {})
        self._index = faiss_index
        self._row_ids = row_ids
        self._alive = alive
        self._row_of = {int(i): r for r, i in enumerate(row_ids.tolist()) if alive[r]}
        # faiss may search concurrently, but not while rows are added; one lock keeps it simple.
        self._lock = threading.RLock()
        # What is on disk: the snapshot (faiss file) these rows are numbered against, how many rows the
        # snapshot and its deltas hold, and the rows killed since. None: no snapshot matches the rows.
        self._snapshot: str | None = None
        self._saved_rows = 0
        self._killed: list[int] = []
        # The delta files on disk that these rows already include (in the manifest's order).
        self._deltas: list[str] = []

    @classmethod
    def create(cls, *, embedder_name: str, dim: int, kind: str = "flat") -> VectorIndex:
        """Create an empty index of kind "flat" (exact), "hnsw" or "ivf" (approximate)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        if dim <= 0:
            raise ValueError(f"dim must be positive, not {dim}")
        params: dict = {}
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            params = {"M": HNSW_M, "efSearch": HNSW_EF_SEARCH}
        else:
            index = None  # an IVF index needs its lists trained; that happens on the first add
            params = {"nprobe": IVF_NPROBE}
        return cls(embedder_name=embedder_name, dim=dim, kind=kind, faiss_index=index,
                   row_ids=np.zeros(0, dtype=np.int64), alive=np.zeros(0, dtype=bool), params=params)

    @classmethod
    def rebuild(cls, batches: Iterable[tuple[Sequence[int], np.ndarray]], *, embedder_name: str, dim: int,
                kind: str = "flat", train_size: int = 200_000) -> VectorIndex:
        """Build a fresh index from (ids, vectors) batches, e.g. every petition read page by page."""
        index = cls.create(embedder_name=embedder_name, dim=dim, kind=kind)
        pending_ids: list[int] = []
        pending: list[np.ndarray] = []
        for ids, vectors in batches:
            if kind == "ivf" and index._index is None:
                # Hold batches back until there are enough to train the lists well.
                pending_ids.extend(int(i) for i in ids)
                pending.append(_as_matrix(vectors, dim))
                if len(pending_ids) >= train_size:
                    index.add(pending_ids, np.vstack(pending))
                    pending_ids, pending = [], []
            else:
                index.add(ids, vectors)
        if pending_ids:
            index.add(pending_ids, np.vstack(pending))
        return index

    def __len__(self) -> int:
        return len(self._row_of)

    def __contains__(self, petition_id: object) -> bool:
        return isinstance(petition_id, int | np.integer) and int(petition_id) in self._row_of

    def ids(self) -> list[int]:
        """List the ids in the index, in the order they were added."""
        with self._lock:
            return self._row_ids[self._alive].tolist()

    def _train_ivf(self, vectors: np.ndarray) -> None:
        nlist = _ivf_lists(len(vectors))
        quantizer = faiss.IndexFlatIP(self.dim)
        index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        if len(vectors) > IVF_TRAIN_PER_LIST * nlist:
            vectors = vectors[np.random.default_rng(0).choice(len(vectors), IVF_TRAIN_PER_LIST * nlist, replace=False)]
        index.train(vectors)
        index.nprobe = min(self.params.get("nprobe", IVF_NPROBE), nlist)
        self._index = index
        self.params["nlist"] = nlist
        self._snapshot = None

    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Add vectors under ids; an id already present is replaced."""
        matrix = _as_matrix(vectors, self.dim)
        ids = [int(i) for i in ids]
        if len(ids) != len(matrix):
            raise ValueError(f"{len(ids)} ids for {len(matrix)} vectors")
        if any(i < 0 for i in ids):
            raise ValueError("petition ids must not be negative (-1 marks a removed row on disk)")
        if not ids:
            return
        # Within one call the last vector given for an id wins, as if added one by one.
        last = {i: n for n, i in enumerate(ids)}
        if len(last) != len(ids):
            keep = sorted(last.values())
            ids, matrix = [ids[n] for n in keep], matrix[keep]
        with self._lock:
            self._kill([i for i in ids if i in self._row_of])
            if self._index is None:
                self._train_ivf(matrix)
            start = len(self._row_ids)
            self._index.add(matrix)
            self._row_ids = np.concatenate([self._row_ids, np.asarray(ids, dtype=np.int64)])
            self._alive = np.concatenate([self._alive, np.ones(len(ids), dtype=bool)])
            self._row_of.update((i, start + n) for n, i in enumerate(ids))
            self._maybe_compact(COMPACT_SHARE)

    def remove(self, ids: Sequence[int]) -> None:
        """Remove ids from the index; ids not in it are ignored."""
        with self._lock:
            self._kill([int(i) for i in ids if int(i) in self._row_of])
            self._maybe_compact(COMPACT_SHARE)

    def _kill(self, ids: list[int]) -> None:
        for i in ids:
            row = self._row_of.pop(i)
            self._alive[row] = False
            self._killed.append(row)

    @property
    def dead_rows(self) -> int:
        """Count the rows that removals and replacements left behind until the next compaction."""
        return len(self._row_ids) - len(self._row_of)

    def _maybe_compact(self, share: float) -> None:
        # A few dead rows cost nothing; rebuilding for them would (an HNSW graph takes minutes at 1M).
        if self.dead_rows > max(64, share * len(self._row_ids)):
            self.compact()

    def compact(self) -> None:
        """Rebuild the faiss index from the live rows only."""
        with self._lock:
            if not self.dead_rows:
                return
            live = np.flatnonzero(self._alive)
            vectors = self._vectors(live)
            ids = self._row_ids[live]
            fresh = VectorIndex.create(embedder_name=self.embedder_name, dim=self.dim, kind=self.kind)
            fresh.params.update({k: v for k, v in self.params.items() if k in ("efSearch", "nprobe")})
            if len(ids):
                fresh.add(ids.tolist(), vectors)
            self._index, self._row_ids, self._alive = fresh._index, fresh._row_ids, fresh._alive
            self._row_of, self.params = fresh._row_of, fresh.params
            self._snapshot, self._killed = None, []  # rows are renumbered: the next save writes a snapshot

    def _vectors(self, rows: np.ndarray) -> np.ndarray:
        if self._index is None or not len(rows):
            return np.zeros((0, self.dim), dtype=np.float32)
        if isinstance(self._index, faiss.IndexIVF):
            # IVF keeps vectors in its lists; a direct map from row to list entry makes them reachable.
            self._index.make_direct_map()
        return np.vstack([self._index.reconstruct(int(r)) for r in rows]) if len(rows) < 1024 else \
            self._index.reconstruct_n(0, self._index.ntotal)[rows]

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """Return the stored vectors of ids (KeyError for an id not in the index)."""
        with self._lock:
            rows = np.array([self._row_of[int(i)] for i in ids], dtype=np.int64)
            return self._vectors(rows)

    def _search_params(self):
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW()
            params.efSearch = int(self.params.get("efSearch", HNSW_EF_SEARCH))
        elif self.kind == "ivf":
            params = faiss.SearchParametersIVF()
            params.nprobe = int(min(self.params.get("nprobe", IVF_NPROBE), self._index.nlist))
        else:
            params = faiss.SearchParameters()
        return params

    def search(self, vectors: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
        """Return, for each query vector, up to k (id, score) pairs, best first."""
        matrix = _as_matrix(vectors, self.dim)
        with self._lock:
            if not self._row_of or k <= 0:
                return [[] for _ in range(len(matrix))]
            k = min(k, len(self._row_ids))
            params = self._search_params() if self.kind != "flat" or self.dead_rows else None
            bitmap = None
            if self.dead_rows:
                # The selector reads the bitmap during the search; `bitmap` keeps it alive until then.
                bitmap = np.packbits(self._alive, bitorder="little")
                params.sel = faiss.IDSelectorBitmap(len(self._alive), faiss.swig_ptr(bitmap))
            scores, rows = self._index.search(matrix, k, params=params)
            del bitmap
            return [[(int(self._row_ids[r]), float(s)) for r, s in zip(row_hits, row_scores, strict=True) if r >= 0]
                    for row_hits, row_scores in zip(rows, scores, strict=True)]

    def save(self, directory: str | Path) -> None:
        """Write the index under directory atomically: new files first, then the manifest swap.

        A small change since the last save goes into a delta file (the rows added and killed since)
        instead of a new snapshot, so saving after every registered petition costs the change, not
        the whole index; a snapshot is written when the deltas pass a tenth of it.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._maybe_compact(SAVE_COMPACT_SHARE)
            previous = _read_manifest(directory) if (directory / MANIFEST).exists() else None
            token = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
            files = self._write_delta(directory, token, previous) if self._delta_fits(previous) else None
            if files is None:
                files = self._write_snapshot(directory, token)
            self._saved_rows, self._killed = len(self._row_ids), []
            self._deltas = list(files.get("deltas", []))
            manifest = {"format": FORMAT, "embedder": self.embedder_name, "dim": self.dim, "kind": self.kind,
                        "count": len(self), "rows": len(self._row_ids), "params": self.params, "files": files,
                        "faiss_version": faiss.__version__, "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            tmp = directory / f".{MANIFEST}.tmp"
            _fsync_write(tmp, json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8"))
            os.replace(tmp, directory / MANIFEST)
        # Keep the previous generation: a reader that read the old manifest may still be opening its files.
        keep = {MANIFEST, *_file_names(files), *_file_names(previous["files"] if previous else {})}
        for path in directory.iterdir():
            if path.name not in keep and (path.name.startswith(_DATA_PREFIXES) or path.name.endswith(".tmp")):
                path.unlink(missing_ok=True)

    def _delta_fits(self, previous: dict | None) -> bool:
        if not previous or self._snapshot is None or previous["files"].get("faiss") != self._snapshot:
            return False  # no snapshot on disk that these rows are numbered against
        if previous.get("rows") != self._saved_rows:
            return False  # someone else saved into the directory since
        snapshot_rows = previous["files"].get("snapshot_rows", previous["rows"])
        deltas = previous["files"].get("deltas", [])
        return len(deltas) < MAX_DELTAS and len(self._row_ids) - snapshot_rows <= DELTA_SHARE * max(snapshot_rows, 1)

    def _write_delta(self, directory: Path, token: str, previous: dict) -> dict:
        name = f"delta-{token}.npz"
        start = self._saved_rows
        tmp = directory / f".{name}.tmp"
        with open(tmp, "wb") as fh:
            np.savez(fh, start=np.int64(start), ids=self._row_ids[start:], killed=np.asarray(self._killed, dtype=np.int64),
                     vectors=self._vectors(np.arange(start, len(self._row_ids))))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, directory / name)
        files = dict(previous["files"])
        files["deltas"] = [*files.get("deltas", []), name]
        files["snapshot_rows"] = previous["files"].get("snapshot_rows", previous["rows"])
        return files

    def _write_snapshot(self, directory: Path, token: str) -> dict:
        files = {"ids": f"ids-{token}.npy", "faiss": f"index-{token}.faiss" if self._index is not None else None,
                 "deltas": [], "snapshot_rows": len(self._row_ids)}
        tmp = directory / f".{files['ids']}.tmp"
        with open(tmp, "wb") as fh:
            np.save(fh, np.where(self._alive, self._row_ids, np.int64(-1)))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, directory / files["ids"])
        if files["faiss"]:
            tmp = directory / f".{files['faiss']}.tmp"
            _fsync_write(tmp, faiss.serialize_index(self._index).tobytes())
            os.replace(tmp, directory / files["faiss"])
        self._snapshot = files["faiss"]
        return files

    @classmethod
    def load(cls, directory: str | Path, *, embedder_name: str) -> VectorIndex:
        """Read an index from directory; refuse one built with another embedder."""
        directory = Path(directory)
        manifest = _read_manifest(directory)
        if manifest.get("format") != FORMAT:
            raise IndexMismatchError(f"{directory}: index format {manifest.get('format')!r}, this code reads {FORMAT}")
        if manifest.get("embedder") != embedder_name:
            raise IndexMismatchError(f"{directory}: index was built with embedder {manifest.get('embedder')!r}, "
                                     f"not {embedder_name!r}; rebuild it (petition index rebuild)")
        dim, kind, files = int(manifest["dim"]), manifest["kind"], manifest["files"]
        if kind not in KINDS:
            raise IndexMismatchError(f"{directory}: unknown index kind {kind!r}")
        stored = np.load(directory / files["ids"]).astype(np.int64)
        faiss_index = None
        if files.get("faiss"):
            faiss_index = faiss.deserialize_index(np.fromfile(directory / files["faiss"], dtype=np.uint8))
            if faiss_index.d != dim or faiss_index.ntotal != len(stored):
                raise IndexMismatchError(f"{directory}: faiss file holds {faiss_index.ntotal}×{faiss_index.d}, "
                                         f"manifest says {len(stored)}×{dim}")
        alive = stored >= 0
        for name in files.get("deltas", []):
            with np.load(directory / name) as delta:
                if int(delta["start"]) != len(stored):
                    raise IndexMismatchError(f"{directory}: {name} starts at row {int(delta['start'])}, not {len(stored)}")
                # Rows first: a delta may kill a row it adds itself (added, then replaced before the save).
                if len(delta["ids"]):
                    faiss_index.add(np.ascontiguousarray(delta["vectors"], dtype=np.float32))
                stored = np.concatenate([stored, delta["ids"]])
                alive = np.concatenate([alive, np.ones(len(delta["ids"]), dtype=bool)])
                alive[delta["killed"]] = False
        index = cls(embedder_name=embedder_name, dim=dim, kind=kind, faiss_index=faiss_index,
                    row_ids=stored, alive=alive, params=manifest.get("params"))
        index._snapshot, index._saved_rows = files.get("faiss"), len(stored)
        index._deltas = list(files.get("deltas", []))
        return index

    def catch_up(self, directory: str | Path) -> bool:
        """Apply the deltas another process saved on top of the snapshot these rows came from.

        Returns False (nothing changed) when that is not possible — another snapshot, rows added here and
        not saved, a compaction — and the caller must load the index afresh. Caller holds the directory lock.
        """
        directory = Path(directory)
        files = _read_manifest(directory)["files"]
        deltas = list(files.get("deltas", []))
        with self._lock:
            if (self._index is None or self._snapshot is None or files.get("faiss") != self._snapshot
                    or deltas[:len(self._deltas)] != self._deltas or self._killed
                    or self._saved_rows != len(self._row_ids)):
                return False
            loaded = []
            start = len(self._row_ids)
            for name in deltas[len(self._deltas):]:
                with np.load(directory / name) as delta:
                    if int(delta["start"]) != start:
                        return False
                    loaded.append((np.asarray(delta["ids"], dtype=np.int64), np.asarray(delta["killed"], dtype=np.int64),
                                   np.ascontiguousarray(delta["vectors"], dtype=np.float32)))
                    start += len(loaded[-1][0])
            for ids, killed, vectors in loaded:
                first = len(self._row_ids)
                if len(ids):
                    self._index.add(vectors)
                self._row_ids = np.concatenate([self._row_ids, ids])
                self._alive = np.concatenate([self._alive, np.ones(len(ids), dtype=bool)])
                self._row_of.update((int(i), first + n) for n, i in enumerate(ids.tolist()))
                for row in killed.tolist():
                    self._alive[row] = False
                    pid = int(self._row_ids[row])
                    if self._row_of.get(pid) == row:
                        del self._row_of[pid]
            self._deltas, self._saved_rows = deltas, len(self._row_ids)
            return True


@contextlib.contextmanager
def directory_lock(directory: str | Path, *, shared: bool = False) -> Iterator[None]:
    """Hold the index directory's lock across processes: shared to read, exclusive to update and save.

    Several processes (worker pool children, API workers) keep their own copy of the index and save into
    one directory; without the lock one's clean-up deletes another's half-written files, and a save from
    a stale copy drops the rows another process added.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def manifest_stamp(directory: str | Path) -> tuple[int, int, int] | None:
    """Return what identifies the saved generation (the manifest is replaced by rename on every save)."""
    try:
        st = (Path(directory) / MANIFEST).stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _file_names(files: dict) -> list[str]:
    return [f for f in (files.get("ids"), files.get("faiss"), *files.get("deltas", [])) if f]


def _read_manifest(directory: Path) -> dict:
    try:
        return json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"no vector index in {directory} (no {MANIFEST})") from exc
