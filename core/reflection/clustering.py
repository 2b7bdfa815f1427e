"""Grouping task texts whose embeddings are close: connected components of "cosine ≥ threshold".

Pure numpy, run in a worker thread by ``core.reflection.mining``. Deterministic: the result depends
only on the set of vectors and their keys, never on the order they arrive in.

Up to ``EXACT_LIMIT`` texts every pair is compared. Past it, comparing every pair costs n² (40,000
texts: 1.2 x 10^12 operations), so candidate pairs come from buckets: each text joins the buckets of
its ``FANOUT`` most similar pivots (texts picked by key, not at random), and pairs are compared
inside each bucket; a bucket still too large is split again the same way. This is approximate: two
close texts whose most similar pivots all differ are never compared. Measured on the worst case,
isotropic random vectors (where pivots tell texts apart least): of 200 groups of three paraphrases
(cosine ≥ 0.90) among 40,000 texts, 3 were split with four pivots per text (36 with two). No
texts are ever joined that are not close: every pair joined was compared exactly. 40,000 texts
take about 1.8 s.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]

EXACT_LIMIT = 3000
FANOUT = 4
MAX_DEPTH = 3


Edges = list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]


def _join_close(vectors: Vectors, members: npt.NDArray[np.int64], threshold: float, edges: Edges) -> None:
    """Collect every pair among ``members`` whose cosine reaches ``threshold`` (exact, in blocks)."""
    block = 2048
    for start in range(0, len(members), block):
        rows = members[start : start + block]
        hits_r, hits_c = np.nonzero(vectors[rows] @ vectors[members].T >= threshold)
        left, right = rows[hits_r], members[hits_c]
        keep = left < right
        if keep.any():
            edges.append((left[keep], right[keep]))


def _bucketed(vectors: Vectors, members: npt.NDArray[np.int64], threshold: float, edges: Edges, depth: int) -> None:
    if len(members) <= EXACT_LIMIT or depth >= MAX_DEPTH:
        _join_close(vectors, members, threshold, edges)
        return
    n_pivots = min(512, max(8, int(np.sqrt(len(members)) * 2)))
    pivots = members[np.linspace(0, len(members) - 1, n_pivots).astype(np.int64)]
    nearest = np.argpartition(-(vectors[members] @ vectors[pivots].T), FANOUT - 1, axis=1)[:, :FANOUT]
    # Each pivot's bucket in one sort rather than a scan per pivot: rows ordered by pivot, and (the
    # sort being stable) by row within a pivot, as a scan would list them.
    order = np.argsort(nearest.ravel(), kind="stable")
    rows = np.repeat(np.arange(len(members), dtype=np.int64), FANOUT)[order]
    edges_at = np.searchsorted(nearest.ravel()[order], np.arange(n_pivots + 1))
    for p in range(n_pivots):
        bucket = members[rows[edges_at[p] : edges_at[p + 1]]]
        if len(bucket) < 2:
            continue
        if len(bucket) == len(members):  # pivots that do not divide: compare exactly
            _join_close(vectors, bucket, threshold, edges)
        else:
            _bucketed(vectors, bucket, threshold, edges, depth + 1)


def connected_components(n: int, edges: Edges) -> npt.NDArray[np.int64]:
    """Each node's component, named by its lowest index: min-label propagation with pointer jumping,
    vectorised (a Python union-find over a million pairs of one dense cluster takes seconds)."""
    labels = np.arange(n, dtype=np.int64)
    if not edges:
        return labels
    left = np.concatenate([e[0] for e in edges])
    right = np.concatenate([e[1] for e in edges])
    while True:
        lowered = labels.copy()
        np.minimum.at(lowered, left, labels[right])
        np.minimum.at(lowered, right, labels[left])
        while True:  # pointer jumping: a label's own label is in the same component
            jumped = lowered[lowered]
            if np.array_equal(jumped, lowered):
                break
            lowered = jumped
        if np.array_equal(lowered, labels):
            return labels
        labels = lowered


_blas_lock = threading.Lock()


def _openblas() -> tuple[object, object] | None:
    """numpy's OpenBLAS (set, get) thread-count functions, when numpy uses OpenBLAS on Linux."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    paths = sorted({line.split()[-1] for line in maps.splitlines() if "openblas" in line.lower() and ".so" in line})
    for path in paths:
        lib = ctypes.CDLL(path)
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                if setter is not None and getter is not None:
                    return setter, getter
    return None


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Hundreds of small products run 20x faster on one OpenBLAS thread than on two: its threads spin
    between calls, and on a busy machine they also starve the event loop's thread (measured 0.5 s lags)."""
    found = _openblas()
    if found is None:
        yield
        return
    setter, getter = found
    with _blas_lock:
        before = int(getter())  # type: ignore[operator]
        setter(1)  # type: ignore[operator]
        try:
            yield
        finally:
            setter(before)  # type: ignore[operator]


def cluster(vectors: Vectors, threshold: float) -> list[int]:
    """For row i of ``vectors`` (unit rows, sorted by a stable key), the lowest row index of its cluster."""
    n = len(vectors)
    edges: Edges = []
    if n:
        with _one_blas_thread():
            _bucketed(vectors, np.arange(n, dtype=np.int64), threshold, edges, 0)
    return [int(x) for x in connected_components(n, edges)]
