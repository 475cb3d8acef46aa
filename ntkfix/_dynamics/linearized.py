"""Closed-form discrete gradient descent of the linearized network (kernel GD).

Loss ``L = 1/(2n) ||f(X) - Y||_F^2`` on n training points with k outputs, step size
``lr``, and ``eta = lr / n``. A network linearized at theta_0 (Lee et al. 2019,
arXiv:1902.06720; Jacot et al. 2018, arXiv:1806.07572) trained by gradient descent
moves in function space as

    f_{t+1}(X)  = f_t(X)  - eta * Theta(X, X)  vec(f_t(X) - Y)
    f_{t+1}(x*) = f_t(x*) - eta * Theta(x*, X) vec(f_t(X) - Y)

with Theta the *full* empirical NTK at theta_0 (``n k x n k``: output pairs kept,
``vec`` row-major over (n, k)). With Theta(X, X) = V diag(lam) V^T and
c = V^T vec(f_0(X) - Y):

    f_t(X)  = Y + V diag((1 - eta lam)^t) c  =  f_0(X) - V diag(1 - (1 - eta lam)^t) c
    f_t(x*) = f_0(x*) - eta Theta(x*, X) V diag(S_t(eta lam)) c,
    S_t(a)  = sum_{s<t} (1 - a)^s = (1 - (1 - a)^t) / a      (= t at a = 0).

For 0 < eta lam < 2 the train predictions tend to Y and the test predictions to
kernel regression f_0(x*) + Theta(x*, X) Theta^{-1} (Y - f_0(X)). In the limit
eta -> 0 with eta t fixed, (1 - eta lam)^t -> exp(-eta lam t): neural-tangents'
``predict.gradient_descent_mse`` at time t with ``learning_rate = k * lr``
(it normalises the loss by ``y.size = n k``, this module by n).

A traced kernel (shape (n, n), neural-tangents' ``trace_axes=(-1,)``) stands for
Theta ⊗ I_k: each output column evolves on its own. That is exact at infinite
width (and for k = 1), an approximation at finite width when k > 1.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ntkfix._core.validate import (
    as_float_array,
    check_finite,
    check_nonneg_float,
    check_outputs,
    check_square_kernel,
    check_targets,
)
from ntkfix._kernels.layout import flatten_full


def decay(a: jax.Array, t: jax.Array) -> jax.Array:
    """(1 - a)^t for integer-valued t >= 0, accurate for small |a| (via log1p)."""
    t = jnp.asarray(t, a.dtype)
    small = jnp.abs(a) < 0.5
    via_log = jnp.exp(t * jnp.log1p(-jnp.where(small, a, 0.0)))
    via_pow = jnp.power(1.0 - jnp.where(small, 0.0, a), t)
    return jnp.where(small, via_log, via_pow)


def one_minus_decay(a: jax.Array, t: jax.Array) -> jax.Array:
    """1 - (1 - a)^t, accurate for small |a| (via expm1/log1p); exactly 0 at t = 0."""
    t = jnp.asarray(t, a.dtype)
    small = jnp.abs(a) < 0.5
    return jnp.where(
        small,
        -jnp.expm1(t * jnp.log1p(-jnp.where(small, a, 0.0))),
        1.0 - jnp.power(1.0 - jnp.where(small, 0.0, a), t),
    )


def geometric_sum(a: jax.Array, t: jax.Array) -> jax.Array:
    """S_t(a) = sum_{s<t} (1 - a)^s = (1 - (1 - a)^t) / a, and t at a = 0."""
    zero = a == 0
    return jnp.where(zero, jnp.asarray(t, a.dtype), one_minus_decay(a, t) / jnp.where(zero, 1.0, a))


class LinearizedState(NamedTuple):
    """Everything the closed form needs, computed once from Theta_0 (a pytree).

    With N = n k for a full kernel (k' = 1) or N = n for a traced one (k' = k):
      evals: (N,) eigenvalues of Theta(X, X), ascending.
      evecs: (N, N) eigenvectors (columns).
      coef: (N, k') c = V^T (f_0(X) - Y).
      y, f0: (n, k) targets and initial train outputs.
      cross: (M, N) Theta(x*, X) V, or None (M = n* k or n*).
      f0_test: (n*, k) f_0(x*), or None.
    """

    evals: jax.Array
    evecs: jax.Array
    coef: jax.Array
    y: jax.Array
    f0: jax.Array
    cross: jax.Array | None
    f0_test: jax.Array | None


def linearized_state(
    k_train_train: jax.Array,
    y: jax.Array,
    f0_train: jax.Array,
    k_test_train: jax.Array | None = None,
    f0_test: jax.Array | None = None,
    eigh: tuple[jax.Array, jax.Array] | None = None,
) -> LinearizedState:
    """Eigendecompose Theta(X, X) and project the initial residual (traceable, unvalidated).

    Args:
      k_train_train: (n, n) traced or (n, n, k, k) full NTK at theta_0.
      y, f0_train: (n, k) targets and initial outputs.
      k_test_train: (n*, n) or (n*, n, k, k) cross kernel, same kind as k_train_train.
      f0_test: (n*, k) initial test outputs.
      eigh: optional precomputed ``(evals, evecs)`` of the flattened, symmetrised kernel.
    """
    n, k = y.shape
    full = k_train_train.ndim == 4
    if eigh is None:
        K = flatten_full(k_train_train)
        eigh = jnp.linalg.eigh((K + K.T) / 2)
    evals, evecs = eigh
    resid = f0_train - y
    coef = evecs.T @ (resid.reshape(n * k, 1) if full else resid)
    cross = None if k_test_train is None else flatten_full(k_test_train) @ evecs
    return LinearizedState(evals, evecs, coef, y, f0_train, cross, f0_test)


def linearized_predict(state: LinearizedState, eta: jax.Array, t: jax.Array):
    """Train and test predictions after t steps (module formula); t a scalar step count.

    Returns:
      ``(f_train, f_test)``, shapes (n, k) and (n*, k) (``f_test`` None without test data).
    """
    a = eta * state.evals
    shape = state.y.shape
    # f_t = f_0 - V (1 - (1 - a)^t) c: exact at t = 0, -> Y as t -> inf.
    f_train = state.f0 - (state.evecs @ (one_minus_decay(a, t)[:, None] * state.coef)).reshape(
        shape
    )
    if state.cross is None:
        return f_train, None
    step = state.cross @ (geometric_sum(a, t)[:, None] * state.coef)
    return f_train, state.f0_test - eta * step.reshape(state.f0_test.shape)


@dataclasses.dataclass(frozen=True, eq=False)
class LinearizedTrajectory:
    """Predictions of the linearized network under discrete GD.

    Attributes:
      steps: (T,) step counts.
      train: (T, n, k) f_t(X).
      test: (T, n*, k) f_t(x*), or None.
      lr: the step size (loss 1/(2n) ||f - Y||^2).
    """

    steps: np.ndarray
    train: np.ndarray
    test: np.ndarray | None
    lr: float


def _check_kernel(K: Any, name: str, rows: int, cols: int, k: int | None) -> jax.Array:
    arr = as_float_array(K, name)
    ok = (arr.ndim == 2 and arr.shape == (rows, cols)) or (
        arr.ndim == 4 and arr.shape[:2] == (rows, cols) and arr.shape[2] == arr.shape[3] == k
    )
    if not ok:
        raise ValueError(
            f"{name} must have shape {(rows, cols)} (traced) or {(rows, cols, k, k)} (full), "
            f"got {tuple(arr.shape)}"
        )
    check_finite(arr, name)
    return arr


def linearized_trajectory(
    k_train_train: Any,
    y_train: Any,
    f0_train: Any,
    lr: float,
    steps: Any,
    *,
    k_test_train: Any = None,
    f0_test: Any = None,
) -> LinearizedTrajectory:
    """Closed-form discrete-GD trajectory of the linearized network (module formulas).

    Args:
      k_train_train: NTK at theta_0 on the training inputs, (n, n) traced or
        (n, n, k, k) full (exact for the network's own linearization).
      y_train: (n, k) targets ((n,) accepted for k = 1).
      f0_train: (n, k) network outputs at theta_0.
      lr: step size for the loss 1/(2n) ||f - Y||_F^2 (eta = lr / n).
      steps: non-negative integer step counts, shape (T,).
      k_test_train: (n*, n) or (n*, n, k, k) cross kernel Theta_0(x*, X), same kind.
      f0_test: (n*, k) outputs at theta_0 on the test inputs.

    Returns:
      a ``LinearizedTrajectory``.

    Examples:
      >>> import numpy as np, ntkfix
      >>> K = np.array([[2.0, 0.5], [0.5, 1.0]])
      >>> tr = ntkfix.linearized_trajectory(K, np.ones((2, 1)), np.zeros((2, 1)), 1.0, [0, 1])
      >>> tr.train[1].ravel().round(3).tolist()   # f_1 = f_0 - (lr/n) K (f_0 - y)
      [1.25, 0.75]
    """
    y = check_targets(y_train, "y_train")
    n, k = y.shape
    f0 = check_outputs(f0_train, "f0_train", (n, k))
    K = _check_kernel(k_train_train, "k_train_train", n, n, k)
    check_square_kernel(
        flatten_full(np.asarray(K)),
        "k_train_train",
        symmetric=True,
    )
    lr = check_nonneg_float(lr, "lr")
    t = np.asarray(steps)
    if t.ndim != 1 or t.dtype.kind not in "iu" or (t < 0).any():
        raise ValueError(f"steps must be a 1-D array of non-negative integers, got {steps!r}")
    if (k_test_train is None) != (f0_test is None):
        raise ValueError("k_test_train and f0_test must be given together")
    Kt = ft = None
    if k_test_train is not None:
        kt_arr = as_float_array(k_test_train, "k_test_train")
        m = kt_arr.shape[0] if kt_arr.ndim >= 1 else -1
        Kt = _check_kernel(kt_arr, "k_test_train", m, n, k)
        if Kt.ndim != K.ndim:
            raise ValueError("k_test_train and k_train_train must both be traced or both full")
        ft = check_outputs(f0_test, "f0_test", (m, k))
    state = linearized_state(K, y, f0, Kt, ft)
    eta = jnp.asarray(lr / n, K.dtype)
    tr, te = jax.vmap(lambda s: linearized_predict(state, eta, s))(jnp.asarray(t, K.dtype))
    return LinearizedTrajectory(
        steps=t.copy(),
        train=np.asarray(tr),
        test=None if te is None else np.asarray(te),
        lr=lr,
    )
