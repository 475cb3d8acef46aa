"""Kernel complexity sqrt(2 y^T K^-1 y / n) and the NTK generalization bound built on it.

Reference: Arora, Du, Hu, Li, Wang (2019), arXiv:1901.08584, Theorem 5.1: for the
two-layer ReLU net of ``ntkfix._generalization.arora`` (readout frozen, unit-norm inputs, |y| <= 1,
width m large and initialization scale kappa small, both polynomial in n, 1/lambda_0,
1/delta), trained by GD long enough, with probability >= 1 - delta, for any loss
l: R x R -> [0, 1] that is 1-Lipschitz in its first argument with l(y, y) = 0:

    E[l(f(x), y)]  <=  sqrt(2 y^T (H^infty)^-1 y / n)  +  O(sqrt(log(n / (lambda_0 delta)) / n)),

lambda_0 = lambda_min(H^infty) > 0. For y in {-1, +1} the ramp loss
l(u, y) = min(1, max(0, 1 - u y)) qualifies and bounds the 0-1 error of sign(f).

All solves go through ``ntkfix._generalization.linalg.factorize`` (Cholesky in float64, condition
check, ``IllConditionedKernel`` instead of NaN; ``jitter`` adds a reported diagonal).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from ntkfix._core.validate import (
    as_host_float64,
    check_choice,
    check_fraction,
    check_targets,
)
from ntkfix._generalization.large import as_kernel_array, checked_factor, use_pcg
from ntkfix._generalization.large import lambda_min as pcg_lambda_min
from ntkfix._generalization.large import solve as pcg_solve
from ntkfix._generalization.linalg import factorize

SETTINGS = ("two_layer", "deep")

REFERENCES = {
    "two_layer": "Arora et al. 2019, arXiv:1901.08584, Thm 5.1",
    "deep": "Cao & Gu 2019, arXiv:1905.13210, NTK form (order-of-magnitude stand-in)",
}


@dataclasses.dataclass(frozen=True)
class Complexity:
    """Result of ``complexity(..., return_info=True)``.

    Attributes:
      value: sqrt(2 q / n), q = sum over outputs of y_c^T (K + jitter I)^-1 y_c.
      quadratic_form: q.
      n: number of training points.
      n_outputs: number of output columns k of y.
      jitter: absolute diagonal term added to K (0.0 if none).
      condition_number: 1-norm condition estimate of K + jitter I.
    """

    value: float
    quadratic_form: float
    n: int
    n_outputs: int
    jitter: float
    condition_number: float

    def __repr__(self) -> str:
        return (
            f"Complexity(value={self.value:.4g}, quadratic_form={self.quadratic_form:.4g}, "
            f"n={self.n}, n_outputs={self.n_outputs}, jitter={self.jitter:.3g}, "
            f"condition_number={self.condition_number:.3g})"
        )


@dataclasses.dataclass(frozen=True)
class GeneralizationBound:
    """Pieces of ``generalization_bound``; ``total = complexity + confidence``;
    ``vacuous`` when total > 1 (said by ``str``).

    Attributes:
      complexity: sqrt(2 y^T (K + jitter I)^-1 y / n).
      confidence: the confidence term (formula in ``generalization_bound``).
      total: complexity + confidence.
      n, delta: sample size and failure probability.
      lambda_min: smallest eigenvalue of K + jitter I (lambda_0 in the theorem).
      jitter: absolute diagonal term added to K (0.0 if none).
      condition_number: 1-norm condition estimate of K + jitter I.
      diag_mean: mean of diag(K): 1/2 for H^infty on unit-norm inputs; a kernel
        c H^infty gives a complexity divided by sqrt(c).
      setting: "two_layer" or "deep".
      reference: the result the numbers instantiate.
    """

    complexity: float
    confidence: float
    total: float
    n: int
    delta: float
    lambda_min: float
    jitter: float
    condition_number: float
    diag_mean: float
    setting: str
    reference: str

    @property
    def vacuous(self) -> bool:
        """True when ``total > 1``: a 0-1 error (any loss in [0, 1]) is at most 1 anyway,
        so the bound says nothing."""
        return self.total > 1.0

    def __str__(self) -> str:
        verdict = (
            "VACUOUS: above 1, it says nothing about a 0-1 error"
            if self.vacuous
            else "non-vacuous (below 1)"
        )
        return (
            f"generalization bound {self.total:.4g} = complexity {self.complexity:.4g} + "
            f"confidence {self.confidence:.4g} (n={self.n}, delta={self.delta:g}, "
            f"{self.setting}): {verdict}"
        )

    def __repr__(self) -> str:
        return (
            f"GeneralizationBound(total={self.total:.4g} = complexity {self.complexity:.4g} "
            f"+ confidence {self.confidence:.4g}{' (VACUOUS: > 1)' if self.vacuous else ''}\n"
            f"  n={self.n}, delta={self.delta:g}, lambda_min={self.lambda_min:.3g}, "
            f"diag_mean={self.diag_mean:.3g}, jitter={self.jitter:.3g}, "
            f"condition_number={self.condition_number:.3g}, setting={self.setting!r})"
        )


def _complexity(K, y, jitter, max_condition, solver="auto"):
    """(Complexity, factor, Y (n, k) float64, lambda_min function)."""
    if use_pcg(K, solver):
        K = as_kernel_array(K, "K")
        factor = checked_factor(K, "K", jitter, max_condition, "jitter")
        Y = check_targets(y, "y", rows=factor.n, against="K", host=True)
        X, _ = pcg_solve(K, Y, factor)
        lam = lambda: pcg_lambda_min(K, factor)  # noqa: E731
    else:
        factor = factorize(K, "K", regularization=jitter, max_condition=max_condition)
        Y = check_targets(y, "y", rows=factor.n, against="K", host=True)
        X = factor.solve(Y)

        def lam():
            A = as_host_float64(K, "K")
            A = (A + A.T) / 2 + factor.regularization * np.eye(factor.n)
            return float(np.linalg.eigvalsh(A)[0])

    q = float(np.sum(Y * X))
    value = math.sqrt(2.0 * max(q, 0.0) / factor.n)
    info = Complexity(
        value, q, factor.n, Y.shape[1], factor.regularization, factor.condition_number
    )
    return info, factor, Y, lam


def complexity(
    K: Any,
    y: Any,
    *,
    jitter: float | str = 0.0,
    max_condition: float | None = None,
    return_info: bool = False,
    solver: str = "auto",
) -> float | Complexity:
    """Data-dependent complexity sqrt(2 y^T K^-1 y / n) (Arora et al. 2019, arXiv:1901.08584).

    Solved by Cholesky in float64. Multi-output y (n, k): the quadratic form is summed
    over outputs, sqrt(2 sum_c y_c^T K^-1 y_c / n) (the Frobenius-norm analogue for a
    kernel shared by all outputs, as in a traced NTK).

    Args:
      K: (n, n) symmetric positive definite kernel on the training inputs.
      y: (n,) or (n, k) targets.
      jitter: 0.0 (default: none, ill-conditioned K raises), an absolute value added
        to the diagonal, or "auto" (the smallest of 0, 1e-12, ..., 1e-4 x mean(diag K)
        that makes K solvable). The amount used is in ``Complexity.jitter``.
      max_condition: largest accepted condition estimate (default 0.1 / eps(K.dtype)).
      return_info: also return the pieces, as a ``Complexity``.
      solver: "cholesky" (float64 Cholesky in memory), "float32_pcg" (a float32
        Cholesky as the preconditioner of float64 conjugate gradients, K streamed in row
        blocks: n = 50,000 fits 24 GB, K may be a read-only ``numpy.memmap``;
        ``ntkfix._generalization.large``) or "auto" (PCG for a memory map or when a
        float64 copy and factor would not fit half the available memory).

    Returns:
      the complexity as a float, or a ``Complexity`` when ``return_info``.

    Raises:
      IllConditionedKernel: K singular or too ill-conditioned (with its condition number).

    Examples:
      >>> import numpy as np, ntkfix
      >>> round(ntkfix.complexity(np.eye(2) / 2, [1.0, -1.0]), 12)  # sqrt(2 * 4 / 2)
      2.0
    """
    info, _, _, _ = _complexity(K, y, jitter, max_condition, solver)
    return info if return_info else info.value


def _confidence(setting: str, n: int, delta: float, lambda_min: float) -> float:
    if setting == "two_layer":
        return 3.0 * math.sqrt(math.log(2.0 * max(n / lambda_min, 1.0) / delta) / (2.0 * n))
    return 3.0 * math.sqrt(math.log(2.0 / delta) / (2.0 * n))


def generalization_bound(
    K: Any,
    y: Any,
    delta: float = 0.05,
    *,
    setting: str = "two_layer",
    jitter: float | str = 0.0,
    max_condition: float | None = None,
    solver: str = "auto",
) -> GeneralizationBound:
    """NTK generalization bound: complexity + confidence, with each constant stated.

    setting="two_layer" (Arora et al. 2019, arXiv:1901.08584, Thm 5.1). K must be
    H^infty: the NTK of the hidden layer of a two-layer ReLU net with the readout
    frozen at random signs and 1/sqrt(m) scaling, on unit-norm inputs (diagonal 1/2):
    ``arora_kernel(x)`` or ``infinite_ntk(arora_spec(d), x, trainable=0)``, or the
    finite-width ``empirical_ntk`` of that net with ``trainable=0``. Targets |y_i| <= 1.
    The bound on the test loss of any [0, 1]-valued 1-Lipschitz loss (e.g. the ramp
    loss, which bounds the 0-1 error of sign(f) for y in {-1, +1}) is

        complexity = sqrt(2 y^T K^-1 y / n)                    (= 2 R_S, R_S <= B / sqrt(2n),
                                                                 B = sqrt(y^T H^-1 y))
        confidence = 3 sqrt(log(2 max(n / lambda_0, 1) / delta) / (2 n)),
        lambda_0 = lambda_min(K).

    The confidence term is our choice of the theorem's O(sqrt(log(n/(lambda_0 delta))/n)):
    the 3 sqrt(log(2/delta')/(2n)) of the standard Rademacher bound (Bartlett &
    Mendelson 2002; Mohri et al. 2018, Thm 3.3) with delta' = lambda_0 delta / n paying
    for the union bound over the radii B the proof covers. Left out: the training loss
    (-> 0 for GD run long enough when lambda_0 > 0; add it yourself when not), the
    finite-width and initialization-scale (kappa) terms, which vanish in the theorem's
    regime (m polynomially large, kappa small), and the split of delta among the
    theorem's events.

    setting="deep" (depth > 1, all layers trained). Cao & Gu (2019, arXiv:1905.13210,
    the NTK form of their main bound) bound the expected 0-1 error of a deep ReLU net
    trained by SGD by O~(L sqrt(y^T Theta^-1 y / n)) + O(sqrt(log(1/delta) / n)) with
    Theta their deep NTK (unit-norm inputs). Their constants, log factors and the factor L are
    unknown: this setting reports the same complexity sqrt(2 y^T K^-1 y / n) for
    comparability with the two-layer case, the confidence 3 sqrt(log(2/delta) / (2n)),
    and their sum as an order-of-magnitude stand-in, NOT a certified bound.

    For setting="two_layer" a K whose mean diagonal is more than 20% away from 1/2 is
    refused (ValueError): it is not in the normalisation the constants assume.

    Args:
      K: (n, n) training kernel (see above for its normalization).
      y: (n,) or (n, 1) targets with |y_i| <= 1 (scalar output only: use one-vs-rest
        columns for several outputs).
      delta: failure probability in (0, 1).
      setting: "two_layer" or "deep".
      jitter, max_condition, solver: as in ``complexity`` (with PCG lambda_0 comes from
        Lanczos on the inverse of the float32 factor, relative accuracy ~1e-6).

    Returns:
      a ``GeneralizationBound``.
    """
    check_choice(setting, "setting", SETTINGS)
    delta = check_fraction(delta, "delta", open_left=True, open_right=True)
    info, factor, Y, lam = _complexity(K, y, jitter, max_condition, solver)
    if Y.shape[1] != 1:
        raise ValueError(
            f"y must be a single output (n,) or (n, 1) for the bound, got {Y.shape[1]} columns; "
            "bound each one-vs-rest column separately"
        )
    if np.abs(Y).max() > 1.0 + 1e-12:
        raise ValueError(
            "y must satisfy |y_i| <= 1 (the theorem's assumption), got max |y| = "
            f"{np.abs(Y).max():.4g}"
        )
    lambda_min = lam()
    if not lambda_min > 0:
        raise ValueError(
            f"K has lambda_min = {lambda_min:.3g} <= 0: the bound needs a positive definite K"
        )
    if setting == "two_layer" and abs(factor.mean_diag / 0.5 - 1.0) > 0.2:
        raise ValueError(
            f"setting='two_layer' assumes Arora et al.'s normalisation (H^infty, mean diagonal "
            f"1/2 on unit-norm inputs) but K has mean diagonal {factor.mean_diag:.4g}; use "
            "ntkfix.arora_kernel(x) / arora_spec, rescale K by 0.5 / mean(diag(K)) (the "
            "complexity scales by 1/sqrt(c) for a kernel c H^infty), or setting='deep'"
        )
    conf = _confidence(setting, info.n, delta, lambda_min)
    return GeneralizationBound(
        complexity=info.value,
        confidence=conf,
        total=info.value + conf,
        n=info.n,
        delta=delta,
        lambda_min=lambda_min,
        jitter=info.jitter,
        condition_number=info.condition_number,
        diag_mean=factor.mean_diag,
        setting=setting,
        reference=REFERENCES[setting],
    )
