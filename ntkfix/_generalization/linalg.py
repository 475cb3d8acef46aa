"""Stable solves with kernel Gram matrices: Cholesky in float64, condition checks, jitter.

Every solve ``K^-1 Y`` in ntkfix (complexity measures, bounds, kernel regression) goes
through ``factorize``: the kernel is checked (square, finite, symmetric), promoted to
float64 on the host and Cholesky-factorized with LAPACK; its 1-norm condition number
is estimated from the factor (LAPACK ``dpocon``, O(n^2), within a factor n of the
2-norm condition number). A kernel that is not positive definite, or whose condition
estimate exceeds ``max_condition``, raises ``IllConditionedKernel`` (never a silent
NaN); a diagonal regularization is only ever added on request and always reported.

Default ``max_condition`` = 0.1 / eps(K.dtype) (4.5e14 for float64, 8.4e5 for
float32): the solve itself runs in float64, but K carries the rounding of its own
dtype, and beyond that threshold the solution may be off by more than about 10%.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
import scipy.linalg

from ntkfix._core.errors import IllConditionedKernel, PrecisionWarning
from ntkfix._core.validate import as_host_float64, check_nonneg_float, check_square_kernel

# jitter="auto" tries these multiples of mean(diag K), in order.
AUTO_JITTER_LADDER = (0.0, 1e-12, 1e-10, 1e-8, 1e-6, 1e-4)


@dataclasses.dataclass(frozen=True, eq=False)
class Factor:
    """Cholesky factor of ``K + regularization * I`` (float64, lower triangular).

    Attributes:
      chol: (n, n) lower-triangular float64 factor.
      regularization: the absolute diagonal term that was added (0.0 if none).
      condition_number: 1-norm condition estimate of ``K + regularization * I``.
      mean_diag: mean of diag(K) (the scale ``jitter="auto"`` is relative to).
    """

    chol: np.ndarray
    regularization: float
    condition_number: float
    mean_diag: float

    @property
    def n(self) -> int:
        return self.chol.shape[0]

    def solve(self, Y: np.ndarray) -> np.ndarray:
        """(K + reg I)^-1 Y for Y of shape (n,) or (n, k), float64."""
        return scipy.linalg.cho_solve(
            (self.chol, True), np.asarray(Y, np.float64), check_finite=False
        )


def default_max_condition(dtype: Any) -> float:
    """0.1 / eps(dtype): beyond this, rounding in K can move the solution by ~10%."""
    return 0.1 / float(np.finfo(np.dtype(dtype)).eps)


def kernel_dtype(K: Any) -> np.dtype:
    """The floating dtype ``K`` was given in (float64 for ints, bools and Python lists)."""
    dt = getattr(K, "dtype", None)
    dt = np.asarray(K).dtype if dt is None else np.dtype(dt)
    return dt if dt.kind == "f" else np.dtype(np.float64)


def _try_cholesky(A: np.ndarray) -> tuple[np.ndarray | None, float]:
    """(lower factor, 1-norm condition estimate), or (None, inf) if A is not PD."""
    try:
        L = scipy.linalg.cholesky(A, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return None, float("inf")
    anorm = float(np.abs(A).sum(axis=0).max())
    rcond, info = scipy.linalg.lapack.dpocon(L, anorm, uplo="L")
    if info != 0 or not np.isfinite(rcond) or rcond <= 0:
        return L, float("inf")
    return L, 1.0 / float(rcond)


# A kernel whose normalized entries K_ij / sqrt(K_ii K_jj) exceed PARALLEL_COSINE for
# more than PARALLEL_SHARE of the pairs i != j comes from many nearly parallel inputs.
PARALLEL_COSINE, PARALLEL_SHARE = 0.99, 0.05


def parallel_share(A: np.ndarray) -> float:
    """Share of pairs i != j with A_ij / sqrt(A_ii A_jj) > PARALLEL_COSINE (0.0 for n < 2
    or a non-positive diagonal). Duplicated rows alone give about 2 (duplicates) / n^2;
    features on very different scales, centered and projected to the sphere, give a
    large share (two tight antipodal clusters)."""
    d = np.diag(A)
    n = A.shape[0]
    if n < 2 or not np.all(d > 0):
        return 0.0
    C = A / np.sqrt(np.outer(d, d))
    return float(((C > PARALLEL_COSINE).sum() - np.sum(np.diag(C) > PARALLEL_COSINE)) / (n * n - n))


# Up to this n the extreme eigenvalues come from a dense eigvalsh; above, from Lanczos.
EIGH_MAX_N = 2000


def extreme_eigenvalues(A: np.ndarray) -> tuple[float, float]:
    """(lambda_min, lambda_max) of the symmetric ``A``: LAPACK's eigvalsh for n <=
    ``EIGH_MAX_N``, else Lanczos (``scipy.sparse.linalg.eigsh``, a few hundred products)."""
    n = A.shape[0]
    if n <= EIGH_MAX_N:
        w = scipy.linalg.eigvalsh(A)
        return float(w[0]), float(w[-1])
    from scipy.sparse.linalg import eigsh

    lo = eigsh(A, k=1, which="SA", return_eigenvectors=False, tol=1e-6)[0]
    hi = eigsh(A, k=1, which="LA", return_eigenvectors=False, tol=1e-6)[0]
    return float(lo), float(hi)


def rounding_level(A: np.ndarray, dtype: Any) -> float:
    """How far the rounding of K's entries (its dtype) can move an eigenvalue: eps(dtype)
    x trace(K) (>= eps ||K||_2; n eps mean(diag K))."""
    return float(np.finfo(np.dtype(dtype)).eps) * abs(float(np.trace(A)))


def _negative(A: np.ndarray, name: str, dtype: Any) -> str | None:
    """The words for a negative eigenvalue beyond rounding, or None if there is none."""
    lo, hi = extreme_eigenvalues(A)
    if lo >= -rounding_level(A, dtype):
        return None
    return (
        f"is not positive semi-definite: it has a negative eigenvalue, lambda_min = "
        f"{lo:.3g} (lambda_max = {hi:.3g}, ratio {lo / hi:.2g}; rounding in {np.dtype(dtype)} "
        f"explains {rounding_level(A, dtype):.2g} at most). A kernel Gram matrix has none: "
        f"{name} is not a kernel of these inputs (a similarity that is no kernel, blocks of "
        "different kernels, or a kernel computed in lower precision than given)"
    )


def _hint(A: np.ndarray, name: str, regularize_arg: str, allow_auto: bool) -> str:
    how = f"{regularize_arg}=<float > 0>" + (f" or {regularize_arg}='auto'" if allow_auto else "")
    share = parallel_share(A)
    scales = (
        f" {share:.0%} of its pairs of rows are nearly parallel (K_ij / sqrt(K_ii K_jj) > "
        f"{PARALLEL_COSINE}): the likely cause is features on very different scales, which "
        "centering and projection to the sphere leave dominated by the largest; standardize "
        "the features (standardize=True in the ntkfix.data loaders)."
        if share > PARALLEL_SHARE
        else ""
    )
    return (
        f"Duplicate or nearly parallel inputs make a kernel Gram matrix singular: remove "
        f"duplicates, or pass {how} to add a (reported) multiple of the identity to {name}."
        + scales
    )


def factorize(
    K: Any,
    name: str = "K",
    *,
    regularization: float | str = 0.0,
    max_condition: float | None = None,
    regularize_arg: str = "jitter",
    allow_auto: bool = True,
) -> Factor:
    """Cholesky factor of the symmetric kernel ``K + regularization * I`` with checks.

    Args:
      K: (n, n) symmetric positive (semi-)definite kernel.
      name: the argument's name, for error messages.
      regularization: absolute diagonal term >= 0, or "auto": the smallest of
        ``AUTO_JITTER_LADDER`` x mean(diag K) that brings the condition estimate
        under ``max_condition``.
      max_condition: threshold on the condition estimate (default 0.1 / eps(K.dtype);
        ``np.inf`` disables the check, not Cholesky's own positive-definiteness one).
      regularize_arg: the caller's argument that adds regularization (for messages).
      allow_auto: whether "auto" is accepted (and suggested in the hint).

    Raises:
      IllConditionedKernel: not positive definite, or condition estimate above the
        threshold (with the estimate and a hint).
    """
    A = as_host_float64(K, name)
    check_square_kernel(A, name, symmetric=True)
    limit = (
        default_max_condition(kernel_dtype(K)) if max_condition is None else float(max_condition)
    )
    if not limit > 1:
        raise ValueError(f"max_condition must be a number > 1, got {max_condition!r}")
    A = (A + A.T) / 2
    mean_diag = float(np.mean(np.diag(A)))
    if isinstance(regularization, str):
        if regularization != "auto" or not allow_auto:
            raise ValueError(
                f"{regularize_arg} must be a number >= 0"
                + (" or 'auto'" if allow_auto else "")
                + f", got {regularization!r}"
            )
        if mean_diag <= 0:
            raise ValueError(
                f"{name} has mean diagonal {mean_diag:.3g} <= 0: it is not a kernel matrix"
            )
        ladder = [r * mean_diag for r in AUTO_JITTER_LADDER]
    else:
        ladder = [check_nonneg_float(regularization, regularize_arg)]
    eye = np.eye(A.shape[0])
    cond = float("inf")
    for reg in ladder:
        L, cond = _try_cholesky(A + reg * eye if reg else A)
        if L is None and reg == ladder[0]:  # not positive definite: a negative eigenvalue?
            negative = _negative(A, name, kernel_dtype(K))
            if negative is not None:
                _raise(A, name, negative + "; no jitter is added to hide it", reg)
        if L is not None and cond <= limit:
            if isinstance(regularization, str):
                _warn_auto(A, name, reg, mean_diag, kernel_dtype(K))
            return Factor(
                chol=L, regularization=float(reg), condition_number=cond, mean_diag=mean_diag
            )
    what = (
        "is not positive definite (Cholesky failed)"
        if not np.isfinite(cond)
        else (f"has condition number ~ {cond:.3g} > max_condition = {limit:.3g}")
    )
    reg = ladder[-1]
    added = f" after adding {reg:.3g} * I" if reg else ""
    _raise(
        A, name, what + added + ". " + _hint(A, name, regularize_arg, allow_auto), reg, cond, limit
    )


def _raise(A, name, what, reg, cond=float("inf"), limit=float("inf")):
    raise IllConditionedKernel(
        f"{name} ({A.shape[0]} x {A.shape[0]}) {what}",
        condition_number=cond,
        max_condition=limit,
        regularization=float(reg),
    )


def _warn_auto(A, name, reg, mean_diag, dtype) -> None:
    """A ``PrecisionWarning`` when jitter='auto' added more than rounding."""
    if reg > rounding_level(A, dtype):
        warnings.warn(
            f"jitter='auto' added {reg:.3g} * I ({reg / mean_diag:.0e} x mean diag) to {name} "
            f"({A.shape[0]} x {A.shape[0]}), more than its rounding ("
            f"{rounding_level(A, dtype):.2g}): the result is for {name} + {reg:.3g} I; pass "
            "jitter explicitly to choose it, or remove duplicate inputs",
            PrecisionWarning,
            stacklevel=_user_stacklevel(),
        )


def _user_stacklevel() -> int:
    """The ``stacklevel`` of the first caller outside ntkfix (for warnings)."""
    import os
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(root):
        frame, level = frame.f_back, level + 1
    return level
