"""Jacobian contraction and NTK-vector products for any network, and the cost model that
picks between them (``ntkfix._kernels.cost``). float64 (conftest); the reference is the
whole-batch jax.jacrev of ``empirical_ntk_autodiff``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkfix
from ntkfix._kernels import cost
from ntkfix._models.function import Function
from tests.helpers import assert_close, rel_err, requires_nt
from tests.ntkfix.test_any_network import SPEC, XI, cnn_fn, cnn_params, mlp_fn, moved


@pytest.mark.parametrize("implementation", ["jacobian", "ntk_vector"])
@pytest.mark.parametrize("trace", [True, False])
@pytest.mark.parametrize("block_size", [4, 64])
def test_both_implementations_equal_the_whole_batch_jacobian(implementation, trace, block_size):
    p, x2 = cnn_params(), XI[:5] + 0.1
    ref = ntkfix.kernels.empirical_ntk_autodiff(cnn_fn, p, XI, trace=trace)
    K = ntkfix.empirical_ntk(
        cnn_fn, p, XI, trace=trace, implementation=implementation, block_size=block_size
    )
    assert rel_err(K, ref) < 1e-12
    assert np.array_equal(K, np.swapaxes(K, 0, 1) if trace else K.transpose(1, 0, 3, 2))
    K12 = ntkfix.empirical_ntk(
        cnn_fn, p, XI, x2, trace=trace, implementation=implementation, block_size=block_size
    )
    assert (
        rel_err(K12, ntkfix.kernels.empirical_ntk_autodiff(cnn_fn, p, XI, x2, trace=trace)) < 1e-12
    )


def test_ntk_vector_products_of_a_fap_net_off_params0_and_under_jit():
    p0 = cnn_params()
    fap, p = ntkfix.FixedPattern(cnn_fn, p0), moved(p0, 0.2)
    ref = ntkfix.kernels.empirical_ntk_autodiff(fap, p, XI)
    assert rel_err(ntkfix.empirical_ntk(fap, p, XI, implementation="ntk_vector"), ref) < 1e-12
    jitted = jax.jit(lambda q, x: ntkfix.empirical_ntk(fap, q, x, implementation="ntk_vector"))
    assert rel_err(jitted(p, XI), ref) < 1e-12
    # the MLP written as a function, many columns per chunk and one column per chunk
    from ntkfix._kernels import products

    x = np.random.default_rng(2).normal(size=(9, SPEC.in_dim))
    want = ntkfix.empirical_ntk(SPEC, SPEC.init(jax.random.PRNGKey(0)), x, trace=False)
    for chunk in (1, 4):
        blk = products.products_tile(
            Function(mlp_fn),
            SPEC.init(jax.random.PRNGKey(0)),
            jnp.asarray(x),
            jnp.asarray(x),
            False,
            chunk,
        )
        assert_close(blk, want)


def test_forward_flops_count_matmuls_and_convolutions():
    d, m, k = 5, 7, 3
    w1, w2 = jnp.ones((d, m)), jnp.ones((m, k))
    F, A = cost.forward_flops(
        Function(lambda p, x: jax.nn.relu(x @ p[0]) @ p[1]), (w1, w2), jnp.ones((1, d))
    )
    # two matmuls (2 d m + 2 m k) and the relu's elementwise max (m outputs)
    assert F == 2 * d * m + 2 * m * k + m and A == m + m + k
    p = cnn_params()
    conv = lambda p, x: jax.lax.conv_general_dilated(
        x, p["c1"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    ).reshape(1, -1)
    F, _ = cost.forward_flops(Function(conv), p, XI[:1])
    assert F == 2 * (8 * 8 * 6) * (3 * 3 * 1)  # output elements x multiply-adds per output


def test_the_cost_model_picks_the_cheaper_implementation():
    p = cnn_params()
    fn = Function(cnn_fn)
    F, _ = cost.forward_flops(fn, p, XI[:1])
    P = sum(a.size for a in jax.tree_util.tree_leaves(p))
    assert F > 10 * P  # a CNN shares its weights over positions
    assert cost.choose("auto", F, P, 2, 100, None, True, 8) == "jacobian"
    # a dense net (F ~ 2P) with many outputs and untraced blocks: k^2 P > k F
    assert cost.choose("auto", 2 * P, P, 10, 100, None, False, 8) == "ntk_vector"
    assert cost.choose("auto", 2 * P, P, 1, 100, None, False, 8) == "jacobian"
    # 8 rows of Jacobian do not fit the budget: products whatever the operations
    big = cost.JACOBIAN_BUDGET_BYTES
    assert cost.choose("auto", 10**12, big, 1, 100, None, True, 8) == "ntk_vector"
    assert cost.choose("jacobian", 2 * P, P, 10, 100, None, False, 8) == "jacobian"
    c = cost.costs(F, P, 2, 10, 20, False)
    assert c["jacobian"] == 30 * 5 * F + 200 * 2 * 4 * P
    assert c["ntk_vector"] == 30 * 5 * F + 200 * 2 * 2 * F


def test_bad_implementation_names_the_argument():
    with pytest.raises(ValueError, match="implementation must be one of 'auto', 'jacobian'"):
        ntkfix.empirical_ntk(cnn_fn, cnn_params(), XI, implementation="fast")
    with pytest.raises(ValueError, match="structured formula"):
        ntkfix.empirical_ntk(
            SPEC, SPEC.init(jax.random.PRNGKey(0)), XI[:, 0, :5, 0], implementation="jacobian"
        )


def test_traced_graphs_are_cached_per_shape_and_bounded(monkeypatch):
    from ntkfix._models import graph

    monkeypatch.setattr(graph, "_PROGRAMS", graph.collections.OrderedDict())
    monkeypatch.setattr(graph, "MAX_PROGRAMS", 2)
    p0 = cnn_params()
    fap = ntkfix.FixedPattern(cnn_fn, p0)
    first = fap.program(jnp.asarray(XI))
    assert fap.program(jnp.asarray(XI) + 1.0) is first  # values do not matter
    for n in (2, 3, 4):
        fap.apply(p0, XI[:n])
    assert len(graph._PROGRAMS) == 2 and fap.program(jnp.asarray(XI)) is not first


@requires_nt
def test_the_fap_cnn_kernel_approaches_the_cntk_as_channels_grow(nt):
    stax = nt.stax

    def distance(channels, seed):
        triple = stax.serial(
            stax.Conv(channels, (3, 3), padding="SAME"),
            stax.Relu(),
            stax.Conv(channels, (3, 3), padding="SAME"),
            stax.Relu(),
            stax.GlobalAvgPool(),
            stax.Dense(1),
        )
        _, p0 = triple[0](jax.random.PRNGKey(seed), (-1, 8, 8, 1))
        fap = ntkfix.FixedPattern(triple, p0)
        return ntkfix.kernel_distance(
            ntkfix.empirical_ntk(fap, p0, XI), ntkfix.infinite_ntk(fap, XI)
        )

    narrow = np.mean([distance(4, s) for s in range(3)])
    wide = np.mean([distance(128, s) for s in range(3)])
    assert wide < narrow / 2.5  # ~ 1/sqrt(channels): 5.7x expected
