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
    check_square_kernel,
)

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


def spectrum(K: Any) -> Spectrum:
    """Eigenvalues of a symmetric (n, n) kernel (``eigh``, in float64 on the host; float64
    inputs keep their precision even when jax's x64 mode is off).

    Raises ValueError for a non-square, non-symmetric or non-finite ``K``.
    """
    a = check_matrix(K, "K", "kernel")
    check_square_kernel(a, "K", symmetric=True)
    ev = np.linalg.eigvalsh(a)[::-1].copy()
    lmax, lmin = float(ev[0]), float(ev[-1])
    cond = lmax / lmin if lmin > 0 else float("inf")
    return Spectrum(eigenvalues=ev, lambda_max=lmax, lambda_min=lmin, condition_number=cond)


def eigvalsh_jax(K: jax.Array) -> jax.Array:
    """Ascending eigenvalues of a symmetric kernel, traceable (for use inside jit)."""
    return jnp.linalg.eigvalsh((K + K.T) / 2)
