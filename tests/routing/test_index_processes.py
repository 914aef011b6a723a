"""Several processes adding to one similar-case index directory: every row survives, no save breaks another."""

from __future__ import annotations

import multiprocessing

import numpy as np

from routing.index import VectorIndex, directory_lock, manifest_stamp

DIM = 8


def _writer(directory: str, start: int, count: int, errors, loads) -> None:
    # The holder's protocol (routing.service.IndexHolder.add), without the embedder: catch up with what
    # another process saved since (or reload), add, save, all under the directory lock.
    index, stamp = None, None
    rng = np.random.default_rng(start)
    try:
        for pid in range(start, start + count):
            with directory_lock(directory):
                if index is None or (manifest_stamp(directory) != stamp and not index.catch_up(directory)):
                    loads.put(pid)
                    try:
                        index = VectorIndex.load(directory, embedder_name="test")
                    except FileNotFoundError:
                        index = VectorIndex.create(embedder_name="test", dim=DIM)
                vector = rng.normal(size=(1, DIM)).astype(np.float32)
                index.add([pid], vector / np.linalg.norm(vector))
                index.save(directory)
                stamp = manifest_stamp(directory)
    except Exception as exc:  # reported to the parent
        errors.put(repr(exc))


def test_two_processes_saving_into_one_directory_keep_every_row(tmp_path):
    ctx = multiprocessing.get_context("fork")
    errors, loads = ctx.Queue(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), start, 40, errors, loads)) for start in (1, 1001)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert all(p.exitcode == 0 for p in procs)
    assert errors.empty(), errors.get()
    with directory_lock(tmp_path, shared=True):
        index = VectorIndex.load(tmp_path, embedder_name="test")
    assert len(index) == 80
    hits = index.search(np.eye(DIM, dtype=np.float32)[:1], k=80)[0]
    assert {pid for pid, _ in hits} == set(range(1, 41)) | set(range(1001, 1041))
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    full_loads = 0
    while not loads.empty():
        loads.get()
        full_loads += 1
    # Mostly the other process's new deltas are applied; a full load only at the start and after snapshots.
    assert full_loads < 40, full_loads  # without catching up, nearly every one of the 80 adds would load


def test_catch_up_applies_another_copys_additions_and_replacements(tmp_path):
    rng = np.random.default_rng(7)

    def unit(n):
        v = rng.normal(size=(n, DIM)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    base = VectorIndex.create(embedder_name="test", dim=DIM)
    base.add(list(range(1, 101)), unit(100))
    base.save(tmp_path)
    mine = VectorIndex.load(tmp_path, embedder_name="test")
    theirs = VectorIndex.load(tmp_path, embedder_name="test")
    replacement = unit(1)
    theirs.add([5, 200], np.vstack([replacement, unit(1)]))  # replace 5, add 200
    theirs.save(tmp_path)
    assert mine.catch_up(tmp_path)
    assert len(mine) == 101 and 200 in mine and 5 in mine
    assert np.allclose(mine.vectors([5]), replacement)
    assert mine.search(replacement, k=1)[0][0][0] == 5
