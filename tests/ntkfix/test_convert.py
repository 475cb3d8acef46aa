"""FAP -> ReLU twin of width 2m: exact after real training, certificate flags, failure modes."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkfix
from ntkfix._conversion.mlp import _check, twin_params

N, D, M = 12, 3, 6


def _data(seed=1, scale=1.0):
    x = scale * jax.random.normal(jax.random.PRNGKey(seed), (N, D))
    return x, jnp.concatenate([jnp.sin(2 * x[:, :1]), x[:, 1:2] ** 2], axis=1)


def _trained(depth, b_std, param, k=2):
    spec = ntkfix.MLP(D, M, depth, out_dim=k, b_std=b_std, parameterization=param)
    p0 = spec.init(jax.random.PRNGKey(depth))
    model = ntkfix.FixedPattern(spec, p0)
    x, y = _data()
    # a tenth of the kernel step: n / lambda_max sits at the edge of stability for deep nets,
    # and the random draw (so the run) differs between jax versions
    lr = ntkfix.train(model, p0, x, y[:, :k], steps=1, track=()).lr / 10
    res = ntkfix.train(model, p0, x, y[:, :k], steps=40, lr=lr, record_every=40, track=())
    return spec, p0, model, res.params, x


def _np_terms(spec, p0, p, x):
    """Independent NumPy forward: per hidden layer (u, z) of the ReLU net at p0 / FAP net at p."""
    g = v = np.asarray(x)
    out = []
    for l in range(spec.depth):
        (W0, b0), (W, b) = p0[2 * l], p[2 * l]
        a, beta = spec.weight_scale(l), spec.bias_scale()
        u = a * g @ np.asarray(W0) + (0 if b0 is None else beta * np.asarray(b0))
        z = a * v @ np.asarray(W) + (0 if b is None else beta * np.asarray(b))
        out.append((u, z))
        g, v = np.maximum(u, 0), (u > 0) * z
    return out


def _direct_flags(spec, p0, p, x, Ms):
    """Row holds iff relu(M u + z) - M relu(u) == 1[u > 0] z for every unit (numerically)."""
    ok = np.ones(len(x), bool)
    for (u, z), m in zip(_np_terms(spec, p0, p, x), Ms, strict=True):
        lhs = np.maximum(m * u + z, 0) - m * np.maximum(u, 0)
        gap = np.abs(lhs - (u > 0) * z)
        ok &= (gap <= 1e-12 * (m * np.abs(u) + np.abs(z) + 1)).all(axis=1)
    return ok


@pytest.mark.parametrize("param", ["ntk", "standard"])
@pytest.mark.parametrize("b_std", [None, 0.3])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_exact_on_building_data_after_training(depth, b_std, param):
    spec, p0, model, p, x = _trained(depth, b_std, param)
    moved = sum(
        float(jnp.sum((a - b) ** 2))
        for a, b in zip(jax.tree_util.tree_leaves(p), jax.tree_util.tree_leaves(p0), strict=True)
    )
    assert moved > 1e-6  # real training happened
    rspec, rparams, cert = ntkfix.to_relu(model, p, x)
    assert isinstance(rspec, ntkfix.MLP)
    assert (rspec.width, rspec.depth, rspec.in_dim, rspec.out_dim) == (
        2 * M,
        depth,
        D,
        spec.out_dim,
    )
    assert rspec.parameterization == "standard" and rspec.has_bias == spec.has_bias
    rspec.check_params(rparams)
    fap = np.asarray(model.apply(p, x))
    twin = np.asarray(rspec.apply(rparams, x))
    scale = np.abs(fap).max()
    assert np.abs(twin - fap).max() <= 1e-9 * scale
    assert cert.exact and cert.building.rows_ok.all() and cert.building.boundary_units == 0
    assert cert.max_error == pytest.approx(np.abs(twin - fap).max(), abs=1e-15)
    assert cert.building.output_scale == pytest.approx(scale)
    # constants: the data's minimum, the margin and the floor
    for m, need, ratio in zip(cert.M, cert.required, cert.ratio, strict=True):
        assert m.shape == need.shape == (M,)
        np.testing.assert_allclose(m, np.maximum(1.0, 1.5 * need.max()), rtol=1e-15)
        assert need.max() <= ratio + 1e-15
    assert cert.M_max == tuple(float(m.max()) for m in cert.M)
    for (u, z), need, ratio in zip(
        _np_terms(spec, p0, p, x), cert.required, cert.ratio, strict=True
    ):
        nz = u != 0
        assert ratio == pytest.approx(np.max(np.abs(z[nz]) / np.abs(u[nz])), rel=1e-12)
        per_unit = np.where(nz, np.maximum(0, -np.sign(u) * z) / np.where(nz, np.abs(u), 1), 0).max(
            axis=0
        )
        np.testing.assert_allclose(need, per_unit, rtol=1e-12)


@pytest.mark.nt
def test_twin_runs_in_neural_tangents(nt):
    """The twin is an ordinary stax network: neural-tangents' apply_fn gives the same outputs."""
    spec, p0, model, p, x = _trained(2, 0.3, "ntk")
    rspec, rparams, _ = ntkfix.to_relu(model, p, x)
    _, apply_fn, _ = rspec.stax()
    np.testing.assert_allclose(apply_fn(rparams, x), model.apply(p, x), rtol=0, atol=1e-9)


