"""Structured empirical NTK vs Jacobian contraction and neural-tangents (float64)."""

import os

import jax
import numpy as np
import pytest

import ntkfix
from tests.helpers import RTOL, rel_err, requires_nt

GRID = [
    dict(depth=d, b_std=b, parameterization=p, out_dim=k)
    for d in (1, 2, 3, 4)
    for b in (None, 0.2)
    for p in ("ntk", "standard")
    for k in (1, 2)
]
# ``make test-latest`` (the library again on the newest jax) sets NTKFIX_TEST_GRID=thin:
# every third architecture (11 of 32, all depths, both parameterizations, biases and
# output sizes) there; the structured formula is plain jnp, the same on every jax, and
# the full grid runs in ``make test``.
ARCHS = GRID[::3] if os.environ.get("NTKFIX_TEST_GRID") == "thin" else GRID
# (FAP at theta_0, unperturbed) is the ReLU net's kernel (test_fap_kernel_equals_relu_
# kernel_at_init): the FAP path is covered off theta_0, the ReLU path at and off it.
CASES = [(False, False), (True, False), (True, True)]


def _setup(kw, perturbed, fap):
    spec = ntkfix.MLP(in_dim=4, width=6, **kw)
    p0 = spec.init(jax.random.PRNGKey(11))
    params = p0
    if perturbed:
        leaves, tree = jax.tree_util.tree_flatten(p0)
        rng = np.random.default_rng(2)
        params = jax.tree_util.tree_unflatten(
            tree, [a + 0.3 * rng.normal(size=a.shape) for a in leaves]
        )
    model = ntkfix.FixedPattern(spec, p0) if fap else spec
    rng = np.random.default_rng(5)
    return spec, model, params, rng.normal(size=(5, 4)), rng.normal(size=(3, 4))


@pytest.mark.parametrize(
    "perturbed, fap", CASES, ids=["init-relu", "perturbed-relu", "perturbed-fap"]
)
@pytest.mark.parametrize("kw", ARCHS)
def test_structured_equals_jacobian_contraction(kw, perturbed, fap):
    spec, model, params, x1, x2 = _setup(kw, perturbed, fap)
    for trace in (True, False):
        got = ntkfix.empirical_ntk(model, params, x1, x2, trace=trace)
        want = ntkfix.kernels.empirical_ntk_autodiff(model, params, x1, x2, trace=trace)
        assert got.shape == ((5, 3) if trace else (5, 3, spec.out_dim, spec.out_dim))
        assert rel_err(got, want) < RTOL["float64"]
    # layer subsets
    for trainable in (0, -1, "hidden", (0, spec.depth)):
        got = ntkfix.empirical_ntk(model, params, x1, trainable=trainable)
        want = ntkfix.kernels.empirical_ntk_autodiff(model, params, x1, trainable=trainable)
        assert rel_err(got, want) < RTOL["float64"]


@requires_nt
@pytest.mark.parametrize("fap", [False, True], ids=["relu", "fap"])
@pytest.mark.parametrize("kw", GRID)
def test_equals_every_neural_tangents_implementation(kw, fap, nt):
    spec, model, params, x1, x2 = _setup(kw, True, fap)
    got = ntkfix.empirical_ntk(model, params, x1, x2)
    got_full = ntkfix.empirical_ntk(model, params, x1, x2, trace=False)
    for impl in nt.NtkImplementation:
        if impl == nt.NtkImplementation.AUTO:
            continue
        fn = nt.empirical_ntk_fn(model.apply, trace_axes=(-1,), implementation=impl)
        assert rel_err(got, fn(x1, x2, params)) < RTOL["float64"], impl
        fn = nt.empirical_ntk_fn(model.apply, trace_axes=(), implementation=impl)
        assert rel_err(got_full, fn(x1, x2, params)) < RTOL["float64"], impl


