"""Rate fits on synthetic curves with known answers, the kernel-GD prediction, steps to eps."""

import numpy as np
import pytest

import ntkfix
from ntkfix._dynamics.rates import steps_to_reach


@pytest.mark.parametrize("stride", [1, 5])
def test_fit_recovers_known_rate(stride):
    """Slow mode 0.9 plus a fast transient 0.3 and a rounding plateau: the tail fit is 0.9."""
    t = np.arange(0, 400, stride)
    values = np.maximum(2.0 * 0.9**t + 50.0 * 0.3**t, 1e-20)
    fit = ntkfix.fit_geometric_rate(t, values)
    assert fit.rate == pytest.approx(0.9, rel=1e-12)
    assert fit.log_intercept == pytest.approx(np.log(2.0), rel=1e-10)
    assert fit.r2 == pytest.approx(1.0, abs=1e-12)
    # window: second half of the stretch above the default floor 1e3 * eps * v_0
    floor = 1e3 * np.finfo(float).eps * values[0]
    above = t[values > floor]
    assert fit.last_step == above[-1] and fit.first_step >= above[len(above) // 2 - 1]
    assert fit.n_points == np.sum((t >= fit.first_step) & (t <= fit.last_step))


def test_fit_start_and_floor():
    t = np.arange(100)
    values = 2.0 * 0.9**t + 50.0 * 0.3**t
    early = ntkfix.fit_geometric_rate(t, values, start=0)  # transient included: biased
    assert early.rate < 0.9 and early.r2 < 0.999 and early.first_step == 0
    late = ntkfix.fit_geometric_rate(t, values, start=40, floor=1e-3)
    assert late.rate == pytest.approx(0.9, rel=1e-9)
    assert late.first_step == 40 and late.last_step == int(np.log(1e-3 / 2) / np.log(0.9))


def test_predicted_rate_formula():
    # lr = n / lam_max: rho = 1 - lam_min / lam_max
    assert ntkfix.predicted_loss_rate(1.0, 4.0, lr=10 / 4, n=10) == pytest.approx(0.75**2)
    # large step: the stiff mode |1 - 1.8| = 0.8 dominates 1 - 0.45 = 0.55
    assert ntkfix.predicted_loss_rate(1.0, 4.0, lr=1.8 * 10 / 4, n=10) == pytest.approx(0.64)


def test_steps_to_reach():
    t = np.array([0, 10, 20, 30])
    assert steps_to_reach(t, [1.0, 0.1, 0.01, 0.001], 0.01) == 20
    assert steps_to_reach(t, [1.0, 0.1, 0.01, 0.001], 1e-9) is None


class _Result:
    """A minimal stand-in for a TrainResult of pure kernel GD with known eigenvalues."""

    def __init__(self, lam, lr, n, steps, coef):
        eta = lr / n
        loss = 0.5 * ((coef[None, :] * (1 - eta * lam[None, :]) ** steps[:, None]) ** 2).sum(1) / n
        self.history = ntkfix.results.History(step=steps, train_loss=loss)
        self.lr, self.n_train = lr, n
        self.lambda_min0, self.lambda_max0 = lam.min(), lam.max()


def test_convergence_rates_on_exact_kernel_gd():
    lam, n = np.array([0.5, 2.0, 4.0]), 3
    res = _Result(lam, lr=n / 4.0, n=n, steps=np.arange(0, 200, 2), coef=np.array([1.0, 3.0, 2.0]))
    r = ntkfix.convergence_rates(res, eps=1e-10)
    assert r.predicted_rate == pytest.approx((1 - 0.5 / 4) ** 2, rel=1e-14)
    assert r.fitted_rate == pytest.approx(r.predicted_rate, rel=1e-10)
    loss0 = res.history.train_loss[0]
    # exact: L_t = (1/2n) (7/8)^(2t) for the slow mode once others vanish
    t_exact = np.log(1e-10 / (0.5 / n)) / np.log((7 / 8) ** 2)
    assert r.steps_measured == 2 * int(np.ceil(t_exact / 2))
    assert loss0 * r.predicted_rate**r.steps_predicted <= 1e-10
    assert loss0 * r.predicted_rate ** (r.steps_predicted - 1) > 1e-10
    assert r.steps_measured <= r.steps_predicted
    assert abs(r.steps_fitted - t_exact) <= 1


@pytest.mark.parametrize(
    "call, exc, msg",
    [
        (lambda: ntkfix.fit_geometric_rate([0, 1], [1.0]), ValueError, "same length"),
        (lambda: ntkfix.fit_geometric_rate([1, 0], [1.0, 0.5]), ValueError, "strictly increasing"),
        (lambda: ntkfix.fit_geometric_rate([0], [1.0]), ValueError, "at least 2 points"),
        (
            lambda: ntkfix.fit_geometric_rate([0, 1, 2], [1.0, 1e-30, 1e-31]),
            ValueError,
            "above floor",
        ),
        (
            lambda: ntkfix.fit_geometric_rate([0, 1], [1.0, 0.5], floor=-1),
            ValueError,
            "floor must be",
        ),
        (
            lambda: ntkfix.convergence_rates(
                _Result(np.ones(2), 1.0, 2, np.arange(5), np.ones(2)), eps=0
            ),
            ValueError,
            "eps must be > 0",
        ),
    ],
)
def test_errors(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()