@pytest.fixture(scope="module")
def converted():
    spec, p0, model, p, x = _trained(2, None, "ntk")
    return spec, p0, model, p, x, ntkfix.to_relu(model, p, x)


def test_check_on_fresh_data_matches_direct_recomputation(converted):
    spec, p0, model, p, _, (rspec, rparams, cert) = converted
    x_new = 3.0 * jax.random.normal(jax.random.PRNGKey(7), (400, D))
    chk = cert.check(x_new)
    direct = _direct_flags(spec, p0, p, x_new, cert.M)
    np.testing.assert_array_equal(chk.rows_ok, direct)
    assert 0 < chk.rows_ok.sum() < len(x_new)  # both outcomes occur
    np.testing.assert_array_equal(chk.rows_ok, chk.layer_ok.all(axis=1))
    err = np.abs(np.asarray(rspec.apply(rparams, x_new) - model.apply(p, x_new))).max(axis=1)
    scale = chk.output_scale
    assert err[chk.rows_ok].max() <= 1e-9 * scale and chk.max_error_ok == pytest.approx(
        err[chk.rows_ok].max(), abs=1e-15
    )
    assert chk.max_error == pytest.approx(err.max()) and err.max() > 1e-6 * scale
    # the building data re-checks as exact
    assert cert.check(converted[4]).all_ok


def test_below_the_required_constant_fails_and_is_flagged(converted):
    spec, p0, model, p, x, (rspec, _, cert) = converted
    low = tuple(0.5 * r for r in cert.required)
    chk = _check(model, p, rspec, twin_params(spec, p0, p, low), low, x)
    assert not chk.all_ok
    np.testing.assert_array_equal(chk.rows_ok, _direct_flags(spec, p0, p, x, low))
    err = np.abs(np.asarray(rspec.apply(twin_params(spec, p0, p, low), x) - model.apply(p, x))).max(
        axis=1
    )
    assert err[~chk.rows_ok].max() > 1e-6 and err[chk.rows_ok].max() <= 1e-9 * chk.output_scale


def _boundary_case():
    """u == 0 exactly (unit j's weight on feature 0 is 0 at theta_0, x = +-e_0) with z > 0."""
    spec = ntkfix.MLP(D, M, 1)
    p0 = spec.init(jax.random.PRNGKey(0))
    j = 2
    p0[0] = (p0[0][0].at[0, j].set(0.0), None)
    model = ntkfix.FixedPattern(spec, p0)
    p = list(p0)
    p[0] = (p0[0][0].at[0, j].set(0.7), None)  # values at any params: z_j(e_0) = a * 0.7 > 0
    e0 = np.eye(D)[:1]
    x, _ = _data()
    return spec, model, p, e0, j, np.concatenate([np.asarray(x), e0], axis=0)


def test_a_gate_boundary_is_made_exact_by_a_threshold():
    """relu(M u + z) - M relu(u) != 1[u > 0] z at u == 0 < z for every M: the twin's unit
    j reads u - t instead (t in its bias, half the unit's smallest positive u)."""
    spec, model, p, e0, j, x_all = _boundary_case()
    rspec, rparams, cert = ntkfix.to_relu(model, p, x_all)  # no warning (errors in tests)
    assert cert.exact and cert.building.boundary_units == 0 and cert.building.rows_ok.all()
    assert rspec.width == 2 * M and rspec.has_bias  # same width; the threshold is a bias
    (t,) = cert.shift
    u = np.asarray(spec.preactivations(model.params0, x_all)[0])
    assert np.count_nonzero(t) == 1 and t[j] == pytest.approx(u[u[:, j] > 0, j].min() / 2)
    err = np.abs(np.asarray(rspec.apply(rparams, x_all) - model.apply(p, x_all))).max()
    assert err <= 1e-9 * cert.building.output_scale
    chk = cert.check(np.concatenate([-e0, e0, e0 * 0.5]))  # on the boundary: exact too
    assert chk.all_ok and chk.boundary_units == 0 and chk.flipped_units == 0


