"""Closed-form discrete kernel GD against explicit iteration, limits, and neural-tangents."""

import jax.numpy as jnp
import numpy as np
import pytest

import ntkfix
from ntkfix._dynamics.linearized import decay, geometric_sum
from tests.helpers import requires_nt

N, K, NT = 5, 2, 3


def _psd(rng, n):
    A = rng.normal(size=(n, n + 2))
    return A @ A.T / n


@pytest.fixture(scope="module")
def problem():
    """Random full kernel over train+test points (n+n*, n+n*, k, k), targets, outputs."""
    rng = np.random.default_rng(0)
    m = (N + NT) * K
    full = _psd(rng, m).reshape(N + NT, K, N + NT, K).transpose(0, 2, 1, 3)
    return dict(
        full_tt=full[:N, :N],
        full_st=full[N:, :N],
        y=rng.normal(size=(N, K)),
        f0=rng.normal(size=(N, K)),
        f0_test=rng.normal(size=(NT, K)),
    )


def _flat(Kf):
    n1, n2, k, _ = Kf.shape
    return Kf.transpose(0, 2, 1, 3).reshape(n1 * k, n2 * k)


def _iterate(Ktt, Kst, y, f0, f0t, eta, steps):
    """f_{t+1} = f_t - eta K (f_t - y) on flattened (n k) vectors, test by the cross kernel."""
    f, ft, out, out_t = f0.reshape(-1), f0t.reshape(-1), [], []
    for t in range(max(steps) + 1):
        if t in steps:
            out.append(f.reshape(y.shape))
            out_t.append(ft.reshape(f0t.shape))
        r = f - y.reshape(-1)
        f, ft = f - eta * Ktt @ r, ft - eta * Kst @ r
    return np.stack(out), np.stack(out_t)


