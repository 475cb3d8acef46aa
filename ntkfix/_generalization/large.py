"""Solves with kernels too large for a float64 Cholesky: a float32 factor, float64 accuracy.

At n = 50,000 a float64 copy of K takes 20 GB and its Cholesky as much again; the lower
triangle of a float32 factor takes 5 GB. ``solve`` recovers float64 accuracy of
X = (K + reg I)^-1 Y with conjugate gradients preconditioned by the float32 factor
(Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed., sec. 12.1 and
12.2, for iterative refinement with a low-precision factor; PCG is its Krylov form and
converges whenever the preconditioned spectrum cond(K) * eps32 is not far above 1):

    L L^T ~= K + reg I                  (float32, by 2048 x 2048 tiles of the lower
                                         triangle: LAPACK/BLAS on tiles, ``float32_factor``)
    r_0 = Y, z_0 = (L L^T)^-1 r_0       (float32 triangular solves)
    A x = K x + reg x                   (float64, streamed over row blocks of K)
    alpha = r^T z / p^T A p; X += alpha p; r -= alpha A p; z = (L L^T)^-1 r; ...

Each iteration reads K once, in row blocks (``ntkfix._kernels.streamed``; K may be a read-only
``numpy.memmap``, e.g. the file of ``*_to_disk``), so memory is the factor (n^2 * 2
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
from ntkfix._generalization.linalg import default_max_condition, kernel_dtype
from ntkfix._kernels.streamed import stream_matmul

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


# Tile size of the float32 factor: b^2 * 4 bytes = 16 MiB tiles, BLAS-3 speed on tiles,
# and every LAPACK/BLAS call's array small enough for 32-bit indexing (scipy's LAPACK is
# LP64: a single spotrf on n >= 46,341, n^2 >= 2^31, overflows and crashes the process).
TILE = 2048


@dataclasses.dataclass(frozen=True, eq=False)
class Float32Factor:
    """Lower Cholesky factor L of K + reg I in float32, stored as tiles of its lower
    triangle: the preconditioner of the float64 conjugate gradients.

    Attributes:
      tiles: tiles[i][j] (j <= i) = L[s_i:s_{i+1}, s_j:s_{j+1}] (Fortran order, float32),
        s = ``starts``; only the lower triangle is stored (n^2 / 2 * 4 bytes in all).
      starts: (T + 1,) tile boundaries 0 = s_0 < ... < s_T = n.
      regularization, condition_number, mean_diag: as ``Factor``.
    """

    tiles: tuple
    starts: tuple
    regularization: float
    condition_number: float
    mean_diag: float

    @property
    def n(self) -> int:
        return self.starts[-1]

    def precondition(self, R: np.ndarray) -> np.ndarray:
        """(L L^T)^-1 R in float32 arithmetic (tiled forward and back substitution),
        returned as float64; R (n,) or (n, k)."""
        R = np.asarray(R)
        vec = R.ndim == 1
        Z = _tri_solve(self.tiles, self.starts, R.reshape(R.shape[0], -1))
        Z = Z.astype(np.float64)
        return Z[:, 0] if vec else Z


def _tri_solve(tiles: tuple, starts: tuple, R: np.ndarray) -> np.ndarray:
    """L^-T L^-1 R, float32, by tiles: y_i = L_ii^-1 (r_i - sum_{j<i} L_ij y_j), then
    z_i = L_ii^-T (y_i - sum_{j>i} L_ji^T z_j)."""
    Y = np.array(R, dtype=np.float32, order="F")
    T = len(tiles)
    sl = [slice(starts[i], starts[i + 1]) for i in range(T)]
    for i in range(T):
        for j in range(i):
            Y[sl[i]] -= tiles[i][j] @ Y[sl[j]]
        Y[sl[i]] = scipy.linalg.solve_triangular(
            tiles[i][i], Y[sl[i]], lower=True, check_finite=False
        )
    for i in reversed(range(T)):
        for j in range(i + 1, T):
            Y[sl[i]] -= tiles[j][i].T @ Y[sl[j]]
        Y[sl[i]] = scipy.linalg.solve_triangular(
            tiles[i][i], Y[sl[i]], lower=True, trans="T", check_finite=False
        )
    return Y


def _not_positive_definite(name: str, n: int, column: int, regularization: float):
    return IllConditionedKernel(
        f"{name} ({n} x {n}) is not positive definite to float32 precision (float32 "
        f"Cholesky failed at column {column}): it has a negative eigenvalue, or one below "
        "float32's rounding (duplicate inputs); solver='cholesky' (float64) names "
        "lambda_min where n fits memory; pass a regularization (jitter) > 0",
        condition_number=float("inf"),
        max_condition=float("inf"),
        regularization=float(regularization),
    )


def _inverse_one_norm(solve: Any, n: int) -> float:
    """Estimate of ||A^-1||_1 for a symmetric A from solves with A (Hager 1984 with
    Higham's 1988 refinements, LAPACK's xLACON; deterministic): at most 5 pairs of
    solves plus one."""
    x = np.full(n, 1.0 / n)
    est, last = 0.0, -1
    for it in range(5):
        y = solve(x)
        est = max(est, float(np.abs(y).sum()))
        z = solve(np.where(y >= 0, 1.0, -1.0))  # A^-T = A^-1
        j = int(np.argmax(np.abs(z)))
        if it > 0 and (np.abs(z[j]) <= z @ x or j == last):
            break
        x, last = np.zeros(n), j
        x[j] = 1.0
    alt = (-1.0) ** np.arange(n) * (1.0 + np.arange(n) / max(n - 1, 1))
    return max(est, 2.0 * float(np.abs(solve(alt)).sum()) / (3.0 * n))


def float32_factor(
    K: Any, name: str = "K", regularization: float = 0.0, tile: int = TILE
) -> Float32Factor:
    """Float32 Cholesky of K + reg I by tiles (right-looking: potrf of the diagonal tile,
    trsm of the column below it, syrk/gemm of the trailing tiles; n^3 / 3 operations,
    memory the lower triangle, n^2 / 2 * 4 bytes). K is read once, tile by tile, so it
    may be a memory map; its 1-norm is taken on the way for the condition estimate
    (1-norm of K + reg I times the estimate of ||(L L^T)^-1||_1).

    Raises ``IllConditionedKernel`` when float32 Cholesky fails (K not positive definite
    to float32 precision: add a regularization)."""
    n = K.shape[0]
    starts = tuple(range(0, n, tile)) + (n,)
    T = len(starts) - 1
    sl = [slice(starts[i], starts[i + 1]) for i in range(T)]
    tiles = [[None] * (i + 1) for i in range(T)]
    row_sums = np.zeros(n)
    diag_sum = 0.0
    for i in range(T):
        rows = np.asarray(K[sl[i]], dtype=np.float32)  # one row band, float32
        row_sums[sl[i]] = np.abs(rows).sum(axis=1, dtype=np.float64)
        for j in range(i + 1):
            tiles[i][j] = np.asfortranarray(rows[:, sl[j]])
        del rows
        d = tiles[i][i]
        diag_sum += float(np.sum(np.diagonal(d), dtype=np.float64))
        if regularization:
            d[np.diag_indices(d.shape[0])] += np.float32(regularization)
    # one BLAS for every tile operation (scipy's: numpy's is another OpenBLAS, whose idle
    # threads would spin against it)
    blas = scipy.linalg.blas
    sgemm, ssyrk, strsm = blas.sgemm, blas.ssyrk, blas.strsm
    for k in range(T):
        L, info = scipy.linalg.lapack.spotrf(tiles[k][k], lower=1, clean=1, overwrite_a=1)
        if info != 0:
            raise _not_positive_definite(name, n, starts[k] + info, regularization)
        tiles[k][k] = L
        if k + 1 == T:
            break
        for i in range(k + 1, T):  # the column below: X L_kk^T = A_ik
            tiles[i][k] = strsm(1.0, L, tiles[i][k], side=1, lower=1, trans_a=1, overwrite_b=1)
        for j in range(k + 1, T):  # the trailing tiles: A_ij -= L_ik L_jk^T, i >= j
            Ljk = tiles[j][k]
            tiles[j][j] = ssyrk(-1.0, Ljk, beta=1.0, c=tiles[j][j], lower=1, overwrite_c=1)
            for i in range(j + 1, T):
                tiles[i][j] = sgemm(
                    -1.0, tiles[i][k], Ljk, beta=1.0, c=tiles[i][j], trans_b=1, overwrite_c=1
                )
    for k in range(T):  # the strict upper triangle of a diagonal tile is not L's
        tiles[k][k] = np.asfortranarray(np.tril(tiles[k][k]))
    tiles = tuple(tuple(row) for row in tiles)
    anorm = float(row_sums.max()) + regularization  # 1-norm = max row sum (symmetric)
    inv_norm = _inverse_one_norm(
        lambda v: _tri_solve(tiles, starts, np.asarray(v).reshape(n, 1))[:, 0].astype(float), n
    )
    cond = anorm * inv_norm if np.isfinite(inv_norm) else float("inf")
    return Float32Factor(tiles, starts, float(regularization), float(cond), diag_sum / n)


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