@pytest.mark.parametrize("kw", GRID[::3])
def test_fap_kernel_equals_relu_kernel_at_init(kw):
    spec, _, p0, x1, x2 = _setup(kw, False, False)
    fap = ntkfix.FixedPattern(spec, p0)
    np.testing.assert_allclose(
        ntkfix.empirical_ntk(fap, p0, x1, x2), ntkfix.empirical_ntk(spec, p0, x1, x2), rtol=1e-13
    )


@pytest.mark.parametrize("block_size", [1, 2, 3, 7])
@pytest.mark.parametrize("trace", [True, False])
def test_blocks_and_symmetry_give_the_same_kernel(block_size, trace):
    spec, model, params, x1, x2 = _setup(
        dict(depth=2, b_std=0.1, parameterization="ntk", out_dim=2), True, True
    )
    x = np.concatenate([x1, x2])
    full = ntkfix.kernels.empirical_ntk_autodiff(model, params, x, trace=trace)
    sym = ntkfix.empirical_ntk(model, params, x, trace=trace, block_size=block_size)
    cross = ntkfix.empirical_ntk(model, params, x, x[:5], trace=trace, block_size=block_size)
    assert rel_err(sym, full) < RTOL["float64"]
    assert rel_err(cross, full[:, :5]) < RTOL["float64"]
    K = np.asarray(ntkfix.empirical_ntk(model, params, x, block_size=block_size))
    np.testing.assert_array_equal(K, K.T)


def test_float32_close_to_float64():
    spec = ntkfix.MLP(4, 64, 3)
    p64 = spec.init(jax.random.PRNGKey(0))
    x = np.random.default_rng(0).normal(size=(9, 4))
    k64 = ntkfix.empirical_ntk(spec, p64, x)
    p32 = jax.tree_util.tree_map(lambda a: a.astype(np.float32), p64)
    k32 = ntkfix.empirical_ntk(spec, p32, x.astype(np.float32))
    assert k32.dtype == np.float32
    assert rel_err(k32, k64) < RTOL["float32"]


def test_runs_inside_jit_and_vmap():
    spec = ntkfix.MLP(3, 8, 2)
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    params = jax.vmap(spec.init)(keys)
    x = np.random.default_rng(0).normal(size=(4, 3))
    batched = jax.jit(jax.vmap(lambda p: ntkfix.empirical_ntk(spec, p, x)))(params)
    for i in range(3):
        p = jax.tree_util.tree_map(lambda a, i=i: a[i], params)
        np.testing.assert_allclose(batched[i], ntkfix.empirical_ntk(spec, p, x), rtol=1e-12)


def test_traced_features_match_and_guard_their_use():
    """``traced=True`` features (last hidden layer as g * ||w||) give the traced kernel,
    are refused for the untraced one when k > 1, and have a finite gradient even when a
    readout row is zero (sqrt at 0)."""
    from ntkfix._kernels.structured import ntk_features, ntk_from_features

    spec = ntkfix.MLP(3, 5, 2, out_dim=3, parameterization="standard")
    p = spec.init(jax.random.PRNGKey(0))
    p[-1] = (p[-1][0].at[1].set(0.0), p[-1][1])  # unit 1 feeds no output
    x = np.random.default_rng(0).normal(size=(4, 3))
    layers = (0, 1, 2)

    def traced(q):
        f = ntk_features(spec, q, x, layers, traced=True)
        return ntk_from_features(spec, layers, f, f, trace=True)

    ref = ntkfix.kernels.empirical_ntk_autodiff(spec, p, x)
    assert rel_err(traced(p), ref) < RTOL["float64"]
    f = ntk_features(spec, p, x, layers, traced=True)
    with pytest.raises(ValueError, match="only the traced kernel"):
        ntk_from_features(spec, layers, f, f, trace=False)
    grads = jax.grad(lambda q: traced(q).sum())(p)
    assert all(np.all(np.isfinite(g)) for g in jax.tree_util.tree_leaves(grads))
