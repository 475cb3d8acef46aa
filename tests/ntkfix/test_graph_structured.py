"""Structured derivatives of any traced network (``ntkfix._kernels.graph_layers`` and
``graph_structured``): both per-layer rules and the cost model's mix, against the
whole-batch jax.jacrev of ``empirical_ntk_autodiff`` and Jacobian contraction, float64
(conftest), < 1e-12 relative; on a grid of layers, fallbacks and networks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkfix
from ntkfix._kernels import cost
from ntkfix._kernels.graph_layers import trace_layers
from ntkfix._models.function import Function
from tests.helpers import rel_err, requires_nt
from tests.ntkfix.test_any_network import SPEC, XI, X, cnn_fn, cnn_params, mlp_fn, moved

STRUCTURED = ("structured", "structured_gram", "structured_gradients")
RNG = np.random.default_rng(11)
IMG = RNG.normal(size=(5, 6, 6, 2))  # NHWC
DN = ("NHWC", "HWIO", "NHWC")


def normal(*shape, scale=None):
    scale = 1.0 / np.sqrt(np.prod(shape[:-1])) if scale is None else scale
    return jnp.asarray(RNG.normal(size=shape) * scale)


def layers_of(fn, p, x):
    net = trace_layers(Function(fn) if callable(fn) else fn, p, jnp.asarray(x[:1]))
    return [(lay.kind, lay.leaf) for lay in net.layers], net.fallback


def check(model, p, x, *, traces=(True, False), x2=True, impls=STRUCTURED, block_size=None):
    """Every structured implementation equals the whole-batch jacrev (and Jacobian
    contraction), K(x, x) and K(x, x2), traced and untraced."""
    x2 = np.asarray(x)[:3] * 0.7 + 0.1 if x2 else None
    for trace in traces:
        for other in (None, x2) if x2 is not None else (None,):
            ref = ntkfix.kernels.empirical_ntk_autodiff(model, p, x, other, trace=trace)
            jc = ntkfix.empirical_ntk(model, p, x, other, trace=trace, implementation="jacobian")
            assert rel_err(jc, ref) < 1e-12
            for impl in impls:
                K = ntkfix.empirical_ntk(
                    model, p, x, other, trace=trace, implementation=impl, block_size=block_size
                )
                assert rel_err(K, ref) < 1e-12, (impl, trace, other is None)


def test_dense_layers_with_biases_and_several_outputs():
    P0 = SPEC.init(jax.random.PRNGKey(0))
    assert layers_of(mlp_fn, P0, X) == (
        [("dot", 0), ("dot", 2), ("dot", 4)],
        (1, 3, 5),  # the biases: per-example gradients from the same backward pass
    )
    check(mlp_fn, P0, X, block_size=4)  # k = 2, tiles of 4 rows: diagonal and off-diagonal


@pytest.mark.parametrize(
    "conv",
    [
        dict(window_strides=(2, 2), padding="VALID"),
        dict(window_strides=(1, 2), padding="SAME", rhs_dilation=(2, 1)),
        dict(window_strides=(1, 1), padding=((2, 0), (1, 3)), lhs_dilation=(2, 1)),
        dict(window_strides=(1, 1), padding="SAME", feature_group_count=2),
    ],
    ids=["strided-valid", "same-dilated", "explicit-pad-lhs-dilation", "groups"],
)
def test_convolutions(conv):
    groups = conv.get("feature_group_count", 1)
    p = {"c": normal(3, 2, 2 // groups, 4), "b": normal(4, scale=0.3), "w": normal(4, 3)}

    def fn(p, x):
        h = jax.lax.conv_general_dilated(x, p["c"], dimension_numbers=DN, **conv)
        h = jax.nn.relu(h + p["b"][None, None, None])
        return jnp.mean(h, axis=(1, 2)) @ p["w"]

    assert layers_of(fn, p, IMG) == ([("conv", 1), ("dot", 2)], (0,))
    check(fn, p, IMG)


def test_nchw_convolutions_average_pooling_and_a_residual_sum():
    p = {"c1": normal(4, 2, 3, 3), "c2": normal(4, 4, 3, 3), "w": normal(36, 2)}
    dn = ("NCHW", "OIHW", "NCHW")

    def fn(p, x):
        x = jnp.transpose(x, (0, 3, 1, 2))
        h = jax.nn.relu(
            jax.lax.conv_general_dilated(x, p["c1"], (1, 1), "SAME", dimension_numbers=dn)
        )
        h = h + jax.nn.relu(
            jax.lax.conv_general_dilated(h, p["c2"], (1, 1), "SAME", dimension_numbers=dn)
        )
        pooled = jax.lax.reduce_window(h, 0.0, jax.lax.add, (1, 1, 2, 2), (1, 1, 2, 2), "VALID") / 4
        return pooled.reshape(x.shape[0], -1) @ p["w"]

    assert layers_of(fn, p, IMG)[1] == ()
    check(fn, p, IMG, traces=(True,))


def test_einsum_and_per_head_weights():
    p = {"w": normal(6, 2, 4), "heads": normal(2, 4, 3), "out": normal(6, 2)}

    def fn(p, x):
        h = jnp.einsum("bd,dhe->bhe", x, p["w"])  # a jitted einsum: a pjit in the graph
        h = jax.nn.relu(jnp.einsum("bhe,hef->bhf", h, p["heads"]))  # G = 2 heads
        return h.reshape(x.shape[0], -1) @ p["out"]

    x = RNG.normal(size=(5, 6))
    found, fallback = layers_of(fn, p, x)
    assert sorted(found) == [("dot", 0), ("dot", 1), ("dot", 2)] and fallback == ()
    check(fn, p, x)


def test_tied_and_nonlinear_parameters_fall_back_exactly():
    p = {"W": normal(6, 6), "V": normal(6, 4), "a": normal(4, 2), "s": normal(4, scale=1.0)}

    def fn(p, x):
        h = jax.nn.relu(x @ p["W"])
        h = jax.nn.relu(h @ p["W"].T)  # tied: W used twice
        h = jax.nn.relu(h @ (p["V"] * p["V"]))  # V enters non-linearly
        return (h * p["s"][None]) @ p["a"]  # s: an elementwise scale, no rule

    x = RNG.normal(size=(5, 6))
    found, fallback = layers_of(fn, p, x)
    assert found == [("dot", 2)] and fallback == (0, 1, 3)  # leaves: V, W, a, s
    check(fn, p, x)


def test_a_fap_net_off_params0_and_under_jit():
    p0 = cnn_params()
    fap, p = ntkfix.FixedPattern(cnn_fn, p0), moved(p0, 0.3)
    assert layers_of(fap, p, XI) == ([("conv", 0), ("conv", 1), ("dot", 2)], ())
    check(fap, p, XI, traces=(True,))
    ref = ntkfix.kernels.empirical_ntk_autodiff(fap, p, XI)
    jitted = jax.jit(lambda q, x: ntkfix.empirical_ntk(fap, q, x, implementation="structured"))
    assert rel_err(jitted(p, XI), ref) < 1e-12
    assert rel_err(ntkfix.empirical_ntk(fap, p0, XI), ntkfix.empirical_ntk(cnn_fn, p0, XI)) < 1e-12


def test_the_cost_model_picks_structured_and_each_rule_where_it_pays():
    for fn, p, x in ((mlp_fn, SPEC.init(jax.random.PRNGKey(0)), X), (cnn_fn, cnn_params(), XI)):
        est = ntkfix.kernels.EmpiricalKernel(fn, p).estimate(x)
        assert est.implementation == "structured"
    net = trace_layers(Function(cnn_fn), cnn_params(), jnp.asarray(XI[:1]))
    from ntkfix._kernels.graph_structured import choose_rules

    # convolutions (S = 64 positions) take per-example gradients, the dense readout grams
    assert choose_rules(net, 512, 512**2 // 2, 256, True, 4) == ("gradients", "gradients", "gram")
    assert choose_rules(net, 5, 10, 8, True, 4, force="gram") == ("gram",) * 3
    # a network without any rule: Jacobian contraction, and the forced rule is refused
    fn = lambda p, x: jnp.tanh(x @ p) @ p.T[:, :1]  # the only leaf is used twice
    assert ntkfix.kernels.EmpiricalKernel(fn, jnp.ones((5, 5))).estimate(X).implementation in (
        "jacobian",
        "ntk_vector",
    )
    with pytest.raises(ValueError, match="no parameter of this network enters once"):
        ntkfix.empirical_ntk(fn, jnp.ones((5, 5)), X, implementation="structured")
    c = cost.costs(100, 50, 1, 10, None, True, None)
    assert "structured" not in c


@requires_nt
def test_stax_residual_and_flax_models_against_neural_tangents(nt):
    from tests.ntkfix.test_any_network import _flax_cnn

    stax = nt.stax
    block = stax.serial(stax.Conv(3, (3, 3), padding="SAME"), stax.Relu())
    triple = stax.serial(
        stax.Conv(3, (3, 3), strides=(1, 1), padding="SAME", b_std=0.1),
        stax.Relu(),
        stax.FanOut(2),
        stax.parallel(block, stax.Identity()),
        stax.FanInSum(),
        stax.AvgPool((2, 2), (2, 2)),
        stax.Conv(4, (2, 2), strides=(2, 2), padding="VALID"),
        stax.Relu(),
        stax.Flatten(),
        stax.Dense(2, b_std=0.1),
    )
    _, sp = triple[0](jax.random.PRNGKey(2), (-1, 8, 8, 1))
    model, v0 = _flax_cnn()
    for apply, p in ((triple[1], sp), (model.apply, v0)):
        refs = [
            nt.empirical_ntk_fn(apply, trace_axes=(-1,), implementation=i)(XI, None, p)
            for i in (1, 2, 3)
        ]
        for impl in STRUCTURED:
            K = ntkfix.empirical_ntk(apply, p, XI, implementation=impl)
            assert all(rel_err(K, ref) < 1e-10 for ref in refs), impl


def test_one_tile_fused_call_equals_the_tiles():
    """K(x, x) in one tile runs features and tile as one compiled call (``whole``): the
    same numbers as the two-step path (several tiles) and as Jacobian contraction."""
    P0 = SPEC.init(jax.random.PRNGKey(3))
    for trace in (True, False):
        one = ntkfix.empirical_ntk(mlp_fn, P0, X, trace=trace, implementation="structured")
        tiles = ntkfix.empirical_ntk(
            mlp_fn, P0, X, trace=trace, implementation="structured", block_size=4
        )
        jc = ntkfix.empirical_ntk(mlp_fn, P0, X, trace=trace, implementation="jacobian")
        assert rel_err(one, tiles) < 1e-13 and rel_err(one, jc) < 1e-12
        if trace:
            assert np.array_equal(np.asarray(one), np.asarray(one).T)  # exactly symmetric


def test_output_shapes_are_remembered_per_shape_not_per_function():
    """The eval_shape cache of ``Function.output_shape``: keyed by the arguments' shapes
    and dtypes, so another batch size or output count is seen, and a failing call is
    still named."""
    f = Function(lambda p, x: x @ p["w"])
    p1, p2 = {"w": jnp.ones((3, 2))}, {"w": jnp.ones((3, 5))}
    assert f.output_shape(p1, jnp.ones((4, 3))) == (4, 2)
    assert f.output_shape(p1, jnp.ones((7, 3))) == (7, 2)
    assert f.output_shape(p2, jnp.ones((7, 3))) == (7, 5)
    with pytest.raises(ValueError, match=r"model\(params, x\) failed for x of shape \(7, 4\)"):
        f.output_shape(p2, jnp.ones((7, 4)))


def test_untraced_memory_plan_counts_tiles_not_scalars():
    """The untraced plan's tile temporaries are tiles of (b, b, k, k) entries: the gram
    rule's k^2 cotangent Gram is one such tile, not k^2 of them (before: a k = 10 dense
    function at n = 256 was refused for ~22 GiB it never needs)."""
    spec = ntkfix.MLP(8, 64, 2, out_dim=10)
    p = spec.init(jax.random.PRNGKey(0))

    def fn(p, x):
        for l in range(spec.depth):
            x = jax.nn.relu(spec.layer(p, l, x))
        return spec.layer(p, spec.depth, x)

    x = jax.ShapeDtypeStruct((256, 8), jnp.float64)
    est = ntkfix.kernels.empirical(fn, p, trace=False).estimate(x)
    assert est.implementation == "structured" and est.block == 256
    out = 256 * 256 * 100 * 8
    # output + 3 tiles in flight, each with a handful of tile-sized arrays
    assert out < est.memory_bytes < 3 * 8 * out
