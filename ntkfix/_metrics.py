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

from ntkfix._validate import as_float_array, check_choice, check_finite, check_square_kernel

METRICS = ("fro", "spectral", "max", "alignment", "cka")


def _center(K):
    return K - K.mean(axis=0, keepdims=True) - K.mean(axis=1, keepdims=True) + K.mean()


def _nonzero(value, what: str):
    if float(value) == 0.0:
        raise ValueError(f"{what} is zero: the relative distance is undefined")
    return value


def kernel_distance(A: Any, B: Any, metric: str = "fro") -> float:
    """Relative distance between kernel matrices ``A`` and reference ``B``.

    Args:
      A: (n1, n2) kernel, e.g. an empirical NTK.
      B: (n1, n2) reference kernel, e.g. the infinite-width NTK.
      metric: one of "fro", "spectral", "max", "alignment", "cka" (formulas in
        the module docstring; "cka" needs square kernels).
    Returns:
      the distance as a Python float.

    Example:
      >>> import jax.numpy as jnp, ntkfix
      >>> ntkfix.kernel_distance(2 * jnp.eye(3), jnp.eye(3))
      1.0
      >>> ntkfix.kernel_distance(2 * jnp.eye(3), jnp.eye(3), "alignment")
      0.0
    """
    check_choice(metric, "metric", METRICS)
    A = as_float_array(A, "A")
    B = as_float_array(B, "B")
    if A.ndim != 2 or B.ndim != 2:
        raise ValueError(f"A and B must be 2-D kernels, got shapes {tuple(A.shape)} and {tuple(B.shape)}")
    if A.shape != B.shape:
        raise ValueError(f"shape mismatch: A has shape {tuple(A.shape)} but B has shape {tuple(B.shape)}")
    check_finite(A, "A")
    check_finite(B, "B")
    if metric == "fro":
        return float(jnp.linalg.norm(A - B) / _nonzero(jnp.linalg.norm(B), "||B||_F"))
    if metric == "spectral":
        a, b = np.asarray(A, np.float64), np.asarray(B, np.float64)
        return float(np.linalg.norm(a - b, 2) / _nonzero(np.linalg.norm(b, 2), "||B||_2"))
    if metric == "max":
        return float(jnp.max(jnp.abs(A - B)) / _nonzero(jnp.max(jnp.abs(B)), "max|B|"))
    if metric == "cka":
        if A.shape[0] != A.shape[1]:
            raise ValueError(f"metric='cka' needs square kernels, got shape {tuple(A.shape)}")
        A, B = _center(A), _center(B)
    na = _nonzero(jnp.linalg.norm(A), "||A||_F" + (" after centering" if metric == "cka" else ""))
    nb = _nonzero(jnp.linalg.norm(B), "||B||_F" + (" after centering" if metric == "cka" else ""))
    return float(1.0 - jnp.sum(A * B) / (na * nb))


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
    """Eigenvalues of a symmetric (n, n) kernel (``eigh``, in float64 on the host).

    Raises ValueError for a non-square, non-symmetric or non-finite ``K``.
    """
    K = check_square_kernel(K, "K", symmetric=True)
    ev = np.linalg.eigvalsh(np.asarray(K, np.float64))[::-1].copy()
    lmax, lmin = float(ev[0]), float(ev[-1])
    cond = lmax / lmin if lmin > 0 else float("inf")
    return Spectrum(eigenvalues=ev, lambda_max=lmax, lambda_min=lmin, condition_number=cond)


def eigvalsh_jax(K: jax.Array) -> jax.Array:
    """Ascending eigenvalues of a symmetric kernel, traceable (for use inside jit)."""
    return jnp.linalg.eigvalsh((K + K.T) / 2)