@pytest.mark.parametrize("kind", ["full", "traced"])
@pytest.mark.parametrize("lr_frac", [0.3, 1.0, 1.7])
def test_matches_explicit_iteration(problem, kind, lr_frac):
    p = problem
    if kind == "full":
        Ktt, Kst = p["full_tt"], p["full_st"]
        Ktt_i, Kst_i = _flat(Ktt), _flat(Kst)
    else:  # traced kernel stands for K ⊗ I_k
        Ktt, Kst = p["full_tt"][:, :, 0, 0], p["full_st"][:, :, 0, 0]
        Ktt_i, Kst_i = np.kron(Ktt, np.eye(K)), np.kron(Kst, np.eye(K))
    lam_max = np.linalg.eigvalsh(Ktt_i)[-1]
    lr = lr_frac * N / lam_max
    steps = [0, 1, 2, 7, 40]
    tr = ntkfix.linearized_trajectory(
        Ktt, p["y"], p["f0"], lr, steps, k_test_train=Kst, f0_test=p["f0_test"]
    )
    ref, ref_t = _iterate(Ktt_i, Kst_i, p["y"], p["f0"], p["f0_test"], lr / N, steps)
    scale = np.abs(p["f0"] - p["y"]).max()
    np.testing.assert_allclose(tr.train, ref, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(tr.test, ref_t, rtol=0, atol=1e-11 * scale)
    assert tr.lr == lr and tr.steps.tolist() == steps


def test_limits(problem):
    """t = 0 gives f_0; t -> inf gives Y on train and kernel regression on test."""
    p = problem
    Ktt, Kst = p["full_tt"], p["full_st"]
    lr = N / np.linalg.eigvalsh(_flat(Ktt))[-1]
    tr = ntkfix.linearized_trajectory(
        Ktt, p["y"], p["f0"], lr, [0, 10**7], k_test_train=Kst, f0_test=p["f0_test"]
    )
    np.testing.assert_array_equal(tr.train[0], p["f0"])
    np.testing.assert_array_equal(tr.test[0], p["f0_test"])
    np.testing.assert_allclose(tr.train[1], p["y"], rtol=0, atol=1e-10)
    dual = np.linalg.solve(_flat(Ktt), (p["y"] - p["f0"]).reshape(-1))
    krr = p["f0_test"] + (_flat(Kst) @ dual).reshape(NT, K)
    np.testing.assert_allclose(tr.test[1], krr, rtol=1e-8, atol=1e-10)


@requires_nt
@pytest.mark.parametrize("kind", ["full", "traced"])
def test_continuous_limit_matches_neural_tangents(problem, nt, kind):
    """Discrete GD -> nt's gradient flow as lr -> 0 at fixed lr * steps; the gap is O(lr).

    nt normalises the loss by y.size = n k, ntkfix by n: nt's learning_rate is k * lr.
    """
    p = problem
    if kind == "full":
        Ktt, Kst, axes = p["full_tt"], p["full_st"], ()
    else:
        Ktt, Kst, axes = p["full_tt"][:, :, 0, 0], p["full_st"][:, :, 0, 0], (-1,)
    lam_max = np.linalg.eigvalsh(_flat(p["full_tt"]) if kind == "full" else Ktt)[-1]
    horizon = 3.0 * N / lam_max  # lr * steps: the stiffest mode decays by e^-3
    gaps = []
    for steps in (10**3, 10**4):
        lr = horizon / steps
        ours = ntkfix.linearized_trajectory(
            Ktt, p["y"], p["f0"], lr, [steps], k_test_train=Kst, f0_test=p["f0_test"]
        )
        fn = nt.predict.gradient_descent_mse(
            jnp.asarray(Ktt), jnp.asarray(p["y"]), learning_rate=K * lr, trace_axes=axes
        )
        ref, ref_t = fn(
            float(steps), jnp.asarray(p["f0"]), jnp.asarray(p["f0_test"]), jnp.asarray(Kst)
        )
        gaps.append(max(np.abs(ours.train[0] - ref).max(), np.abs(ours.test[0] - ref_t).max()))
    assert gaps[0] < 1e-2
    assert 8 < gaps[0] / gaps[1] < 12  # first order in lr


@pytest.mark.parametrize(
    "a, t, want",
    [
        (0.0, 5, (1.0, 5.0)),
        (1.0, 0, (1.0, 0.0)),
        (1.0, 3, (0.0, 1.0)),
        (1.5, 3, (-0.125, (1 - (-0.5) ** 3) / 1.5)),
        (2.0, 4, (1.0, 0.0)),
        (-0.1, 2, (1.21, 2.1)),
        (1e-12, 10, (1 - 1e-11 + 45e-24, 10 - 45e-12)),
    ],
)
def test_decay_and_geometric_sum(a, t, want):
    a_ = jnp.asarray(a, jnp.float64)
    assert float(decay(a_, t)) == pytest.approx(want[0], rel=1e-14, abs=1e-15)
    assert float(geometric_sum(a_, t)) == pytest.approx(want[1], rel=1e-14, abs=1e-15)


Y = np.zeros((3, 1))
KK = np.eye(3)


@pytest.mark.parametrize(
    "call, exc, msg",
    [
        (
            lambda: ntkfix.linearized_trajectory(np.eye(2), Y, Y, 1.0, [1]),
            ValueError,
            r"k_train_train must have shape \(3, 3\)",
        ),
        (
            lambda: ntkfix.linearized_trajectory(KK, Y, np.zeros((3, 2)), 1.0, [1]),
            ValueError,
            r"f0_train must have shape \(3, 1\)",
        ),
        (
            lambda: ntkfix.linearized_trajectory(KK, Y, Y, -1.0, [1]),
            ValueError,
            "lr must be a finite number >= 0",
        ),
        (
            lambda: ntkfix.linearized_trajectory(KK, Y, Y, 1.0, [1.5]),
            ValueError,
            "steps must be a 1-D array of non-negative integers",
        ),
        (
            lambda: ntkfix.linearized_trajectory(KK, Y, Y, 1.0, [-1]),
            ValueError,
            "steps must be a 1-D array",
        ),
        (
            lambda: ntkfix.linearized_trajectory(KK, Y, Y, 1.0, [1], k_test_train=np.ones((2, 3))),
            ValueError,
            "must be given together",
        ),
        (
            lambda: ntkfix.linearized_trajectory(
                KK, Y, Y, 1.0, [1], k_test_train=np.ones((2, 4)), f0_test=np.ones((2, 1))
            ),
            ValueError,
            r"k_test_train must have shape \(2, 3\)",
        ),
        (
            lambda: ntkfix.linearized_trajectory(np.full((3, 3), np.nan), Y, Y, 1.0, [1]),
            ValueError,
            "k_train_train contains NaN",
        ),
    ],
)
def test_errors(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


# ---- found in review (moved from test_review_fixes.py) ----
def test_linearized_trajectory_refuses_a_non_symmetric_kernel():
    with pytest.raises(ValueError, match="k_train_train must be symmetric"):
        ntkfix.linearized_trajectory(
            np.array([[1.0, 1.0], [0.0, 1.0]]), np.ones(2), np.zeros(2), 1.0, [0, 1]
        )
