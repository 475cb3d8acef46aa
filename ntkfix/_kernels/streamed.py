"""Kernels read in row blocks: (n1, n2) arrays that may be memory maps larger than memory.

A kernel written by a ``*_to_disk`` function is a read-only ``numpy.memmap``; what needs
the whole of it (a product, a norm, a distance) reads it row block by row block, each
block converted to float64 (``STREAM_BYTES`` of float64 at a time), so memory is
O(block rows * n2) whatever the size of the kernel.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ntkfix._core.host import available_memory

STREAM_BYTES = 256 * 2**20  # float64 bytes of one row block


def row_blocks(K: Any, n_cols: int | None = None) -> Iterator[tuple[int, int]]:
    """[a, b) row ranges of ``K`` of about ``STREAM_BYTES`` of float64 each."""
    n, m = K.shape[0], K.shape[1] if n_cols is None else n_cols
    step = max(1, STREAM_BYTES // (8 * max(m, 1)))
    for a in range(0, n, step):
        yield a, min(n, a + step)


def block64(K: Any, a: int, b: int) -> np.ndarray:
    """Rows a:b of ``K`` as a float64 numpy array."""
    return np.asarray(K[a:b], dtype=np.float64)


def stream_matmul(K: Any, X: np.ndarray, reg: float = 0.0) -> np.ndarray:
    """(K + reg I) X in float64, reading ``K`` (n1, n2) in row blocks; X (n2, k)."""
    out = np.empty((K.shape[0], X.shape[1]))
    for a, b in row_blocks(K):
        out[a:b] = block64(K, a, b) @ X
    if reg:
        out += reg * X
    return out


def stream_abs_quadratic(K: Any, A: np.ndarray) -> np.ndarray:
    """(k,) float64 sums |A_c|^T |K| |A_c| per column c of A (n, k), reading ``K`` in row
    blocks: the first-order bound on how much entry errors |E_ij| <= |K_ij| move A^T K A."""
    B = np.abs(np.asarray(A, np.float64))
    out = np.zeros(B.shape[1])
    for a, b in row_blocks(K):
        out += np.sum(B[a:b] * (np.abs(block64(K, a, b)) @ B), axis=0)
    return out


def should_stream(*arrays: Any, fraction: float = 0.25) -> bool:
    """Whether to read these kernels in row blocks: one is a ``numpy.memmap``, or float64
    copies of all of them would take more than ``fraction`` of the available memory."""
    if any(isinstance(a, np.memmap) for a in arrays):
        return True
    avail = available_memory()
    total = sum(8 * int(np.prod(np.shape(a))) for a in arrays)
    return avail is not None and total > fraction * avail
