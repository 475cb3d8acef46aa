"""Arora kernel, complexity, generalization bound, kernel regression (float64).

Every number is checked against an independent computation: the closed formula in
numpy, numpy/scipy solves and eigenvalues, explicit Jacobians, neural-tangents.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import ntkfix
from ntkfix import data
from tests.helpers import RTOL, assert_close, requires_nt

R = RTOL["float64"]


def _x(n=12, d=5, seed=1):
    return np.asarray(data.sphere(jax.random.PRNGKey(seed), n, d))


def _arora_numpy(x1, x2, same=False):
    """H_ij = x_i.x_j (pi - t_ij) / (2 pi), t_ij the angle (0 for a point with itself)."""
    g = x1 @ x2.T
    norms = np.linalg.norm(x1, axis=1)[:, None] * np.linalg.norm(x2, axis=1)[None, :]
    t = np.arccos(np.clip(g / norms, -1.0, 1.0))
    if same:
        np.fill_diagonal(t, 0.0)
    return g * (np.pi - t) / (2 * np.pi)


def _labels(n, seed=3):
    return np.where(np.asarray(jax.random.normal(jax.random.PRNGKey(seed), (n,))) >= 0, 1.0, -1.0)


# ---- Arora et al.'s H^infty --------------------------------------------------------------
def test_arora_kernel_matches_formula_and_infinite_ntk():
    x = _x()
    ref = _arora_numpy(x, x, same=True)
    H = np.asarray(ntkfix.arora_kernel(x))
    assert_close(H, ref, dtype=np.float64)
    np.testing.assert_allclose(np.diag(H), 0.5, rtol=R)
    spec = ntkfix.arora_spec(x.shape[1])
    assert (spec.depth, spec.W_std, spec.out_W_std, spec.b_std) == (1, math.sqrt(5), 1.0, None)
    Hs = np.asarray(ntkfix.infinite_ntk(spec, x, trainable=0))
    assert_close(Hs, ref, dtype=np.float64)
    # rectangular blocks, and inputs off the sphere (the angle form holds for any norm)
    z = 1.7 * _x(4, 5, seed=2)
    Hr = np.asarray(ntkfix.arora_kernel(z, x))
    assert_close(Hr, _arora_numpy(z, x), dtype=np.float64)
    np.testing.assert_allclose(
        np.asarray(ntkfix.infinite_ntk(spec, z, x, trainable=0)), Hr, rtol=R, atol=R
    )


def test_arora_rescaling_of_other_settings():
    """Depth 1, hidden layer: Theta = out_W_std^2 W_std^2 / d * H^infty (module docstring)."""
    x = _x(6, 4)
    spec = ntkfix.MLP(4, 1, 1, W_std=1.3, out_W_std=0.7)
    K = np.asarray(ntkfix.infinite_ntk(spec, x, trainable=0))
    np.testing.assert_allclose(
        K, 0.7**2 * 1.3**2 / 4 * np.asarray(ntkfix.arora_kernel(x)), rtol=R, atol=R
    )
    y = _labels(6)
    c = ntkfix.complexity(K, y)
    np.testing.assert_allclose(
        c, ntkfix.complexity(ntkfix.arora_kernel(x), y) / math.sqrt(0.7**2 * 1.3**2 / 4), rtol=1e-9
    )


def test_arora_finite_width_h0_and_convergence():
    x = _x(8, 5)
    H = np.asarray(ntkfix.arora_kernel(x))
    errs = {}
    for m in (64, 4096, 65536):
        spec = ntkfix.arora_spec(5, m)
        p = ntkfix.arora_init(spec, jax.random.PRNGKey(2))
        W, a = np.asarray(p[0][0]), np.asarray(p[2][0])
        np.testing.assert_array_equal(np.abs(a), 1.0)
        np.testing.assert_array_equal(W, np.asarray(spec.init(jax.random.PRNGKey(2))[0][0]))
        K = np.asarray(ntkfix.empirical_ntk(spec, p, x, trainable=0))
        act = (x @ W > 0).astype(float)  # H(0) of Arora et al.: (x.x'/m) sum_r 1 1
        assert_close(K, (x @ x.T) * (act @ act.T) / m, dtype=np.float64)
        errs[m] = np.abs(K - H).max()
        assert errs[m] <= 2.0 / math.sqrt(m)
        Kg = np.asarray(
            ntkfix.empirical_ntk(spec, spec.init(jax.random.PRNGKey(2)), x, trainable=0)
        )
        assert np.abs(Kg - H).max() <= 4.0 / math.sqrt(m)  # Gaussian readout: same limit
    assert errs[65536] < errs[64] / 10


# ---- complexity ------------------------------------------------------------------------
def test_complexity_matches_numpy_solve():
    x = _x(10, 5)
    K = np.asarray(ntkfix.arora_kernel(x))
    y = _labels(10)
    ref = math.sqrt(2 * y @ np.linalg.solve(K, y) / 10)
    np.testing.assert_allclose(ntkfix.complexity(K, y), ref, rtol=1e-10)
    np.testing.assert_allclose(ntkfix.complexity(jnp.asarray(K), y[:, None]), ref, rtol=1e-10)
    Y = np.stack([y, _labels(10, seed=4), np.linspace(-1, 1, 10)], axis=1)
    info = ntkfix.complexity(K, Y, return_info=True)
    q = np.trace(Y.T @ scipy.linalg.solve(K, Y, assume_a="pos"))
    np.testing.assert_allclose(info.quadratic_form, q, rtol=1e-10)
    np.testing.assert_allclose(info.value, math.sqrt(2 * q / 10), rtol=1e-10)
    assert (info.n, info.n_outputs, info.jitter) == (10, 3, 0.0)
    np.testing.assert_allclose(
        info.condition_number, np.linalg.cond(K, 1), rtol=0.5
    )  # LAPACK estimate


def test_complexity_jitter_explicit_and_auto():
    x = _x(6, 4)
    x = np.concatenate([x, x[:1]])  # a duplicate point: K is singular
    K = np.asarray(ntkfix.arora_kernel(x))
    y = _labels(7)
    with pytest.raises(
        ntkfix.errors.IllConditionedKernel, match=r"(?s)K \(7 x 7\).*jitter='auto'"
    ) as e:
        ntkfix.complexity(K, y)
    assert isinstance(e.value, ValueError) and e.value.condition_number > e.value.max_condition
    info = ntkfix.complexity(K, y, jitter=1e-3, return_info=True)
    ref = math.sqrt(2 * y @ np.linalg.solve(K + 1e-3 * np.eye(7), y) / 7)
    np.testing.assert_allclose(info.value, ref, rtol=1e-10)
    assert info.jitter == 1e-3
    with pytest.warns(ntkfix.errors.PrecisionWarning, match=r"jitter='auto' added .* \* I"):
        auto = ntkfix.complexity(K, y, jitter="auto", return_info=True)
    assert auto.jitter > 0 and np.isfinite(auto.value)
    rel = auto.jitter / np.mean(np.diag(K))
    assert min(abs(rel / r - 1) for r in (1e-12, 1e-10, 1e-8, 1e-6, 1e-4)) < 1e-9
    ref = math.sqrt(2 * y @ np.linalg.solve(K + auto.jitter * np.eye(7), y) / 7)
    np.testing.assert_allclose(auto.value, ref, rtol=1e-3)  # cond(K + jitter I) ~ 1e12
    # a well-conditioned kernel gets no jitter from "auto"
    assert ntkfix.complexity(K[:6, :6], y[:6], jitter="auto", return_info=True).jitter == 0.0


def _with_eigenvalues(w, seed=0):
    Q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(len(w), len(w))))
    K = (Q * np.asarray(w)) @ Q.T
    return (K + K.T) / 2


def test_an_indefinite_matrix_is_named_with_its_negative_eigenvalue():
    with pytest.raises(
        ntkfix.errors.IllConditionedKernel,
        match=r"K \(2 x 2\) is not positive semi-definite: it has a negative eigenvalue, "
        r"lambda_min = -1 \(lambda_max = 3",
    ) as e:
        ntkfix.complexity([[1.0, 2.0], [2.0, 1.0]], [1.0, -1.0])
    assert "very different scales" not in str(e.value) and "Duplicate" not in str(e.value)


def test_auto_jitter_refuses_a_negative_eigenvalue_beyond_rounding():
    w = np.linspace(1.0, 2.0, 20)
    w[0] = -1e-6 * w[-1]
    y = np.sign(np.sin(np.arange(20.0)))
    with pytest.raises(ntkfix.errors.IllConditionedKernel, match=r"lambda_min = -2e-06"):
        ntkfix.complexity(_with_eigenvalues(w), y, jitter="auto")
    w[0] = -1e-17  # rounding: a singular kernel, jitter added and said
    with pytest.warns(ntkfix.errors.PrecisionWarning, match=r"jitter='auto' added 1.45e-12") as rec:
        info = ntkfix.complexity(_with_eigenvalues(w), y, jitter="auto", return_info=True)
    assert info.jitter == pytest.approx(1e-12 * 1.5) and rec[0].filename == __file__


def test_ill_conditioned_positive_definite_kernel_is_refused():
    K = np.diag([1.0, 1e-15])
    with pytest.raises(ntkfix.errors.IllConditionedKernel, match=r"condition number ~ 1e\+15") as e:
        ntkfix.complexity(K, [1.0, 1.0])
    assert e.value.condition_number == pytest.approx(1e15, rel=1e-6)
    assert np.isfinite(ntkfix.complexity(K, [1.0, 1.0], max_condition=np.inf))


# ---- generalization bound --------------------------------------------------------------
def test_generalization_bound_pieces():
    x = _x(12, 5)
    K = np.asarray(ntkfix.arora_kernel(x))
    y = _labels(12)
    b = ntkfix.generalization_bound(K, y, delta=0.1)
    lam = scipy.linalg.eigh(K, eigvals_only=True)[0]
    comp = math.sqrt(2 * y @ np.linalg.solve(K, y) / 12)
    conf = 3 * math.sqrt(math.log(2 * 12 / (lam * 0.1)) / (2 * 12))
    np.testing.assert_allclose(
        [b.complexity, b.confidence, b.total, b.lambda_min],
        [comp, conf, comp + conf, lam],
        rtol=1e-9,
    )
    assert (b.n, b.delta, b.jitter, b.setting) == (12, 0.1, 0.0, "two_layer")
    np.testing.assert_allclose(b.diag_mean, 0.5, rtol=R)
    assert "1901.08584" in b.reference
    d = ntkfix.generalization_bound(K, y[:, None], delta=0.1, setting="deep")
    np.testing.assert_allclose(
        [d.complexity, d.confidence], [comp, 3 * math.sqrt(math.log(2 / 0.1) / 24)], rtol=1e-9
    )
    assert "1905.13210" in d.reference
    j = ntkfix.generalization_bound(K, y, jitter=0.01)
    np.testing.assert_allclose(j.lambda_min, lam + 0.01, rtol=1e-9)


def test_bound_says_when_vacuous():
    import dataclasses

    x = _x(12, 5)
    K = _arora_numpy(x, x, same=True)
    y = _labels(12)
    b = ntkfix.generalization_bound(K, y, delta=0.1)
    lam = scipy.linalg.eigh(K, eigvals_only=True)[0]
    total = math.sqrt(2 * y @ np.linalg.solve(K, y) / 12) + 3 * math.sqrt(
        math.log(2 * 12 / (lam * 0.1)) / 24
    )
    assert total > 1 and b.vacuous  # 12 random labels: no information
    assert str(b).startswith(f"generalization bound {total:.4g} = complexity")
    assert "VACUOUS" in str(b)
    tight = dataclasses.replace(b, total=0.4)
    assert not tight.vacuous and "non-vacuous (below 1)" in str(tight)
    assert dataclasses.replace(b, total=1.0).vacuous is False  # exactly 1: not above


@pytest.mark.parametrize(
    "kwargs, exc, msg",
    [
        (dict(delta=0.0), ValueError, r"delta must lie in \(0, 1\)"),
        (dict(delta=1.0), ValueError, r"delta must lie in"),
        (dict(delta="a"), TypeError, r"delta must be a real number"),
        (dict(setting="shallow"), ValueError, r"unknown setting 'shallow'"),
        (dict(y=np.ones((4, 2))), ValueError, r"single output"),
        (dict(y=2 * np.ones(4)), ValueError, r"\|y_i\| <= 1"),
        (dict(y=np.ones(3)), ValueError, r"y has 3 rows but K has 4"),
        (dict(y=np.array([1.0, np.nan, 1, 1])), ValueError, r"y contains NaN"),
        (dict(y=np.array(["a"] * 4)), TypeError, r"y must hold real numbers"),
        (dict(K=np.ones((4, 3))), ValueError, r"K must be a square"),
        (dict(K=np.triu(np.ones((4, 4)))), ValueError, r"K must be symmetric"),
        (dict(K=np.full((4, 4), np.nan)), ValueError, r"K contains NaN"),
        (dict(jitter=-1.0), ValueError, r"jitter must be a finite number >= 0"),
        (dict(jitter="big"), ValueError, r"jitter must be a number >= 0 or 'auto'"),
        (dict(max_condition=0.5), ValueError, r"max_condition must be a number > 1"),
        (
            dict(K=-np.eye(4)),
            ntkfix.errors.IllConditionedKernel,
            r"not positive semi-definite: it has a negative eigenvalue, lambda_min = -1",
        ),
    ],
)
def test_bound_bad_input(kwargs, exc, msg):
    args = dict(K=np.eye(4) / 2, y=np.ones(4))
    args.update(kwargs)
    K, y = args.pop("K"), args.pop("y")
    with pytest.raises(exc, match=msg):
        ntkfix.generalization_bound(K, y, **args)


# ---- kernel regression -----------------------------------------------------------------
def _problem(n=9, n_test=5, d=4, k=2):
    x, z = _x(n, d, seed=5), _x(n_test, d, seed=6)
    Y = np.stack([_labels(n, s) for s in range(k)], axis=1)
    return x, z, Y


def test_kernel_regression_matches_numpy():
    x, z, Y = _problem()
    K, Kx = np.asarray(ntkfix.arora_kernel(x)), np.asarray(ntkfix.arora_kernel(z, x))
    np.testing.assert_allclose(
        ntkfix.kernel_regression(K, Y, Kx), Kx @ np.linalg.solve(K, Y), rtol=1e-9, atol=1e-12
    )
    out = ntkfix.kernel_regression(K, Y[:, 0], Kx, ridge=0.1, return_info=True)
    A = np.linalg.solve(K + 0.1 * np.eye(9), Y[:, 0])
    assert out.test.shape == (5,) and out.ridge == 0.1
    np.testing.assert_allclose(out.test, Kx @ A, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out.train, K @ A, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out.dual_coef[:, 0], A, rtol=1e-9, atol=1e-12)
    f0, g0 = 0.3 * Y[::-1], np.linspace(-1, 1, 10).reshape(5, 2)
    full = ntkfix.kernel_regression(K, Y, Kx, f_train_0=f0, f_test_0=g0, return_info=True)
    np.testing.assert_allclose(
        full.test, g0 + Kx @ np.linalg.solve(K, Y - f0), rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(full.train, Y, rtol=1e-9, atol=1e-12)  # interpolation at ridge 0


@pytest.mark.parametrize(
    "kwargs, exc, msg",
    [
        (dict(K_test_train=np.ones((5, 8))), ValueError, r"K_test_train has 8 columns"),
        (dict(K_test_train=np.ones(9)), ValueError, r"K_test_train must be a 2-D"),
        (dict(y_train=np.ones(8)), ValueError, r"y_train has 8 rows"),
        (dict(y_train=np.ones((9, 1, 1))), ValueError, r"y_train must have shape"),
        (dict(ridge=-0.1), ValueError, r"ridge must be a finite number >= 0"),
        (dict(ridge="auto"), ValueError, r"ridge must be a number >= 0, got 'auto'"),
        (dict(f_train_0=np.ones(9)), ValueError, r"f_train_0 must have shape \(9, 2\)"),
        (dict(f_test_0=np.ones((4, 2))), ValueError, r"f_test_0 must have shape \(5, 2\)"),
        (
            dict(K_train_train=np.ones((9, 9))),
            ntkfix.errors.IllConditionedKernel,
            r"pass ridge=<float > 0>",
        ),
    ],
)
def test_kernel_regression_bad_input(kwargs, exc, msg):
    x, z, Y = _problem()
    args = dict(
        K_train_train=np.asarray(ntkfix.arora_kernel(x)),
        y_train=Y,
        K_test_train=np.asarray(ntkfix.arora_kernel(z, x)),
    )
    args.update(kwargs)
    with pytest.raises(exc, match=msg):
        ntkfix.kernel_regression(**args)


def test_duplicate_points_raise_not_nan():
    x, z, Y = _problem()
    xd = np.concatenate([x, x[:2]])
    Yd = np.concatenate([Y, -Y[:2]])  # conflicting labels on the duplicates
    K, Kx = np.asarray(ntkfix.arora_kernel(xd)), np.asarray(ntkfix.arora_kernel(z, xd))
    with pytest.raises(ntkfix.errors.IllConditionedKernel, match=r"K_train_train \(11 x 11\)"):
        ntkfix.kernel_regression(K, Yd, Kx)
    out = ntkfix.kernel_regression(K, Yd, Kx, ridge=1e-3)
    np.testing.assert_allclose(
        out, Kx @ np.linalg.solve(K + 1e-3 * np.eye(11), Yd), rtol=1e-8, atol=1e-10
    )


@requires_nt
def test_kernel_regression_matches_neural_tangents(nt):
    x, z, Y = _problem(k=1)
    spec = ntkfix.MLP(4, 8, 2, b_std=0.1)
    kernel_fn = spec.stax()[2]
    K = np.asarray(ntkfix.infinite_ntk(spec, x))
    Kx = np.asarray(ntkfix.infinite_ntk(spec, z, x))
    for ridge in (0.0, 0.05):
        ens = nt.predict.gradient_descent_mse_ensemble(
            kernel_fn, x, Y, diag_reg=ridge, diag_reg_absolute_scale=True
        )
        ref = np.asarray(ens(None, z, "ntk"))
        np.testing.assert_allclose(
            ntkfix.ntk_regression(spec, None, x, Y, z, ridge=ridge), ref, rtol=1e-8, atol=1e-10
        )
        predict = nt.predict.gradient_descent_mse(
            K, Y, diag_reg=ridge, diag_reg_absolute_scale=True
        )
        f0, g0 = 0.2 * Y[::-1], np.full((5, 1), 0.3)
        ref = np.asarray(predict(None, f0, g0, Kx)[1])
        got = ntkfix.kernel_regression(K, Y, Kx, ridge, f_train_0=f0, f_test_0=g0)
        np.testing.assert_allclose(got, ref, rtol=1e-8, atol=1e-10)


def test_ntk_regression_finite_width_is_min_norm_gd_limit():
    """One-hidden-layer FAP net, hidden layer trained, 2 outputs: GD converges to
    f0 + J_test J^T (J J^T)^-1 (y - f0), J the explicit Jacobian (cross-output blocks in)."""
    x, z, Y = _problem(n=6, n_test=3, d=3, k=2)
    spec = ntkfix.MLP(3, 16, 1, out_dim=2)
    p0 = spec.init(jax.random.PRNGKey(7))
    model = ntkfix.FixedPattern(spec, p0)

    def flat_jac(inp):
        J = jax.jacrev(lambda W: model.apply([(W, None), (), p0[2]], inp))(p0[0][0])
        return np.asarray(J).reshape(inp.shape[0] * 2, -1)

    J, Jz = flat_jac(x), flat_jac(z)
    f0, g0 = np.asarray(model.apply(p0, x)), np.asarray(model.apply(p0, z))
    ref = g0.reshape(-1) + Jz @ J.T @ np.linalg.solve(J @ J.T, (Y - f0).reshape(-1))
    out = ntkfix.ntk_regression(model, p0, x, Y, z, trainable=0, return_info=True)
    np.testing.assert_allclose(out.test, ref.reshape(3, 2), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(out.train, Y, rtol=1e-8, atol=1e-10)
    # infinite width, layer subset: same as kernel_regression with infinite_ntk
    inf = ntkfix.ntk_regression(spec, None, x, Y, z, trainable=0)
    K0 = np.asarray(ntkfix.infinite_ntk(spec, x, trainable=0))
    np.testing.assert_allclose(
        inf,
        np.asarray(ntkfix.infinite_ntk(spec, z, x, trainable=0)) @ np.linalg.solve(K0, Y),
        rtol=1e-8,
        atol=1e-10,
    )
    with pytest.raises(
        ValueError, match=r"y_train has 1 output column\(s\) but the network has out_dim=2"
    ):
        ntkfix.ntk_regression(model, p0, x, Y[:, 0], z)
    with pytest.raises(ValueError, match=r"y_train has 5 rows but x_train has 6"):
        ntkfix.ntk_regression(model, p0, x, Y[:5], z)
    with pytest.raises(TypeError, match=r"model must be an ntkfix.MLP"):
        ntkfix.ntk_regression("net", None, x, Y, z)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'rigde'; its knobs"):
        ntkfix.ntk_regression(spec, None, x, Y, z, rigde=1e-3)
    with pytest.raises(ValueError, match="ridge"):
        ntkfix.ntk_regression(spec, None, x, Y, z, ridge=-1.0)


# ---- found in review (moved from test_review_fixes.py) ----
def test_arora_init_standard_parameterization_is_the_same_network():
    x = ntkfix.data.sphere(jax.random.PRNGKey(1), 7, 4)
    ntk = ntkfix.arora_spec(4, width=32)
    std = ntkfix.MLP(4, 32, 1, W_std=2.0, out_W_std=1.0, parameterization="standard")
    p_ntk, p_std = (
        ntkfix.arora_init(ntk, jax.random.PRNGKey(0)),
        ntkfix.arora_init(std, jax.random.PRNGKey(0)),
    )
    np.testing.assert_allclose(std.apply(p_std, x), ntk.apply(p_ntk, x), rtol=1e-12)


def test_bound_refuses_a_kernel_in_another_normalisation():
    x = ntkfix.data.sphere(jax.random.PRNGKey(1), 20, 4)
    y = np.sign(np.arange(20) % 2 - 0.5)
    ntkfix.generalization_bound(ntkfix.arora_kernel(x), y)  # fine
    with pytest.raises(ValueError, match="mean diagonal"):
        ntkfix.generalization_bound(3.0 * ntkfix.arora_kernel(x), y)
