"""ReLU twins of FAP nets of any network: the stax form of a twin (float64, conftest)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkfix
from tests.helpers import assert_close, rel_err, requires_nt
from tests.ntkfix.test_any_network import XI


@requires_nt
def test_the_twin_of_a_stax_residual_cnn_as_a_stax_pair(nt):
    stax = nt.stax
    block = stax.serial(stax.Conv(4, (3, 3), padding="SAME"), stax.Relu())
    triple = stax.serial(
        stax.Conv(4, (3, 3), padding="SAME"),
        stax.Relu(),
        stax.FanOut(2),
        stax.parallel(block, stax.Identity()),
        stax.FanInSum(),
        stax.Relu(),
        stax.GlobalAvgPool(),
        stax.Dense(2),
    )
    _, p0 = triple[0](jax.random.PRNGKey(0), (-1, 8, 8, 1))
    y = np.cos(np.arange(12.0).reshape(6, 2))
    fap = ntkfix.FixedPattern(triple, p0)
    trained = ntkfix.train(fap, p0, XI, y, steps=20, lr=0.5, record_every=20, track=()).params
    twin, tp, cert = ntkfix.to_relu(fap, trained, XI)
    # stax.Relu is ABRelu, a min(z, 0) and a max(z, 0) gate: two per ReLU layer
    assert cert.exact and len(cert.M) == 6
    init_fn, apply_fn = twin.stax()
    out_shape, params = init_fn(jax.random.PRNGKey(9), (-1, 8, 8, 1))
    assert out_shape == (-1, 2)
    assert all(
        a is b
        for a, b in zip(
            jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(tp), strict=True
        )
    )
    assert_close(apply_fn(params, XI, rng=None), fap.apply(trained, XI), atol=1e-12, rtol=1e-11)
    assert rel_err(apply_fn(params, XI), triple[1](trained, XI)) > 1e-6  # not the ReLU net
    # neural-tangents takes the pair: its empirical NTK of the twin is ntkfix's
    theirs = nt.empirical_ntk_fn(apply_fn, trace_axes=(-1,), implementation=1)(XI, None, params)
    assert rel_err(ntkfix.empirical_ntk(twin, tp, XI), theirs) < 1e-10
    # and jit treats the twin as a pytree (its certified params are leaves)
    assert_close(
        jax.jit(lambda t, q, x: t.apply(q, x))(twin, tp, jnp.asarray(XI)), twin.apply(tp, XI)
    )


def _leaky_cnn(p, x):
    dn = ("NHWC", "HWIO", "NHWC")
    h = jax.lax.conv_general_dilated(x, p["c1"], (1, 1), "SAME", dimension_numbers=dn)
    h = jax.nn.leaky_relu(h, 0.1)
    h = jnp.where(h @ p["m"] > 0.05, h @ p["m"], 0.3 * h @ p["m"])  # a hand-written select
    return jnp.mean(h, axis=(1, 2)) @ p["w"]


def test_the_twin_of_a_leaky_relu_cnn_is_a_relu_network():
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(2), 3)
    p0 = {
        "c1": jax.random.normal(k1, (3, 3, 1, 5)) / 3.0,
        "m": jax.random.normal(k2, (5, 5)) / np.sqrt(5.0),
        "w": jax.random.normal(k3, (5, 2)) / np.sqrt(5.0),
    }
    y = np.sin(np.arange(12.0).reshape(6, 2))
    fap = ntkfix.FixedPattern(_leaky_cnn, p0)
    assert_close(fap.apply(p0, XI), _leaky_cnn(p0, XI))
    trained = ntkfix.train(fap, p0, XI, y, steps=30, lr=0.5, record_every=30, track=()).params
    assert rel_err(fap.apply(trained, XI), _leaky_cnn(trained, XI)) > 1e-6  # moved off p0
    twin, tp, cert = ntkfix.to_relu(fap, trained, XI)
    # two selects, each rewritten on both streams (the initial net's and the trained)
    assert cert.exact and cert.building.rows_ok.all() and len(cert.M) == 4
    assert_close(twin.apply(tp, XI), fap.apply(trained, XI), atol=1e-12, rtol=1e-11)
    from tests.ntkfix.test_any_network import _primitives

    prims = _primitives(jax.make_jaxpr(twin.fn)(tp, jnp.asarray(XI)).jaxpr)
    assert "max" in prims and not prims & {"select_n", "gt", "ge", "lt", "le", "eq"}


def _zero_bias_cnn(p, x):
    dn = ("NHWC", "HWIO", "NHWC")
    h = jax.lax.conv_general_dilated(x, p["c1"], (1, 1), "SAME", dimension_numbers=dn)
    h = jax.nn.relu(h + p["b1"])
    h = jax.lax.conv_general_dilated(h, p["c2"], (1, 1), "SAME", dimension_numbers=dn)
    h = jax.nn.relu(h + p["b2"])
    return jnp.mean(h, axis=(1, 2)) @ p["w"]


def _digits_cnn(dtype=np.float64):
    """A CNN with zero initial biases on digits (an exactly 0 background): every all-zero
    patch puts u == 0 at params0, and the trained biases make z > 0 there."""
    from sklearn.datasets import load_digits

    x = (load_digits().data[:48].reshape(-1, 8, 8, 1) / 16.0).astype(dtype)
    k = jax.random.split(jax.random.PRNGKey(0), 3)
    p0 = {
        "c1": jax.random.normal(k[0], (3, 3, 1, 6)) / 3.0,
        "c2": jax.random.normal(k[1], (3, 3, 6, 6)) / np.sqrt(54.0),
        "w": jax.random.normal(k[2], (6, 2)) / np.sqrt(6.0),
        "b1": jnp.zeros((1, 1, 1, 6)),
        "b2": jnp.zeros((1, 1, 1, 6)),
    }
    p0 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), p0)
    p1 = dict(p0, b1=p0["b1"] + 0.05, b2=p0["b2"] + 0.03, w=p0["w"] * 1.1)
    return ntkfix.FixedPattern(_zero_bias_cnn, p0), p1, x


def test_the_twin_of_a_zero_bias_cnn_on_digits_is_exact():
    fap, p1, x = _digits_cnn()
    before = fap.program(x).terms(fap.params0, p1, x)
    assert sum(int(jnp.sum((u == 0) & (z > 0))) for u, z in before) > 1000  # boundaries
    twin, tp, cert = ntkfix.to_relu(fap, p1, x)  # warnings are errors in the tests
    assert cert.exact and cert.building.rows_ok.all() and cert.building.boundary_units == 0
    assert len(cert.shift) == 2 and min(cert.shift) > 0  # both ReLU layers thresholded
    assert_close(twin.apply(tp, x), fap.apply(p1, x), atol=1e-11, rtol=1e-10)
    # a ReLU network still: relu (max) gates only, the thresholds are biases
    from tests.ntkfix.test_any_network import _primitives

    prims = _primitives(jax.make_jaxpr(twin.fn)(tp, jnp.asarray(x)).jaxpr)
    assert "max" in prims and not prims & {"select_n", "gt", "ge", "lt", "le", "eq"}
    chk = cert.check(np.zeros((2, 8, 8, 1)))  # a blank image: every unit on its boundary
    assert chk.all_ok and chk.boundary_units == 0


def test_the_zero_bias_cnn_twin_in_float32_is_right_on_every_row():
    """float32: the gates all hold; the rounding of p - M g (M ~ z / t, t half the
    smallest positive u) is what is left, within the float32 rtol or warned."""
    import warnings

    fap, p1, x = _digits_cnn(np.float32)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        twin, tp, cert = ntkfix.to_relu(fap, p1, x)
    assert cert.building.rows_ok.all() and cert.building.boundary_units == 0
    assert cert.exact or any(r.category is ntkfix.errors.PrecisionWarning for r in rec)
    assert rel_err(twin.apply(tp, x), fap.apply(p1, x)) < 1e-2


def test_a_graph_twin_refuses_non_finite_params_naming_the_leaf():
    fap, p1, x = _digits_cnn()
    bad = dict(p1, b2=p1["b2"].at[0, 0, 0, 3].set(np.nan))
    with pytest.raises(ValueError, match=r"params\['b2'\] contains NaN or inf \(1 of 6"):
        ntkfix.to_relu(fap, bad, x)


def test_a_cnn_twin_with_constants_per_channel_and_per_unit():
    """constants="channel": one M per conv channel (a conv twin), "unit": one per (position,
    channel); each the largest need of its group times 1.5, so unit <= channel <= layer."""
    from tests.ntkfix.test_any_network import cnn_fn, cnn_params

    p0 = cnn_params()
    fap = ntkfix.FixedPattern(cnn_fn, p0)
    p = jax.tree_util.tree_map(lambda a: 1.3 * a + 0.01, p0)
    out = {c: ntkfix.to_relu(fap, p, XI, constants=c) for c in ("layer", "channel", "unit")}
    for c, (twin, tp, cert) in out.items():
        assert cert.identity_holds, c
        assert_close(twin.apply(tp, XI), fap.apply(p, XI), rtol=1e-9, atol=1e-12)
    shapes = [np.shape(m) for m in out["channel"][1]["M"]]
    assert all(len(s) == 1 for s in shapes)  # one per channel of each gate
    for lay, ch, un, need in zip(
        out["layer"][2].M,
        out["channel"][2].M,
        out["unit"][2].M,
        out["unit"][2].required,
        strict=True,
    ):
        np.testing.assert_allclose(un, np.maximum(1.0, 1.5 * need), rtol=1e-12)
        assert np.all(un <= ch + 1e-12) and np.all(ch <= lay + 1e-12)
        assert ch.max() == pytest.approx(lay.max())
    assert rel_err(out["unit"][0].apply(out["unit"][1], XI), fap.apply(p, XI)) < 1e-9
