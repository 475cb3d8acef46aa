"""Solves with kernels too large for a float64 Cholesky: a float32 factor, float64 accuracy.

At n = 50,000 a float64 copy of K takes 20 GB and its Cholesky as much again; a float32
factor takes 10 GB. ``solve`` recovers float64 accuracy of X = (K + reg I)^-1 Y with
conjugate gradients preconditioned by the float32 factor (Higham, "Accuracy and
Stability of Numerical Algorithms", 2nd ed., sec. 12.1 and 12.2, for iterative
refinement with a low-precision factor; PCG is its Krylov form and converges whenever
the preconditioned spectrum cond(K) * eps32 is not far above 1):

    L L^T ~= K + reg I                  (LAPACK spotrf, float32, blocked, in place)
    r_0 = Y, z_0 = (L L^T)^-1 r_0       (float32 triangular solves)
    A x = K x + reg x                   (float64, streamed over row blocks of K)
    alpha = r^T z / p^T A p; X += alpha p; r -= alpha A p; z = (L L^T)^-1 r; ...

Each iteration reads K once, in row blocks (``ntkfix._kernels.streamed``; K may be a read-only
``numpy.memmap``, e.g. the file of ``*_to_disk``), so memory is the factor (n^2 * 4
bytes) plus O(n * block). Iterations stop when every column's relative residual
||r|| / ||y|| is below ``tol`` (default 1e-13: y^T K^-1 y then agrees with a float64
direct solve to ~cond(K) * 1e-13 relative, cf. ``tests/ntkfix/test_large_solve.py``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse.linalg

from ntkfix._core.errors import IllConditionedKernel
from ntkfix._core.host import available_memory
from ntkfix._core.validate import check_choice, check_nonneg_float
from ntkfix._generalization.linalg import Factor, default_max_condition, kernel_dtype
from ntkfix._kernels.streamed import row_blocks, stream_matmul

MAX_ITER = 100
SOLVERS = ("auto", "cholesky", "float32_pcg")


def use_pcg(K: Any, solver: str) -> bool:
    """Whether ``solver`` ("auto": when K is a memory map, or a float64 copy of K and
    its factor would not fit in half the available memory) picks this module's PCG."""
    check_choice(solver, "solver", SOLVERS)
    if solver != "auto":
        return solver == "float32_pcg"
    n = int(np.shape(K)[0]) if np.ndim(K) == 2 else 0
    avail = available_memory()
    too_big = avail is not None and 2 * 8 * n * n > 0.5 * avail
    return isinstance(K, np.memmap) or too_big


def as_kernel_array(K: Any, name: str) -> np.ndarray:
    """``K`` as a square real numpy array (a memory map stays one; no float64 copy)."""
    K = K if isinstance(K, np.ndarray) else np.asarray(K)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must be a square (n, n) real kernel matrix, got {K.dtype} {K.shape}"
        )
    return K


def checked_factor(
    K: np.ndarray, name: str, regularization: Any, max_condition: float | None, arg: str
) -> Float32Factor:
    """``float32_factor`` of K + reg I, refused (``IllConditionedKernel``) when its
    condition estimate exceeds ``max_condition`` (default 0.1 / eps(K.dtype), as the
    float64 solves); ``arg`` names the caller's regularization argument."""
    if isinstance(regularization, str):
        raise ValueError(
            f"{arg}={regularization!r} needs solver='cholesky'; give {arg} as a number >= 0"
        )
    reg = check_nonneg_float(regularization, arg)
    factor = float32_factor(K, name, reg)
    limit = default_max_condition(kernel_dtype(K)) if max_condition is None else max_condition
    if factor.condition_number > limit:
        raise IllConditionedKernel(
            f"{name} ({factor.n} x {factor.n}) has condition number ~ "
            f"{factor.condition_number:.3g} > max_condition = {limit:.3g}; pass {arg} > 0",
            condition_number=factor.condition_number,
            max_condition=float(limit),
            regularization=reg,
        )
    return factor


@dataclasses.dataclass(frozen=True, eq=False)
class Float32Factor(Factor):
    """A ``Factor`` whose lower Cholesky factor L of K + reg I is float32: the
    preconditioner of the float64 conjugate gradients."""

    def precondition(self, R: np.ndarray) -> np.ndarray:
        """(L L^T)^-1 R in float32 arithmetic, returned as float64."""
        z = scipy.linalg.cho_solve((self.chol, True), R.astype(np.float32), check_finite=False)
        return z.astype(np.float64)