def test_an_inexact_certificate_always_warns(monkeypatch):
    """Without the threshold (the construction before it) the boundary row is wrong: the
    certificate says so in its repr, and to_relu warns, naming rows, units and error."""
    import ntkfix._conversion.mlp as conv

    spec, model, p, e0, j, x_all = _boundary_case()
    monkeypatch.setattr(conv, "thresholds", lambda *a: None)
    with pytest.warns(ntkfix.errors.InexactTwinWarning) as rec:
        rspec, rparams, cert = ntkfix.to_relu(model, p, x_all)
    assert issubclass(ntkfix.errors.InexactTwinWarning, ntkfix.errors.PrecisionWarning)
    assert not cert.exact and cert.building.boundary_units == 1
    assert cert.building.rows_ok.tolist() == [True] * N + [False]
    err = np.abs(np.asarray(rspec.apply(rparams, x_all) - model.apply(p, x_all))).max(axis=1)
    readout = abs(float(spec.weight_scale(1) * p[2][0][j, 0]))
    assert err[-1] == pytest.approx(spec.weight_scale(0) * 0.7 * readout, rel=1e-12)
    assert cert.max_error == pytest.approx(err[-1])
    msg = str(rec[0].message)
    assert f"on only {N} of {N + 1} building rows" in msg and "1 (row, unit) pairs" in msg
    assert f"largest error there is {cert.max_error:.3g}" in msg
    r = repr(cert)
    assert f"rows_ok={N}/{N + 1}" in r and "boundary_units=1" in r
    assert f"max_error={cert.max_error:.3g}" in r


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_params_are_refused_naming_the_leaf(bad):
    spec, model, p, e0, j, x_all = _boundary_case()
    p = list(p)
    p[2] = (p[2][0].at[1, 0].set(bad), None)
    with pytest.raises(ValueError, match=r"params\[2\]\[0\] contains NaN or inf \(1 of 6"):
        ntkfix.to_relu(model, p, x_all)


@pytest.mark.parametrize(
    "call, exc, msg",
    [
        (
            lambda m, p, x: ntkfix.to_relu(m.spec, p, x),
            TypeError,
            r"model must be an ntkfix.FixedPattern, got MLP \(an MLP already is a ReLU network\)",
        ),
        (
            lambda m, p, x: ntkfix.to_relu("net", p, x),
            TypeError,
            "model must be an ntkfix.FixedPattern, got str",
        ),
        (lambda m, p, x: ntkfix.to_relu(m, p[:1], x), ValueError, "params has 1 entries"),
        (lambda m, p, x: ntkfix.to_relu(m, p, x[:, :2]), ValueError, "x has 2 features"),
        (
            lambda m, p, x: ntkfix.to_relu(m, p, x, margin=-1),
            ValueError,
            "margin must be a finite number >= 0",
        ),
        (lambda m, p, x: ntkfix.to_relu(m, p, x, floor=0), ValueError, "floor must be > 0"),
        (
            lambda m, p, x: ntkfix.to_relu(m, p, x)[2].check(x[:, :2]),
            ValueError,
            "x_new has 2 features",
        ),
    ],
)
def test_errors(call, exc, msg):
    spec = ntkfix.MLP(D, 4, 1)
    p = spec.init(jax.random.PRNGKey(0))
    with pytest.raises(exc, match=msg):
        call(ntkfix.FixedPattern(spec, p), p, np.ones((3, D)))


def test_per_unit_constants_are_exact_and_smaller():
    spec, p0, model, p, x = _trained(2, 0.3, "ntk")
    _, _, layer = ntkfix.to_relu(model, p, x)
    rspec, rparams, unit = ntkfix.to_relu(model, p, x, constants="unit")
    for m, need in zip(unit.M, unit.required, strict=True):
        np.testing.assert_allclose(m, np.maximum(1.0, 1.5 * need), rtol=1e-15)
    assert all(u.max() == pytest.approx(lay.max()) for u, lay in zip(unit.M, layer.M, strict=True))
    assert any(np.median(u) < np.median(lay) for u, lay in zip(unit.M, layer.M, strict=True))
    fap = np.asarray(model.apply(p, x))
    assert (
        unit.exact
        and np.abs(np.asarray(rspec.apply(rparams, x)) - fap).max() <= 1e-9 * np.abs(fap).max()
    )
    x_new = 3.0 * jax.random.normal(jax.random.PRNGKey(7), (200, D))
    np.testing.assert_array_equal(
        unit.check(x_new).rows_ok, _direct_flags(spec, p0, p, x_new, unit.M)
    )
    with pytest.raises(ValueError, match="unknown constants 'row'"):
        ntkfix.to_relu(model, p, x, constants="row")


