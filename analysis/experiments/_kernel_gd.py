"""Kernel gradient descent (the network linearized at theta_0) and the rates measured
curves are compared with.

- the exact kernel-GD loss curve from the NTK at initialization (``kernel_gd``);
- a log-linear rate fit on a window of a curve (``window_rate``);
- ``ntkfix.convergence_rates`` / ``ntkfix.predicted_loss_rate`` for one seed of a
  ``train_many`` result (``rates_or_none``, ``predicted_rate``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

import ntkfix
from analysis.experiments._rows import NAN


@dataclasses.dataclass(frozen=True)
class KernelGD:
    """Loss of kernel GD with the NTK at initialization: L_t = 1/(2n) sum_i c_i^2 q_i^t.

    With Theta_0 = V diag(lam) V^T on the training set, c = V^T (f_0 - Y) and
    eta = lr / n, each mode contracts by q_i = (1 - eta lam_i)^2 per step. This is the
    training loss of the network linearized at theta_0 (exactly that of a one-hidden-layer
    FAP net with only its hidden layer trained).
    """

    weights: np.ndarray  # c_i^2 / (2n)
    factors: np.ndarray  # q_i

    def loss(self, t) -> np.ndarray:
        """L_t at integer steps t (any shape)."""
        t = np.asarray(t, np.float64)[..., None]
        return np.sum(self.weights * np.power(self.factors, t), axis=-1)

    def steps_to(self, eps: float, limit: int = 10**8) -> int | None:
        """First step with L_t <= eps (exact: L_t is non-increasing when all q_i <= 1)."""
        if np.any(self.factors > 1 + 1e-9):  # some mode grows: lr above 2n / lambda_max
            return None
        if self.loss(0) <= eps:
            return 0
        hi = 1
        while self.loss(hi) > eps:
            if hi > limit:
                return None
            hi *= 2
        lo = hi // 2  # L_lo > eps >= L_hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if self.loss(mid) > eps else (lo, mid)
        return hi


def kernel_gd(spec: ntkfix.MLP, params0, x, y, lr: float, trainable=None) -> KernelGD:
    """``KernelGD`` for the net ``spec`` at ``params0`` (ReLU and FAP share Theta_0 there)."""
    K = np.asarray(ntkfix.empirical_ntk(spec, params0, x, trainable=trainable), np.float64)
    lam, V = np.linalg.eigh((K + K.T) / 2)
    resid = np.asarray(spec.apply(params0, x), np.float64) - np.asarray(y, np.float64)
    c = V.T @ resid[:, 0]
    n = K.shape[0]
    return KernelGD(weights=c**2 / (2 * n), factors=(1 - float(lr) / n * lam) ** 2)


def window_rate(steps, values, first: int, last: int) -> float:
    """Per-step factor exp(slope) of a log-linear least-squares fit over steps first..last."""
    s, v = np.asarray(steps), np.asarray(values, np.float64)
    keep = (s >= first) & (s <= last) & (v > 0)
    if keep.sum() < 2:
        return NAN
    return float(np.exp(np.polyfit(s[keep].astype(np.float64), np.log(v[keep]), 1)[0]))


def rates_or_none(result, eps: float, seed_index: int):
    """``ntkfix.convergence_rates`` for one seed, or None when the curve is too short to fit."""
    try:
        return ntkfix.convergence_rates(result, eps=eps, seed=seed_index)
    except ValueError:
        return None


def predicted_rate(result, seed_index: int) -> float:
    """Kernel-GD slowest-mode loss factor of one seed (``ntkfix.predicted_loss_rate``)."""
    pick = lambda a: float(np.asarray(a)[seed_index])
    return ntkfix.predicted_loss_rate(
        pick(result.lambda_min0), pick(result.lambda_max0), pick(result.lr), result.n_train
    )