def float32_factor(K: Any, name: str = "K", regularization: float = 0.0) -> Float32Factor:
    """Float32 Cholesky of K + reg I (copied once into float32, factorized in place).

    Raises ``IllConditionedKernel`` when float32 Cholesky fails (K not positive definite
    to float32 precision: add a regularization)."""
    n = K.shape[0]
    A = np.empty((n, n), np.float32, order="F")
    blocks = list(row_blocks(K))
    for a, b in blocks:
        A[a:b] = K[a:b]
    mean_diag = float(np.mean(np.diagonal(A), dtype=np.float64))
    # the 1-norm of a symmetric K: its largest absolute row sum
    anorm = max(float(np.abs(A[a:b]).sum(axis=1).max()) for a, b in blocks)
    if regularization:
        A[np.diag_indices(n)] += np.float32(regularization)
    L, info = scipy.linalg.lapack.spotrf(A, lower=1, clean=1, overwrite_a=1)
    if info != 0:
        raise IllConditionedKernel(
            f"{name} ({n} x {n}) is not positive definite to float32 precision (float32 "
            f"Cholesky failed at column {info}); pass a regularization (jitter) > 0",
            condition_number=float("inf"),
            max_condition=float("inf"),
            regularization=float(regularization),
        )
    rcond, _ = scipy.linalg.lapack.spocon(L, anorm + regularization, uplo="L")
    cond = float("inf") if not rcond > 0 else 1.0 / float(rcond)
    return Float32Factor(L, float(regularization), cond, mean_diag)


@dataclasses.dataclass(frozen=True)
class SolveInfo:
    """How ``solve`` went: iterations, final relative residual per column (max)."""

    iterations: int
    residual: float


def solve(
    K: Any,
    Y: np.ndarray,
    factor: Float32Factor,
    *,
    tol: float = 1e-13,
    max_iter: int = MAX_ITER,
) -> tuple[np.ndarray, SolveInfo]:
    """X = (K + reg I)^-1 Y (n, k) float64 by PCG with the float32 ``factor`` (module
    docstring): columns iterate together, each with its own step sizes."""
    Y = np.asarray(Y, np.float64)
    Y = Y[:, None] if Y.ndim == 1 else Y
    reg = factor.regularization
    ynorm = np.linalg.norm(Y, axis=0)
    ynorm[ynorm == 0] = 1.0
    X = factor.precondition(Y)  # the float32 solve: iterative refinement's first step
    R = Y - stream_matmul(K, X, reg)
    Z = factor.precondition(R)
    P = Z.copy()
    rz = np.sum(R * Z, axis=0)
    res = float(np.max(np.linalg.norm(R, axis=0) / ynorm))
    it = 0
    while res > tol and it < max_iter:
        AP = stream_matmul(K, P, reg)
        pap = np.sum(P * AP, axis=0)
        alpha = np.where(pap > 0, rz / np.where(pap > 0, pap, 1.0), 0.0)
        X += alpha * P
        R -= alpha * AP
        Z = factor.precondition(R)
        rz_new = np.sum(R * Z, axis=0)
        beta = np.where(rz > 0, rz_new / np.where(rz > 0, rz, 1.0), 0.0)
        P = Z + beta * P
        rz = rz_new
        it += 1
        if it % 10 == 0:  # the recurrence drifts from the true residual: recompute it
            R = Y - stream_matmul(K, X, reg)
        res = float(np.max(np.linalg.norm(R, axis=0) / ynorm))
    return X, SolveInfo(it, res)


def lambda_min(K: Any, factor: Float32Factor, tol: float = 1e-6) -> float:
    """Smallest eigenvalue of K + reg I: 1 / the largest of (L L^T)^-1 (Lanczos,
    ``scipy.sparse.linalg.eigsh``), relative accuracy ~ tol + cond(K) * eps32."""
    n = factor.n
    op = scipy.sparse.linalg.LinearOperator(
        (n, n),
        matvec=lambda v: factor.precondition(np.asarray(v).reshape(n, 1))[:, 0],
        dtype=np.float64,
    )
    top = scipy.sparse.linalg.eigsh(op, k=1, which="LA", tol=tol, return_eigenvectors=False)
    return 1.0 / float(top[0])
