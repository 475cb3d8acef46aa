"""Distances between kernels, and kernel spectra.

All distances are relative to the second argument ``B`` (the reference, e.g. the
infinite-width kernel), dimensionless, and 0 for A == B:

    fro        ||A - B||_F / ||B||_F
    spectral   ||A - B||_2 / ||B||_2                     (operator norms: largest singular value)
    max        max_ij |A_ij - B_ij| / max_ij |B_ij|
    alignment  1 - <A, B>_F / (||A||_F ||B||_F)           (Cristianini et al. 2002)
    cka        1 - <HAH, HBH>_F / (||HAH||_F ||HBH||_F), H = I - 1 1^T / n
               (centered kernel alignment; Cortes et al. 2012, Kornblith et al. 2019)

"alignment" and "cka" are invariant to rescaling either kernel; "fro", "spectral"
and "max" are not.

Kernels larger than memory (``numpy.memmap`` files of the ``*_to_disk`` functions, or
arrays whose float64 copies would not fit) are streamed in row blocks
(``ntkfix._kernels.streamed``): two passes, the same formulas (for "cka" the centering
uses row and column means from the first pass: <HAH, HBH> needs only those); "spectral"
then uses Lanczos on the streamed A - B (``scipy.sparse.linalg.svds``). ``spectrum(K,
top_k=k)`` gives the k largest eigenvalues by Lanczos on the streamed K.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntkfix._core.validate import (
    check_choice,
    check_matrix,
    check_positive_int,
    check_square_kernel,
)
from ntkfix._kernels.streamed import block64, row_blocks, should_stream, stream_matmul

METRICS = ("fro", "spectral", "max", "alignment", "cka")


def _center(K):
    return K - K.mean(axis=0, keepdims=True) - K.mean(axis=1, keepdims=True) + K.mean()


def _nonzero(value, what: str):
    if float(value) == 0.0:
        raise ValueError(f"{what} is zero: the relative distance is undefined")
    return value


def kernel_distance(A: Any, B: Any, metric: str = "fro") -> float:
    """Relative distance between kernel matrices ``A`` and reference ``B``.

    Computed on the host in float64 (a host-side measurement, not traceable under jit),
    so small distances between float32 kernels are not lost to cancellation. The
    alignment terms use the cancellation-free form
    1 - <A, B>/(|A| |B|) = ||A/|A| - B/|B|||_F^2 / 2 (never negative).

    Args:
      A: (n1, n2) kernel, e.g. an empirical NTK.
      B: (n1, n2) reference kernel, e.g. the infinite-width NTK.
      metric: one of "fro", "spectral", "max", "alignment", "cka" (formulas in
        the module docstring; "cka" needs square kernels).

    Returns:
      the distance as a Python float.

    Examples:
      >>> import jax.numpy as jnp, ntkfix
      >>> ntkfix.kernel_distance(2 * jnp.eye(3), jnp.eye(3))
      1.0
      >>> ntkfix.kernel_distance(2 * jnp.eye(3), jnp.eye(3), "alignment")
      0.0
    """
    check_choice(metric, "metric", METRICS)
    if should_stream(A, B):
        return _streamed_distance(A, B, metric)
    a, b = check_matrix(A, "A", "kernel"), check_matrix(B, "B", "kernel")
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: A has shape {a.shape} but B has shape {b.shape}")
    if metric == "fro":
        return float(np.linalg.norm(a - b) / _nonzero(np.linalg.norm(b), "||B||_F"))
    if metric == "spectral":
        return float(np.linalg.norm(a - b, 2) / _nonzero(np.linalg.norm(b, 2), "||B||_2"))
    if metric == "max":
        return float(np.abs(a - b).max() / _nonzero(np.abs(b).max(), "max|B|"))
    suffix = ""
    if metric == "cka":
        if a.shape[0] != a.shape[1]:
            raise ValueError(f"metric='cka' needs square kernels, got shape {a.shape}")
        a, b, suffix = _center(a), _center(b), " after centering"
    ua = a / _nonzero(np.linalg.norm(a), "||A||_F" + suffix)
    ub = b / _nonzero(np.linalg.norm(b), "||B||_F" + suffix)
    return float(0.5 * np.sum((ua - ub) ** 2))


def _streamed_distance(A, B, metric: str) -> float:
    """``kernel_distance`` reading A and B in row blocks (module docstring)."""
    for name, K in (("A", A), ("B", B)):
        if np.ndim(K) != 2:
            raise ValueError(f"{name} must be a 2-D kernel matrix, got shape {np.shape(K)}")
    if A.shape != B.shape:
        raise ValueError(f"shape mismatch: A has shape {A.shape} but B has shape {B.shape}")
    n1, n2 = A.shape
    if metric == "spectral":
        import scipy.sparse.linalg as sla

        def norm2(*Ks):  # largest singular value of sum_i (-1)^i K_i, streamed
            sign = [(-1.0) ** i for i in range(len(Ks))]
            op = sla.LinearOperator(
                (n1, n2),
                matvec=lambda v: sum(
                    s * stream_matmul(K, np.reshape(v, (n2, 1)))[:, 0]
                    for s, K in zip(sign, Ks, strict=True)
                ),
                rmatvec=lambda v: sum(
                    s * stream_matmul_t(K, np.reshape(v, (n1, 1)))[:, 0]
                    for s, K in zip(sign, Ks, strict=True)
                ),
                dtype=np.float64,
            )
            return float(sla.svds(op, k=1, return_singular_vectors=False)[0])

        return norm2(A, B) / _nonzero(norm2(B), "||B||_2")
    if metric == "cka" and n1 != n2:
        raise ValueError(f"metric='cka' needs square kernels, got shape {A.shape}")
    # pass 1: norms, maxima, and for cka row and column means
    ss = {"a": 0.0, "b": 0.0, "d": 0.0, "maxd": 0.0, "maxb": 0.0}
    rows = {"a": np.zeros(n1), "b": np.zeros(n1)}
    cols = {"a": np.zeros(n2), "b": np.zeros(n2)}
    for i, j in row_blocks(A):
        a, b = block64(A, i, j), block64(B, i, j)
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            raise ValueError("A and B must be finite (a NaN or inf was found)")
        ss["a"] += float(np.sum(a * a))
        ss["b"] += float(np.sum(b * b))
        ss["d"] += float(np.sum((a - b) ** 2))
        ss["maxd"] = max(ss["maxd"], float(np.abs(a - b).max()))
        ss["maxb"] = max(ss["maxb"], float(np.abs(b).max()))
        for key, blk in (("a", a), ("b", b)):
            rows[key][i:j] = blk.mean(axis=1)
            cols[key] += blk.sum(axis=0) / n1
    if metric == "fro":
        return float(np.sqrt(ss["d"]) / _nonzero(np.sqrt(ss["b"]), "||B||_F"))
    if metric == "max":
        return float(ss["maxd"] / _nonzero(ss["maxb"], "max|B|"))
    centre = metric == "cka"
    mean = {k: float(rows[k].mean()) for k in rows}

    def centred(blk, key, i, j):
        if not centre:
            return blk
        return blk - rows[key][i:j, None] - cols[key][None, :] + mean[key]

    suffix = " after centering" if centre else ""
    norms = {}
    for key in ("a", "b"):
        if centre:  # ||HKH||_F^2 = ||K||^2 - n2 |rows|^2 - n1 |cols|^2 + n1 n2 mean^2
            sq = ss[key] - n2 * np.sum(rows[key] ** 2) - n1 * np.sum(cols[key] ** 2)
            sq += n1 * n2 * mean[key] ** 2
        else:
            sq = ss[key]
        norms[key] = float(np.sqrt(max(sq, 0.0)))
    na = _nonzero(norms["a"], "||A||_F" + suffix)
    nb = _nonzero(norms["b"], "||B||_F" + suffix)
    total = 0.0  # pass 2: ||A/|A| - B/|B|||_F^2 / 2 (cancellation-free)
    for i, j in row_blocks(A):
        ua = centred(block64(A, i, j), "a", i, j) / na
        ub = centred(block64(B, i, j), "b", i, j) / nb
        total += float(np.sum((ua - ub) ** 2))
    return 0.5 * total


def stream_matmul_t(K, X):
    """K^T X in float64, reading K in row blocks."""
    out = np.zeros((K.shape[1], X.shape[1]))
    for a, b in row_blocks(K):
        out += block64(K, a, b).T @ X[a:b]
    return out


@dataclasses.dataclass(frozen=True)
class Spectrum:
    """Eigen-spectrum of a symmetric kernel.

    Attributes:
      eigenvalues: (n,) in descending order.
      lambda_max, lambda_min: largest and smallest eigenvalue.
      condition_number: lambda_max / lambda_min (inf when lambda_min <= 0).
    """

    eigenvalues: np.ndarray
    lambda_max: float
    lambda_min: float
    condition_number: float

    def __repr__(self) -> str:
        ev = np.asarray(self.eigenvalues)
        head = ", ".join(f"{v:.4g}" for v in ev[:3]) + (", ..." if ev.size > 3 else "")
        return (
            f"Spectrum(n={ev.size}, lambda_max={self.lambda_max:.4g}, lambda_min="
            f"{self.lambda_min:.4g}, condition_number={self.condition_number:.4g}, "
            f"eigenvalues=[{head}])"
        )


def spectrum(K: Any, top_k: int | None = None) -> Spectrum:
    """Eigenvalues of a symmetric (n, n) kernel (``eigh``, in float64 on the host; float64
    inputs keep their precision even when jax's x64 mode is off).

    With ``top_k`` = k: only the k largest, by Lanczos (``scipy.sparse.linalg.eigsh``)
    on K streamed in row blocks (K may be a ``numpy.memmap``; O(n k) memory); then
    ``eigenvalues`` has k entries, ``lambda_min`` is the k-th largest and
    ``condition_number`` is lambda_max / lambda_k (a lower bound on the condition).

    Raises ValueError for a non-square, non-symmetric or non-finite ``K``.
    """
    if top_k is not None:
        return _top_spectrum(K, check_positive_int(top_k, "top_k"))
    a = check_matrix(K, "K", "kernel")
    check_square_kernel(a, "K", symmetric=True)
    ev = np.linalg.eigvalsh(a)[::-1].copy()
    lmax, lmin = float(ev[0]), float(ev[-1])
    cond = lmax / lmin if lmin > 0 else float("inf")
    return Spectrum(eigenvalues=ev, lambda_max=lmax, lambda_min=lmin, condition_number=cond)


def eigvalsh_jax(K: jax.Array) -> jax.Array:
    """Ascending eigenvalues of a symmetric kernel, traceable (for use inside jit)."""
    return jnp.linalg.eigvalsh((K + K.T) / 2)


def _top_spectrum(K: Any, k: int) -> Spectrum:
    import scipy.sparse.linalg as sla

    K = K if isinstance(K, np.ndarray) else np.asarray(K)
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise ValueError(f"K must be a square (n, n) kernel matrix, got shape {K.shape}")
    n = K.shape[0]
    if k >= n:
        raise ValueError(f"top_k must be < n = {n} (use top_k=None for all), got {k}")
    op = sla.LinearOperator(
        (n, n), matvec=lambda v: stream_matmul(K, np.reshape(v, (n, 1)))[:, 0], dtype=np.float64
    )
    ev = np.sort(sla.eigsh(op, k=k, which="LA", return_eigenvectors=False))[::-1].copy()
    lmax, lk = float(ev[0]), float(ev[-1])
    return Spectrum(ev, lmax, lk, lmax / lk if lk > 0 else float("inf"))
