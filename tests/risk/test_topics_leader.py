"""The leader clustering of large periods: the same clusters as with explicit centroids, without building them."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from risk.topics import _leader


def centroid_leader(x: sp.csr_matrix, threshold: float) -> np.ndarray:
    """Leader clustering with a dense centroid per cluster (the straightforward and slow way)."""
    labels = np.empty(x.shape[0], dtype=np.int64)
    sums: list[np.ndarray] = []
    centroids = np.zeros((0, x.shape[1]))
    for i in range(x.shape[0]):
        row = x[i].toarray().ravel()
        if sums:
            sims = centroids @ row
            best = int(np.argmax(sims))
            if sims[best] >= threshold:
                labels[i] = best
                sums[best] += row
                centroids[best] = sums[best] / (np.linalg.norm(sums[best]) or 1.0)
                continue
        labels[i] = len(sums)
        sums.append(row.copy())
        centroids = np.vstack([centroids, row[None, :]])
    return labels


def test_same_clusters_as_explicit_centroids():
    rng = np.random.default_rng(7)
    for n, d, density in ((400, 60, 0.08), (700, 300, 0.03)):
        x = sp.random(n, d, density=density, random_state=rng, format="csr")
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        x = sp.csr_matrix(sp.diags(1 / np.where(norms > 0, norms, 1.0)) @ x)
        expected = centroid_leader(x, 0.2)
        # Blocks smaller than the input exercise the block boundaries.
        assert (_leader(x, 0.2, block=61) == expected).all()
        assert len(set(expected)) > 10