def test_certificate_states_the_rounding_error_it_achieves():
    spec = ntkfix.MLP(3, 16, 2)
    p0 = spec.init(jax.random.PRNGKey(0), jnp.float32)
    p1 = jax.tree_util.tree_map(lambda a: 30.0 * a, spec.init(jax.random.PRNGKey(1), jnp.float32))
    x = jax.random.normal(jax.random.PRNGKey(2), (20, 3), jnp.float32)
    model = ntkfix.FixedPattern(spec, p0)
    with pytest.warns(ntkfix.errors.PrecisionWarning, match=r"rounding error is .*\(rtol 1e-09"):
        _, _, cert = ntkfix.to_relu(model, p1, x, rtol=1e-9)
    assert cert.identity_holds and not cert.exact
    err = cert.building.max_error_ok / cert.building.output_scale
    assert cert.relative_error == pytest.approx(err) and err > 1e-9
    assert "relative_error=" in repr(cert) and "array" not in repr(cert)
    assert "array" not in repr(cert.building)
    # the same conversion in float64 meets the float64 default tolerance
    p0_64, p1_64 = (jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), p) for p in (p0, p1))
    _, _, cert64 = ntkfix.to_relu(ntkfix.FixedPattern(spec, p0_64), p1_64, x.astype(jnp.float64))
    assert cert64.exact and cert64.rtol == 1e-9 and cert64.relative_error < 1e-9


def test_per_unit_constants_when_one_unit_needs_a_large_M():
    """One unit with an off point at u = -1e-4 where z = 0.5 (need ~ 5000), the other seven
    with need 0: per unit, only that unit pays; one constant per layer, all eight do. In
    float32 the per-unit twin's error is several times smaller, and the certificate's
    per-unit estimate (eps x the cancelling terms) names the culprit and bounds the error."""
    spec = ntkfix.MLP(D, 8, 1)
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(2), (N, D)))
    a, x0 = spec.weight_scale(0), x[0]
    W0 = np.asarray(spec.init(jax.random.PRNGKey(0))[0][0]).copy()
    W0[:, 0] -= (x0 @ W0[:, 0] + 1e-4 / a) * x0 / (x0 @ x0)  # u_0(x_0) = -1e-4
    W = W0.copy()
    W[:, 0] += 0.5 * x0 / (x0 @ x0) / a  # z_0(x_0) = 0.5 - 1e-4
    Wo = np.asarray(spec.init(jax.random.PRNGKey(0))[2][0]) + 0.1
    p0 = [(jnp.asarray(W0), None), (), (jnp.asarray(Wo), None)]
    p = [(jnp.asarray(W), None), (), (jnp.asarray(Wo), None)]
    exact = np.asarray(ntkfix.FixedPattern(spec, p0).apply(p, jnp.asarray(x)))  # float64
    f32 = lambda t: jax.tree_util.tree_map(lambda v: jnp.asarray(v, jnp.float32), t)
    model, x32 = ntkfix.FixedPattern(spec, f32(p0)), jnp.asarray(x, jnp.float32)
    errs, certs = {}, {}
    for constants in ("layer", "unit"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ntkfix.errors.PrecisionWarning)
            rspec, rparams, cert = ntkfix.to_relu(model, f32(p), x32, constants=constants)
        twin = np.asarray(rspec.apply(rparams, x32), np.float64)
        errs[constants], certs[constants] = float(np.abs(twin - exact).max()), cert
        assert cert.identity_holds
        need = (0.5 - 1e-4) / 1e-4
        assert cert.required[0][0] == pytest.approx(need, rel=1e-3)
        np.testing.assert_array_equal(cert.required[0][1:], 0.0)
        # the estimate: per unit; through the readout it bounds the error
        assert constants == "layer" or int(np.argmax(cert.unit_error[0])) == 0
        assert np.sum(np.abs(a * Wo[:, 0]) * cert.unit_error[0]) >= errs[constants]
    unit, layer = certs["unit"], certs["layer"]
    assert unit.M[0][0] == pytest.approx(1.5 * unit.required[0][0])
    np.testing.assert_array_equal(unit.M[0][1:], 1.0)  # the floor: need 0
    np.testing.assert_allclose(layer.M[0], unit.M[0][0])  # every unit pays the largest
    assert np.all(unit.unit_error[0][1:] < 1e-3 * layer.unit_error[0][1:])
    assert errs["unit"] < errs["layer"] / 3
    # with the gate moved into the data's gap (t > 0: the off point at -1e-4 is then
    # farther from it), the culprit's constant shrinks and so does the error
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ntkfix.errors.PrecisionWarning)
        rspec, rparams, shifted = ntkfix.to_relu(model, f32(p), x32, constants="unit_shifted")
    assert shifted.identity_holds and shifted.shift and shifted.shift[0][0] > 0
    assert shifted.M[0][0] < unit.M[0][0] / 10
    err = float(np.abs(np.asarray(rspec.apply(rparams, x32), np.float64) - exact).max())
    assert err < errs["unit"] / 3
    # on the data the twin's gates are the FAP net's: u - t > 0 exactly where u > 0
    u = np.asarray(x32 @ f32(p0)[0][0]) * a
    np.testing.assert_array_equal(u - shifted.shift[0][None, :] > 0, u > 0)


