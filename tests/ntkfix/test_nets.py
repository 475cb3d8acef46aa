"""MLP and FixedPattern: neural-tangents conventions, FAP == ReLU at init."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkfix
from tests.helpers import requires_nt

SPECS = [
    dict(in_dim=5, width=7, depth=d, out_dim=k, b_std=b, parameterization=p)
    for d in (1, 3)
    for k in (1, 3)
    for b in (None, 0.3)
    for p in ("ntk", "standard")
]


def _x(n=6, d=5, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


def _perturb(params, scale=0.2, seed=1):
    leaves, tree = jax.tree_util.tree_flatten(params)
    rng = np.random.default_rng(seed)
    return jax.tree_util.tree_unflatten(
        tree, [a + scale * rng.normal(size=a.shape) for a in leaves]
    )


@requires_nt
@pytest.mark.parametrize("kw", SPECS)
def test_init_and_apply_match_neural_tangents(kw):
    spec = ntkfix.MLP(**kw)
    init_fn, apply_fn, _ = spec.stax()
    key = jax.random.PRNGKey(3)
    params = spec.init(key)
    _, nt_params = init_fn(key, (-1, spec.in_dim))
    for a, b in zip(
        jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(nt_params), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    x = _x()
    p = _perturb(params)
    np.testing.assert_allclose(spec.apply(p, x), apply_fn(p, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kw", SPECS)
def test_apply_matches_numpy_forward(kw):
    spec = ntkfix.MLP(**kw)
    p = _perturb(spec.init(jax.random.PRNGKey(0)))
    x = _x()
    h = x
    for l in range(spec.depth + 1):
        W, b = (np.asarray(a) if a is not None else None for a in p[2 * l])
        fan_in = h.shape[1]
        if spec.parameterization == "ntk":
            z = spec.w_std(l) / np.sqrt(fan_in) * h @ W + (0 if b is None else spec.b_std * b)
        else:
            z = h @ W + (0 if b is None else b)
        h = np.maximum(z, 0) if l < spec.depth else z
    np.testing.assert_allclose(spec.apply(p, x), h, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kw", SPECS)
def test_fap_equals_relu_at_init_value_and_gradient(kw):
    spec = ntkfix.MLP(**kw)
    p0 = spec.init(jax.random.PRNGKey(1))
    fap = ntkfix.FixedPattern(spec, p0)
    x = _x()
    np.testing.assert_array_equal(fap.apply(p0, x), spec.apply(p0, x))
    loss = lambda apply: lambda p: jnp.sum(apply(p, x) ** 2)
    g_fap = jax.grad(loss(fap.apply))(p0)
    g_relu = jax.grad(loss(spec.apply))(p0)
    for a, b in zip(
        jax.tree_util.tree_leaves(g_fap), jax.tree_util.tree_leaves(g_relu), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_fap_uses_initial_gates_and_values_from_params():
    spec = ntkfix.MLP(4, 6, 2, b_std=0.5)
    p0 = spec.init(jax.random.PRNGKey(2))
    p = _perturb(p0, 1.0)
    fap = ntkfix.FixedPattern(spec, p0)
    x = _x(8, 4, seed=5)
    gates = fap.gates(x)
    assert [g.shape for g in gates] == [(8, 6), (8, 6)]
    assert set(np.unique(np.concatenate([np.asarray(g).ravel() for g in gates]))) <= {0.0, 1.0}
    # independent numpy computation: gates from p0 (ReLU net), values from p
    zs0 = spec.preactivations(p0, jnp.asarray(x))
    h = x
    for l in range(spec.depth):
        h = (np.asarray(zs0[l]) > 0) * np.asarray(spec.layer(p, l, h))
    want = spec.layer(p, spec.depth, h)
    np.testing.assert_allclose(fap.apply(p, x), want, rtol=1e-12)
    assert not np.allclose(fap.apply(p, x), spec.apply(p, x))  # FAP != ReLU away from p0
    # no gradient flows through the gates: d f / d params0 is zero
    g = jax.grad(lambda q0: jnp.sum(ntkfix.FixedPattern(spec, q0).apply(p, x)))(p0)
    assert all(float(jnp.abs(a).max()) == 0 for a in jax.tree_util.tree_leaves(g))


def test_models_cross_jit_and_are_deterministic():
    spec = ntkfix.MLP(3, 8, 2)
    p0 = spec.init(jax.random.PRNGKey(7))
    again = spec.init(jax.random.PRNGKey(7))
    for a, b in zip(jax.tree_util.tree_leaves(p0), jax.tree_util.tree_leaves(again), strict=True):
        np.testing.assert_array_equal(a, b)
    fap = ntkfix.FixedPattern(spec, p0)
    x = jnp.ones((2, 3))
    out = jax.jit(lambda m, p, x: m.apply(p, x))(fap, p0, x)
    np.testing.assert_allclose(out, fap.apply(p0, x), rtol=1e-12)
    out = jax.jit(lambda m, p, x: m.apply(p, x))(spec, p0, x)
    np.testing.assert_allclose(out, spec.apply(p0, x), rtol=1e-12)


# ---- found in review (moved from test_review_fixes.py) ----
def test_low_precision_and_odd_inputs():
    spec = ntkfix.MLP(3, 4, 1)
    p16 = spec.init(jax.random.PRNGKey(0), jnp.bfloat16)
    assert spec.apply(p16, jnp.ones((2, 3), jnp.bfloat16)).dtype == jnp.bfloat16
    with pytest.raises(TypeError, match="float32 or float64 for training"):
        ntkfix.train(spec, p16, np.ones((2, 3)), np.ones((2, 1)), steps=1)
    with pytest.raises(TypeError, match="dtype must be a floating dtype"):
        spec.init(jax.random.PRNGKey(0), jnp.int32)
    with pytest.raises(TypeError, match="key must be a jax.random key"):
        spec.init(0)
    p = spec.init(jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match=r"params\[1\] should be \(\)"):
        spec.apply([p[0], jnp.ones(3), p[2]], np.ones((2, 3)))
    fap = ntkfix.FixedPattern(spec, p)
    assert fap == fap and fap != ntkfix.FixedPattern(
        spec, p
    )  # identity, never an array truth value
