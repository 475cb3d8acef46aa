"""Geometric convergence of the training loss: measured (log-linear fit) and NTK-predicted.

Kernel GD (``ntkfix._dynamics.linearized``) on L = 1/(2n) ||f(X) - Y||_F^2 with eta = lr / n moves
the residual as r_t = (I - eta Theta) r_{t-1}, so with Theta's eigenvalues lam_i

    ||r_t|| <= rho^t ||r_0||,
    rho = max_i |1 - eta lam_i| = max(|1 - eta lam_min|, |1 - eta lam_max|),

hence L_t <= rho^(2t) L_0 and L_{t+1} / L_t -> rho^2 once the slowest mode dominates.
For lr <= 2n / (lam_min + lam_max) (in particular lr = n / lam_max), rho = 1 - lr lam_min / n
and the predicted per-step loss contraction is (1 - lr lam_min / n)^2 (Du et al. 2019,
arXiv:1810.02054; Arora et al. 2019, arXiv:1904.11955). Theta here is the full
(n k x n k) NTK at initialisation of the trained layers.

Measured: least squares of log L_t = log A + t log q over the linear phase of the curve
(the leading stretch above a floor, minus an initial transient where faster modes still
contribute), so q estimates rho^2.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from ntkfix._core.validate import check_nonneg_float


@dataclasses.dataclass(frozen=True)
class GeometricFit:
    """Least-squares fit log v_t = log_intercept + t log(rate) over steps first..last.

    Attributes:
      rate: fitted per-step factor q (for the loss: estimates rho^2).
      log_intercept: log A.
      r2: coefficient of determination of the log-linear fit (1 = exactly geometric).
      first_step, last_step: the window used; n_points: points in it.
    """

    rate: float
    log_intercept: float
    r2: float
    first_step: int
    last_step: int
    n_points: int


@dataclasses.dataclass(frozen=True)
class Rates:
    """Measured and predicted per-step loss contraction and steps to reach ``eps``.

    Attributes:
      fitted_rate: q from the log-linear fit of the measured loss (``fit`` has details).
      predicted_rate: rho^2 from lambda_min, lambda_max of Theta_0 and lr (module docstring).
      eps: the absolute training-loss level asked for.
      steps_measured: first recorded step with loss <= eps (None if never; resolution
        is the run's ``record_every``).
      steps_predicted: ceil(log(eps / L_0) / log rho^2), an upper bound for kernel GD.
      steps_fitted: the fitted line's crossing of eps.
      fit: the ``GeometricFit``.
    """

    fitted_rate: float
    predicted_rate: float
    eps: float
    steps_measured: int | None
    steps_predicted: int | None
    steps_fitted: int | None
    fit: GeometricFit


def _as_curve(steps: Any, values: Any) -> tuple[np.ndarray, np.ndarray]:
    s, v = np.asarray(steps), np.asarray(values)
    if s.ndim != 1 or v.ndim != 1 or s.shape != v.shape:
        raise ValueError(
            f"steps and values must be 1-D of the same length, got shapes {s.shape} and {v.shape}"
        )
    if s.size and (np.diff(s) <= 0).any():
        raise ValueError("steps must be strictly increasing")
    return s, v


def fit_geometric_rate(
    steps: Any, values: Any, *, floor: float | None = None, start: int | None = None
) -> GeometricFit:
    """Fit the per-step geometric factor of a decaying positive curve (e.g. a loss).

    The window is the leading stretch of points with value > ``floor`` (it ends at the
    first point at or below the floor, or non-finite), restricted to steps >= ``start``.

    Args:
      steps: (T,) increasing step numbers.
      values: (T,) the curve.
      floor: absolute floor; default ``1e3 * eps_dtype * values[0]`` (the loss's rounding
        level is far below; the default keeps clear of it).
      start: first step of the fit; default: the second half of the above-floor stretch
        (the first half is treated as the transient of faster modes).

    Returns:
      a ``GeometricFit``.

    Examples:
      >>> import numpy as np
      >>> t = np.arange(50)
      >>> round(fit_geometric_rate(t, 3.0 * 0.9**t).rate, 12)
      0.9
    """
    s, v = _as_curve(steps, values)
    if s.size < 2:
        raise ValueError(f"need at least 2 points to fit a rate, got {s.size}")
    v64 = v.astype(np.float64)
    eps = np.finfo(v.dtype).eps if v.dtype.kind == "f" else np.finfo(np.float64).eps
    floor = 1e3 * eps * v64[0] if floor is None else check_nonneg_float(floor, "floor")
    above = np.isfinite(v64) & (v64 > floor)
    stop = int(np.argmin(above)) if not above.all() else s.size
    if start is None:
        first = stop // 2
    else:
        first = int(np.searchsorted(s, start))
    idx = np.arange(first, stop)
    if idx.size < 2:
        raise ValueError(
            f"only {idx.size} point(s) above floor={floor:.3g} from step "
            f"{start if start is not None else int(s[min(first, s.size - 1)])}: lower the floor, "
            "record more often, or pass start"
        )
    t, logv = s[idx].astype(np.float64), np.log(v64[idx])
    slope, intercept = np.polyfit(t, logv, 1)
    resid = logv - (intercept + slope * t)
    ss_tot = float(np.sum((logv - logv.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else 1.0
    return GeometricFit(
        rate=float(np.exp(slope)),
        log_intercept=float(intercept),
        r2=r2,
        first_step=int(s[idx[0]]),
        last_step=int(s[idx[-1]]),
        n_points=int(idx.size),
    )


def predicted_loss_rate(lambda_min: float, lambda_max: float, lr: float, n: int) -> float:
    """rho^2 = max(|1 - lr lam_min / n|, |1 - lr lam_max / n|)^2, the kernel-GD loss factor."""
    eta = float(lr) / int(n)
    return max(abs(1 - eta * float(lambda_min)), abs(1 - eta * float(lambda_max))) ** 2


def steps_to_reach(steps: Any, values: Any, eps: float) -> int | None:
    """First step whose value is <= eps, or None."""
    s, v = _as_curve(steps, values)
    hit = np.flatnonzero(v <= eps)
    return int(s[hit[0]]) if hit.size else None


def _crossing(log_start: float, rate: float, eps: float) -> int | None:
    """Smallest t >= 0 with exp(log_start) * rate^t <= eps (None if never)."""
    gap = math.log(eps) - log_start
    if gap >= 0:
        return 0
    if rate <= 0:
        return 1
    if rate >= 1:
        return None
    return max(0, math.ceil(gap / math.log(rate) - 1e-9))


def convergence_rates(
    result: Any,
    *,
    eps: float = 1e-6,
    floor: float | None = None,
    start: int | None = None,
    seed: int | None = None,
) -> Rates:
    """Measured vs NTK-predicted loss contraction of a ``TrainResult`` (module docstring).

    Args:
      result: from ``ntkfix.train`` (or ``train_many`` with ``seed``).
      eps: absolute training-loss level for the steps-to-reach figures.
      floor, start: passed to ``fit_geometric_rate``.
      seed: position in the seed batch of a ``train_many`` result.

    Returns:
      a ``Rates``.
    """
    eps = check_nonneg_float(eps, "eps")
    if eps == 0:
        raise ValueError("eps must be > 0")
    h = result.history
    loss = np.asarray(h.train_loss)
    lr, lmin, lmax = (np.asarray(a) for a in (result.lr, result.lambda_min0, result.lambda_max0))
    if loss.ndim == 2:
        if seed is None:
            raise ValueError(
                f"result holds {loss.shape[0]} seeds: pass seed=0..{loss.shape[0] - 1}"
            )
        if not 0 <= int(seed) < loss.shape[0]:
            raise ValueError(f"seed must be in 0..{loss.shape[0] - 1}, got {seed}")
        loss, lr, lmin, lmax = loss[seed], lr[seed], lmin[seed], lmax[seed]
    elif seed is not None:
        raise ValueError("seed is only for train_many results")
    fit = fit_geometric_rate(h.step, loss, floor=floor, start=start)
    predicted = predicted_loss_rate(lmin, lmax, lr, result.n_train)
    return Rates(
        fitted_rate=fit.rate,
        predicted_rate=predicted,
        eps=eps,
        steps_measured=steps_to_reach(h.step, loss, eps),
        steps_predicted=_crossing(
            math.log(float(loss[0])) if loss[0] > 0 else -math.inf, predicted, eps
        ),
        steps_fitted=_crossing(fit.log_intercept, fit.rate, eps),
        fit=fit,
    )
