"""``constants="refit"``: gates refitted to the FAP net's signs with margin, so a point
near a gate costs no digits (``ntkfix._conversion.refit``)."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np

import ntkfix
from ntkfix._conversion.refit import LIFT, MARGIN, fit_gates

D, N = 4, 16


def _f32(tree):
    return jax.tree_util.tree_map(lambda v: jnp.asarray(v, jnp.float32), tree)


def _one_bad_unit(width=16, depth=2, delta=1e-6):
    """A depth-2 FAP net whose second hidden layer's unit 0 has an off point x_0 at
    u = -delta with z = 0.5 and an on point x_1 at u = +delta with z = -0.5: need ~
    0.5 / delta, and no threshold in the gap (-delta, delta) shrinks it; the other units
    need little."""
    spec = ntkfix.MLP(D, width, depth, b_std=0.1)
    p0 = list(spec.init(jax.random.PRNGKey(0)))
    noise = list(spec.init(jax.random.PRNGKey(1)))
    x = jnp.asarray(jax.random.normal(jax.random.PRNGKey(2), (N, D)))
    a, beta = spec.weight_scale(1), spec.bias_scale()

    def aim(W, b, H, target):  # min-norm change of column 0: a H W[:, 0] + beta b = target
        W = np.asarray(W).copy()
        now = a * H @ W[:, 0] + beta * np.asarray(b)[0, 0]
        W[:, 0] += np.linalg.pinv(a * H) @ (np.asarray(target) - now)
        return jnp.asarray(W)

    H0 = np.maximum(np.asarray(spec.preactivations(p0, x)[0]), 0.0)[:2]
    p0[2] = (aim(p0[2][0], p0[2][1], H0, [-delta, delta]), p0[2][1])
    p = list(jax.tree_util.tree_map(lambda w, e: w + 0.3 * e, p0, noise))
    _, hs, _ = spec.gated_forward(p, x, spec.relu_gates(p0, x))
    p[2] = (aim(p[2][0], p[2][1], np.asarray(hs[1])[:2], [0.5, -0.5]), p[2][1])
    return spec, ntkfix.FixedPattern(spec, p0), p, x


def _convert(model, p, x, constants):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ntkfix.errors.PrecisionWarning)
        return ntkfix.to_relu(model, p, x, constants=constants)


def test_refit_removes_the_cancellation_of_one_unit_near_its_gate():
    """Before (per-unit constants, "unit", and thresholds, "unit_shifted"): the culprit's
    M ~ 5e5 and
    the float32 twin loses about log2(M) bits; after ("refit"): every constant of the
    refitted layer is at most (1 + margin) / MARGIN, the float32 twin is exact within
    1e-4 and float64 within 1e-12, measured against the FAP net in float64."""
    spec, model, p, x = _one_bad_unit()
    exact = np.asarray(model.apply(p, x))  # float64
    m32 = ntkfix.FixedPattern(spec, _f32(model.params0))
    errs, certs = {}, {}
    for constants in ("unit", "unit_shifted", "refit"):
        rspec, rparams, cert = _convert(m32, _f32(p), _f32(x), constants)
        twin = np.asarray(rspec.apply(rparams, _f32(x)), np.float64)
        errs[constants] = float(np.abs(twin - exact).max() / np.abs(exact).max())
        certs[constants] = cert
        assert cert.identity_holds and rspec.width == 2 * spec.width
    unit, refit = certs["unit"], certs["refit"]
    assert unit.required[1][0] > 1e5 and np.median(unit.required[1]) < 1e2
    assert errs["unit"] > 1e-3 and errs["unit_shifted"] > 1e-3  # before: inexact
    assert refit.construction == "refit" and refit.exact
    assert max(refit.M[1]) <= (1 + 0.5) / MARGIN + 1e-9
    assert errs["refit"] < 1e-4 and errs["refit"] < errs["unit"] / 100
    # float64: the refit twin is the FAP net on the data to 1e-12
    rspec, rparams, cert64 = ntkfix.to_relu(model, p, x, constants="refit")
    assert cert64.construction == "refit" and cert64.exact
    err64 = np.abs(np.asarray(rspec.apply(rparams, x)) - exact).max() / np.abs(exact).max()
    assert err64 < 1e-12
    # the refit gates have the FAP net's signs on the data, with margin
    s1 = np.asarray(x, np.float64)
    for l, on in enumerate(spec.relu_gates(model.params0, x)):
        W, b = rparams[2 * l]
        pre = s1 @ np.asarray(W) + np.asarray(b)
        np.testing.assert_array_equal(pre[:, : spec.width] > 0, np.asarray(on))
        s1 = np.maximum(pre, 0.0)
    # the rounding floor of the refit form lies below the measured float32 error
    floor = refit.rounding_floor(_f32(x))
    assert floor.twin < errs["refit"] and floor.twin < unit.rounding_floor(_f32(x)).twin / 100


def test_refit_twin_on_new_inputs_is_checked_not_assumed():
    """Off the data the refit gates need not be the FAP net's: ``cert.check`` counts the
    flipped (row, unit) pairs, and where it reports a row as ok the twin is exact."""
    spec, model, p, x = _one_bad_unit()
    rspec, rparams, cert = ntkfix.to_relu(model, p, x, constants="refit")
    x_new = jax.random.normal(jax.random.PRNGKey(7), (64, D))
    check = cert.check(x_new)
    on = spec.relu_gates(model.params0, x_new)
    pre, flipped = np.asarray(x_new), 0
    for l in range(spec.depth):
        W, b = rparams[2 * l]
        pre = pre @ np.asarray(W) + np.asarray(b)
        flipped += int(np.sum((pre[:, : spec.width] > 0) != np.asarray(on[l])))
        pre = np.maximum(pre, 0.0)
    assert check.flipped_units == flipped
    ok = check.rows_ok
    diff = np.abs(np.asarray(rspec.apply(rparams, x_new)) - np.asarray(model.apply(p, x_new)))
    if ok.any():
        assert diff[ok].max() < 1e-10


def test_refit_falls_back_where_the_data_outnumber_the_features():
    """Width 4 and 16 points (``_one_bad_unit``): the second layer's gates cannot all be
    lifted to |s| >= MARGIN r over 9 features, so the twin is built with per-unit
    thresholds ("unit_shifted"), says so, and is still exact in float64."""
    spec, model, p, x = _one_bad_unit(width=4)
    rspec, rparams, cert = ntkfix.to_relu(model, p, x, constants="refit")
    assert cert.construction == "unit_shifted" and cert.exact
    err = np.abs(np.asarray(rspec.apply(rparams, x)) - np.asarray(model.apply(p, x))).max()
    assert err < 1e-8


def test_fit_gates_meets_its_margin_or_says_it_cannot():
    """``fit_gates``: a fitted unit has sign(u) on every row with |s| >= MARGIN max |z|;
    random signs on 40 points in 5 features cannot be fitted."""
    rng = np.random.default_rng(0)
    F = np.hstack([rng.normal(size=(20, 30)), np.ones((20, 1))])
    u = F @ rng.normal(size=(31, 6))
    u[0, 0] = -1e-9  # one point on the gate
    z = rng.normal(size=(20, 6))
    A, fitted = fit_gates(F, u > 0, z, u)
    assert fitted.all()
    s, r = F @ A, np.abs(z).max(axis=0)
    assert np.all(np.where(u > 0, s, -s) >= MARGIN * r - 1e-12)
    assert LIFT > MARGIN
    F2 = np.hstack([rng.normal(size=(40, 4)), np.ones((40, 1))])
    on2 = rng.random((40, 3)) > 0.5
    _, fitted2 = fit_gates(F2, on2, rng.normal(size=(40, 3)), rng.normal(size=(40, 3)))
    assert not fitted2.any()


def test_a_refit_that_fell_back_says_so_in_its_warning():
    """Float32 at width 4 (``_one_bad_unit``): the refit falls back, and held to rtol 1e-9
    the twin is inexact; the warning names the fallback and the 2m + 1 features rather
    than advising constants='refit'."""
    spec, model, p, x = _one_bad_unit(width=4)
    m32 = ntkfix.FixedPattern(spec, _f32(model.params0))
    x32 = jnp.asarray(x, jnp.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, _, cert = ntkfix.to_relu(m32, _f32(p), x32, constants="refit", rtol=1e-9)
    assert cert.construction == "unit_shifted" and not cert.exact
    warned = ntkfix.errors.PrecisionWarning
    msgs = [str(w.message) for w in caught if issubclass(w.category, warned)]
    assert len(msgs) == 1
    assert "fell back to 'unit_shifted'" in msgs[0] and "2m + 1 = 9 features" in msgs[0]