def test_rounding_floor_of_the_value_neurons():
    """``cert.rounding_floor``: the value neurons relu(M u + z) rounded to float32 at the
    smallest constants (M = need), propagated through the FAP net. Checked against a
    direct recomputation for a one-hidden-layer net (f = a_out v @ Wo, so df = a_out dv @
    Wo), its exact 2^-29 scaling to float64 (the FAP net is linear in v), plain rounding
    (M = 0) below it, and the float32 twin's measured error above it."""
    spec = ntkfix.MLP(D, 8, 1)
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(2), (N, D)))
    a, x0 = spec.weight_scale(0), x[0]
    W0 = np.asarray(spec.init(jax.random.PRNGKey(0))[0][0]).copy()
    W0[:, 0] -= (x0 @ W0[:, 0] + 1e-4 / a) * x0 / (x0 @ x0)  # u_0(x_0) = -1e-4: need ~ 5000
    W = W0.copy()
    W[:, 0] += 0.5 * x0 / (x0 @ x0) / a
    Wo = np.asarray(spec.init(jax.random.PRNGKey(0))[2][0]) + 0.1
    p0 = [(jnp.asarray(W0), None), (), (jnp.asarray(Wo), None)]
    p = [(jnp.asarray(W), None), (), (jnp.asarray(Wo), None)]
    model = ntkfix.FixedPattern(spec, p0)
    _, _, cert = ntkfix.to_relu(model, p, jnp.asarray(x), constants="unit")
    fl = cert.rounding_floor(x, np.float32, draws=5, seed=3)
    # direct: the same draws, the readout's formula
    u, z = a * (x @ W0), a * (x @ W)
    f = spec.weight_scale(1) * (np.where(u > 0, z, 0.0) @ Wo)
    rng, errs = np.random.default_rng(3), []
    for _ in range(5):
        s = cert.required[0][None, :] * u + z
        half = np.spacing(np.abs(s).astype(np.float32)).astype(np.float64) / 2
        dv = np.where(u > 0, rng.uniform(-1.0, 1.0, s.shape) * half, 0.0)
        errs.append(np.abs(spec.weight_scale(1) * (dv @ Wo)).max() / np.abs(f).max())
    assert fl.twin == pytest.approx(float(np.median(errs)), rel=1e-12)
    assert fl.plain < fl.twin / 10  # the large constant costs digits plain rounding does not
    fl64 = cert.rounding_floor(x, np.float64, draws=5, seed=3)
    assert fl64.twin == pytest.approx(fl.twin * 2.0**-29, rel=1e-9)
    assert fl == cert.rounding_floor(x, np.float32, draws=5, seed=3)  # seeded: same numbers
    # the float32 twin itself (its sums and weights round too) is no better than the floor
    f32 = lambda t: jax.tree_util.tree_map(lambda v: jnp.asarray(v, jnp.float32), t)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ntkfix.errors.PrecisionWarning)
        _, _, c32 = ntkfix.to_relu(
            ntkfix.FixedPattern(spec, f32(p0)), f32(p), jnp.asarray(x, jnp.float32), margin=0.0
        )
    assert c32.relative_error >= c32.rounding_floor(x).twin / 3


def test_rounding_floor_is_for_mlp_twins():
    def fn(p, x):
        return jax.nn.relu(x @ p["w"]) @ p["v"]

    p0 = {"w": jnp.ones((D, 4)) * 0.3, "v": jnp.ones((4, 1))}
    p0["w"] = p0["w"] + jax.random.normal(jax.random.PRNGKey(0), (D, 4))
    x, _ = _data()
    _, _, cert = ntkfix.to_relu(ntkfix.FixedPattern(fn, p0, x), p0, x)
    with pytest.raises(ValueError, match="rounding_floor reads an MLP twin's units"):
        cert.rounding_floor(x)
