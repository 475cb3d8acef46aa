"""Any ReLU network: plain JAX functions and stax models, their FAP twins and exact NTKs.

References: the structured MLP path (an independent formula), jax.jacrev of the whole
batch (``empirical_ntk_autodiff``), and neural-tangents' three empirical-NTK
implementations; float64 throughout (conftest).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkfix
from ntkfix.errors import UnsupportedOperation
from tests.helpers import assert_close, rel_err, requires_nt

SPEC = ntkfix.MLP(5, 16, 2, W_std=1.3, b_std=0.2, out_dim=2)
P0 = SPEC.init(jax.random.PRNGKey(0))
X = np.random.default_rng(0).normal(size=(7, 5))


def mlp_fn(params, x):
    """SPEC written as a plain function with jax.nn.relu."""
    h = x
    for l in range(SPEC.depth):
        h = jax.nn.relu(SPEC.layer(params, l, h))
    return SPEC.layer(params, SPEC.depth, h)


def moved(params, scale=0.3, seed=3):
    leaves, tree = jax.tree_util.tree_flatten(params)
    rng = np.random.default_rng(seed)
    return jax.tree_util.tree_unflatten(
        tree, [a + scale * rng.normal(size=a.shape) for a in leaves]
    )


def cnn_params(key=1):
    """A CNN as a plain function: Conv-ReLU-Conv-ReLU, global average pooling, Dense."""
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(key), 3)
    return {
        "c1": jax.random.normal(k1, (3, 3, 1, 6)) / 3.0,
        "c2": jax.random.normal(k2, (3, 3, 6, 6)) / np.sqrt(54.0),
        "w": jax.random.normal(k3, (6, 2)) / np.sqrt(6.0),
    }


def cnn_fn(p, x):
    dn = ("NHWC", "HWIO", "NHWC")
    h = jax.lax.conv_general_dilated(x, p["c1"], (1, 1), "SAME", dimension_numbers=dn)
    h = jnp.maximum(h, 0.0)
    h = jax.lax.conv_general_dilated(h, p["c2"], (1, 1), "SAME", dimension_numbers=dn)
    h = jax.nn.relu(h)
    return jnp.mean(h, axis=(1, 2)) @ p["w"]


XI = np.random.default_rng(1).normal(size=(6, 8, 8, 1))


@pytest.mark.parametrize("trace", [True, False])
def test_plain_function_mlp_equals_the_structured_path(trace):
    assert_close(
        ntkfix.empirical_ntk(mlp_fn, P0, X, trace=trace),
        ntkfix.empirical_ntk(SPEC, P0, X, trace=trace),
    )
    p = moved(P0)
    fap_fn, fap_mlp = ntkfix.FixedPattern(mlp_fn, P0), ntkfix.FixedPattern(SPEC, P0)
    assert type(fap_fn).__name__ == "GraphFixedPattern"
    assert_close(fap_fn.apply(p, X), fap_mlp.apply(p, X))
    assert_close(
        ntkfix.empirical_ntk(fap_fn, p, X, X[:3], trace=trace),
        ntkfix.empirical_ntk(fap_mlp, p, X, X[:3], trace=trace),
    )
    # off params0 the FAP net is not the ReLU net (the test above is not vacuous)
    assert rel_err(fap_fn.apply(p, X), mlp_fn(p, X)) > 1e-3


@pytest.mark.parametrize("block_size", [2, 4, 64])
def test_tiled_generic_kernel_equals_the_whole_batch_jacobian(block_size):
    p = cnn_params()
    K = ntkfix.empirical_ntk(cnn_fn, p, XI, block_size=block_size)
    assert_close(K, ntkfix.kernels.empirical_ntk_autodiff(cnn_fn, p, XI))
    assert np.array_equal(np.asarray(K), np.asarray(K).T)  # symmetric tiles: exact
    full = ntkfix.empirical_ntk(cnn_fn, p, XI, XI[:2], trace=False, block_size=block_size)
    assert full.shape == (6, 2, 2, 2)
    assert_close(full, ntkfix.kernels.empirical_ntk_autodiff(cnn_fn, p, XI, XI[:2], trace=False))


def test_fap_of_a_cnn_at_params0_is_the_relu_cnn_with_its_gradient_and_ntk():
    p0 = cnn_params()
    fap = ntkfix.FixedPattern(cnn_fn, p0)
    assert_close(fap.apply(p0, XI), cnn_fn(p0, XI))
    g_fap = jax.grad(lambda p: jnp.sum(fap.forward(p, jnp.asarray(XI)) ** 2))(p0)
    g_relu = jax.grad(lambda p: jnp.sum(cnn_fn(p, XI) ** 2))(p0)
    for a, b in zip(
        jax.tree_util.tree_leaves(g_fap), jax.tree_util.tree_leaves(g_relu), strict=True
    ):
        assert_close(a, b)
    assert_close(ntkfix.empirical_ntk(fap, p0, XI), ntkfix.empirical_ntk(cnn_fn, p0, XI))
    p = moved(p0, 0.5)
    assert rel_err(fap.apply(p, XI), cnn_fn(p, XI)) > 1e-3


def test_gates_are_computed_once_and_reused():
    p0, p = cnn_params(), moved(cnn_params(), 0.5)
    fap = ntkfix.FixedPattern(cnn_fn, p0)
    gates = fap.gates(XI)
    assert len(gates) == 2 and all(g.dtype == bool for g in gates)
    assert_close(fap.forward(p, jnp.asarray(XI), gates), fap.apply(p, XI))
    with pytest.raises(ValueError, match="gates hold 1 decisions"):
        fap.forward(p, jnp.asarray(XI), gates[:1])


def test_one_hidden_layer_fap_is_linear_in_the_hidden_weights():
    spec = ntkfix.MLP(4, 32, 1)
    p0 = spec.init(jax.random.PRNGKey(2))
    fn = lambda p, x: jax.nn.relu(x @ p[0][0] * 0.7) @ p[2][0]
    fap = ntkfix.FixedPattern(fn, p0)
    x = np.random.default_rng(2).normal(size=(9, 4))
    rng = np.random.default_rng(3)
    d1, d2 = rng.normal(size=(4, 32)), rng.normal(size=(4, 32))
    at = lambda d: fap.apply([(p0[0][0] + d, None), (), p0[2]], x)
    f0 = at(0.0)
    assert_close(at(d1 + d2) - f0, (at(d1) - f0) + (at(d2) - f0))
    assert_close(at(3.0 * d1) - f0, 3.0 * (at(d1) - f0))
    relu = lambda d: fn([(p0[0][0] + d, None), (), p0[2]], x)
    assert (
        rel_err(relu(d1 + d2) - relu(0.0), (relu(d1) - relu(0.0)) + (relu(d2) - relu(0.0))) > 1e-3
    )


def test_leaky_relu_and_abs_gates_are_frozen():
    w0 = jnp.asarray(np.random.default_rng(4).normal(size=(5, 8)))
    fn = lambda w, x: jnp.sum(jax.nn.leaky_relu(x @ w, 0.1) + jnp.abs(x @ w), axis=1, keepdims=True)
    fap = ntkfix.FixedPattern(fn, w0)
    w = w0 + 0.7 * jnp.asarray(np.random.default_rng(5).normal(size=(5, 8)))
    z0, z = X @ w0, X @ w
    want = jnp.where(z0 >= 0, z, 0.1 * z) + jnp.where(z0 >= 0, z, -z)
    assert_close(fap.apply(w, X), jnp.sum(want, axis=1, keepdims=True))
    assert_close(fap.apply(w0, X), fn(w0, X))


@pytest.mark.parametrize(
    "body, op",
    [
        (lambda h: jnp.tanh(h), "tanh"),
        (lambda h: jax.nn.gelu(h), "integer_pow"),
        (lambda h: jax.nn.gelu(h, approximate=False), "erfc?"),  # erfc in newer jax
        (lambda h: jax.nn.softmax(h, axis=1), "reduce_max"),
        (lambda h: 1.0 / (1.0 + h**2), "integer_pow"),
        (
            lambda h: jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2), (1, 2), "VALID"),
            "reduce_window_max",
        ),
    ],
)
def test_operations_without_a_gate_are_refused_where_they_occur(body, op):
    w0 = jnp.ones((5, 4))
    fap = ntkfix.FixedPattern(lambda w, x: body(x @ w)[:, :1], w0)
    with pytest.raises(
        UnsupportedOperation, match=rf"\(jax primitive {op}\) at tests/ntkfix/test_any_network.py"
    ):
        fap.apply(w0, X)
    # the same operation on the inputs alone (no parameters involved) is fine
    ok = ntkfix.FixedPattern(lambda w, x: jax.nn.relu(x @ w)[:, :1] + body(x)[:, :1], w0)
    assert ok.apply(w0, X).shape == (7, 1)


def test_refusals_say_what_in_words_and_where_in_the_users_code():
    w0 = jnp.ones((5, 4))
    fn = lambda w, x: jax.nn.gelu(x @ w)[:, :1]  # the tanh form: x**3 inside jax.nn.gelu
    fap = ntkfix.FixedPattern(fn, w0)  # no example input: refused at the first call
    with pytest.raises(
        UnsupportedOperation,
        match=r"^x\*\*2 on parameter-dependent values, as in LayerNorm, GELU \(tanh form\), a "
        r"variance \(jax primitive integer_pow\) at tests/ntkfix/test_any_network.py:\d+ "
        r"\(.*<lambda>\): it has no gate",
    ):
        fap.apply(w0, X)
    with pytest.raises(UnsupportedOperation, match=r"x\*\*2 on parameter-dependent"):
        ntkfix.FixedPattern(fn, w0, X)  # with one: refused when the model is built
    assert ntkfix.FixedPattern(lambda w, x: jax.nn.relu(x @ w), w0, X).apply(w0, X).shape == (7, 4)
    spec = ntkfix.MLP(5, 4, 1)
    p0 = spec.init(jax.random.PRNGKey(0))
    assert isinstance(ntkfix.FixedPattern(spec, p0, X), ntkfix.FixedPattern)
    with pytest.raises(ValueError, match="x_example has 3 features"):
        ntkfix.FixedPattern(spec, p0, X[:, :3])


def test_a_flax_layernorm_is_refused_at_the_users_line_when_built():
    nn = pytest.importorskip("flax.linen")

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            h = nn.LayerNorm()(nn.Dense(8)(x))  # the user's line, named
            return nn.Dense(1)(nn.relu(h))

    v0 = Net().init(jax.random.PRNGKey(0), X)
    with pytest.raises(
        UnsupportedOperation,
        # x**2 first with flax for jax 0.4.25; newer flax takes 1 / sqrt(x) of its variance first
        match=r"(x\*\*2|1 / sqrt\(x\)) on parameter-dependent values, as in LayerNorm.* at "
        r"tests/ntkfix/test_any_network.py:\d+ \(.*__call__\), inside flax/linen/\w+.py",
    ):
        ntkfix.FixedPattern(Net().apply, v0, X)


def test_control_flow_on_parameters_is_refused():
    def fn(w, x):
        h, _ = jax.lax.scan(lambda c, _: (jax.nn.relu(c @ w), None), x, None, length=2)
        return h[:, :1]

    with pytest.raises(UnsupportedOperation, match=r"control flow on .* \(jax primitive scan\)"):
        ntkfix.FixedPattern(fn, jnp.eye(5)).apply(jnp.eye(5), X)


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (
            lambda: ntkfix.empirical_ntk(lambda p, x: x @ p, jnp.ones(5), X),
            ValueError,
            r"must return an \(n, k\) array .* got shape \(7,\)",
        ),
        (
            lambda: ntkfix.empirical_ntk(lambda p, x: x @ p, jnp.ones((4, 1)), X),
            ValueError,
            r"model\(params, x\) failed for x of shape \(7, 5\)",
        ),
        (
            lambda: ntkfix.empirical_ntk(mlp_fn, P0, X, trainable="hidden"),
            ValueError,
            "pass trainable=None",
        ),
        (
            lambda: ntkfix.empirical_ntk(mlp_fn, {"w": np.arange(3)}, X),
            TypeError,
            r"leaf 0 \['w'\] must be a floating array",
        ),
        (
            lambda: ntkfix.empirical_ntk(mlp_fn, P0, X, X[:, :3]),
            ValueError,
            "same shape per example",
        ),
        (
            lambda: ntkfix.FixedPattern(mlp_fn, P0).apply(P0[:3], X),
            ValueError,
            "another structure than params0",
        ),
        (
            lambda: ntkfix.FixedPattern(mlp_fn, P0).apply(moved(P0)[:-1] + [jnp.ones((3, 3))], X),
            ValueError,
            "another structure than params0|has shape",
        ),
        (lambda: ntkfix.FixedPattern(3, P0), TypeError, "spec must be an ntkfix.MLP, a function"),
        (lambda: ntkfix.empirical_ntk("net", P0, X), TypeError, "model must be an ntkfix.MLP"),
    ],
)
def test_bad_input_to_any_network(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


@requires_nt
@pytest.mark.parametrize("residual", [False, True], ids=["cnn", "residual"])
def test_stax_models_against_all_three_neural_tangents_implementations(nt, residual):
    stax = nt.stax
    if residual:
        block = stax.serial(stax.Conv(6, (3, 3), padding="SAME"), stax.Relu())
        layers = [
            stax.Conv(6, (3, 3), padding="SAME"),
            stax.Relu(),
            stax.FanOut(2),
            stax.parallel(block, stax.Identity()),
            stax.FanInSum(),
            stax.Relu(),
            stax.Flatten(),
            stax.Dense(2),
        ]
    else:
        layers = [
            stax.Conv(6, (3, 3), padding="SAME"),
            stax.Relu(),
            stax.Conv(6, (3, 3), padding="SAME"),
            stax.Relu(),
            stax.GlobalAvgPool(),
            stax.Dense(2),
        ]
    triple = stax.serial(*layers)
    _, p0 = triple[0](jax.random.PRNGKey(4), (-1, 8, 8, 1))
    K = ntkfix.empirical_ntk(triple, p0, XI, block_size=4)
    K_nvp = ntkfix.empirical_ntk(triple, p0, XI, block_size=4, implementation="ntk_vector")
    for impl in (1, 2, 3):
        ref = nt.empirical_ntk_fn(triple[1], trace_axes=(-1,), implementation=impl)(XI, None, p0)
        assert rel_err(K, ref) < 1e-10 and rel_err(K_nvp, ref) < 1e-10, impl
    fap = ntkfix.FixedPattern(triple, p0)
    assert_close(fap.apply(p0, XI), triple[1](p0, XI))
    assert_close(ntkfix.empirical_ntk(fap, p0, XI), K)
    p = moved(p0, 0.5)
    assert rel_err(fap.apply(p, XI), triple[1](p, XI)) > 1e-3


@requires_nt
@pytest.mark.parametrize("block_size", [None, 4])
def test_infinite_kernels_of_a_stax_model_are_its_kernel_fn_tiled(nt, block_size):
    stax = nt.stax
    triple = stax.serial(
        stax.Conv(6, (3, 3), padding="SAME"), stax.Relu(), stax.GlobalAvgPool(), stax.Dense(1)
    )
    kernel_fn = triple[2]
    for which, fn in (("ntk", ntkfix.infinite_ntk), ("nngp", ntkfix.infinite_nngp)):
        want = kernel_fn(XI, None, which)
        got = ntkfix.kernels.stax_kernel(triple, XI, None, which, block_size=block_size)
        assert_close(got, want)
        assert_close(fn(triple, XI, XI[:2]), kernel_fn(XI, XI[:2], which))
    _, p0 = triple[0](jax.random.PRNGKey(0), (-1, 8, 8, 1))
    fap = ntkfix.FixedPattern(triple, p0)
    assert_close(ntkfix.infinite_ntk(fap, XI), kernel_fn(XI, None, "ntk"))
    # an MLP as a stax triple: the closed form of the same architecture
    spec = ntkfix.MLP(5, 1, 2, W_std=1.3, b_std=0.2)
    # (neural-tangents' arc-cosine differs from the closed form at 1e-8, as in test_infinite)
    assert_close(
        ntkfix.infinite_ntk(spec.stax(), X),
        ntkfix.infinite_ntk(spec, X, backend="closed_form"),
        rtol=1e-8,
        atol=0,
    )


def test_an_infinite_kernel_needs_a_kernel_fn():
    with pytest.raises(ValueError, match="plain function without a kernel_fn"):
        ntkfix.infinite_ntk(mlp_fn, X)


@pytest.mark.parametrize("network", ["relu", "fap"])
def test_training_a_plain_function_equals_training_the_mlp(network):
    y = np.sin(X[:, :2])
    common = dict(steps=12, record_every=4, x_test=X[:3], y_test=y[:3])
    m_mlp = SPEC if network == "relu" else ntkfix.FixedPattern(SPEC, P0)
    m_fn = mlp_fn if network == "relu" else ntkfix.FixedPattern(mlp_fn, P0)
    a = ntkfix.train(m_mlp, P0, X, y, **common).to_frame()
    b = ntkfix.train(m_fn, P0, X, y, **common).to_frame()
    assert list(a.columns) == list(b.columns)
    assert_close(b.to_numpy(), a.to_numpy())
    many_mlp = ntkfix.train_many(SPEC, [0, 1], X, y, network=network, steps=6)
    many_fn = ntkfix.train_many(
        mlp_fn, [0, 1], X, y, network=network, steps=6, init_fn=lambda k: SPEC.init(k)
    )
    assert_close(many_fn.history.train_loss, many_mlp.history.train_loss)


def test_gd_on_a_one_hidden_layer_fap_function_is_kernel_gd():
    a = jnp.asarray(np.random.default_rng(6).normal(size=(32, 1))) / np.sqrt(32.0)
    fn = lambda W, x: jax.nn.relu(x @ W) @ a  # the readout is a constant: not trained
    W0 = jnp.asarray(np.random.default_rng(7).normal(size=(5, 32))) / np.sqrt(5.0)
    y = np.cos(X[:, :1])
    fap = ntkfix.train(ntkfix.FixedPattern(fn, W0), W0, X, y, steps=30, record_every=10)
    assert np.max(fap.history.lin_gap_train) < 1e-12  # exact: the FAP net is linear in W
    assert np.max(fap.history.ntk_drift) < 1e-12
    relu = ntkfix.train(fn, W0, X, y, steps=30, record_every=10)
    assert np.max(relu.history.ntk_drift) > 1e-4  # the ReLU net's kernel moves


def test_training_a_cnn_and_its_fap_twin():
    p0, y = cnn_params(), np.sin(np.arange(12.0).reshape(6, 2))
    relu = ntkfix.train(cnn_fn, p0, XI, y, steps=20, record_every=10)
    fap = ntkfix.train(ntkfix.FixedPattern(cnn_fn, p0), p0, XI, y, steps=20, record_every=10)
    for res in (relu, fap):
        assert res.history.train_loss[-1] < res.history.train_loss[0]
    assert relu.history.train_loss[0] == pytest.approx(fap.history.train_loss[0], rel=1e-12)
    with pytest.raises(ValueError, match="pass trainable=None"):
        ntkfix.train(cnn_fn, p0, XI, y, steps=1, trainable="hidden")
    with pytest.raises(TypeError, match="needs init_fn"):
        ntkfix.train_many(cnn_fn, [0], XI, y, steps=1)


def _flax_cnn():
    nn = pytest.importorskip("flax.linen")

    class CNN(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Conv(6, (3, 3))(x))
            x = nn.relu(nn.Conv(6, (3, 3))(x))
            return nn.Dense(2)(x.mean(axis=(1, 2)))

    model = CNN()
    v0 = model.init(jax.random.PRNGKey(5), jnp.asarray(XI[:1]))
    # flax draws float32 parameters: in float64 the checks can be tight
    return model, jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), v0)


def test_a_flax_model_and_its_fap_twin():
    model, v0 = _flax_cnn()
    fap = ntkfix.FixedPattern(model.apply, v0)
    assert_close(fap.apply(v0, XI), model.apply(v0, XI))
    K = ntkfix.empirical_ntk(model.apply, v0, XI, block_size=4)
    assert_close(K, ntkfix.kernels.empirical_ntk_autodiff(model.apply, v0, XI))
    assert_close(ntkfix.empirical_ntk(fap, v0, XI), K)
    v = moved(v0, 0.5)
    assert rel_err(fap.apply(v, XI), model.apply(v, XI)) > 1e-3
    y = np.sin(np.arange(12.0).reshape(6, 2))
    res = ntkfix.train(fap, v0, XI, y, steps=10, record_every=5)
    assert res.history.train_loss[-1] < res.history.train_loss[0]


@requires_nt
def test_a_flax_model_against_neural_tangents(nt):
    model, v0 = _flax_cnn()
    K = ntkfix.empirical_ntk(model.apply, v0, XI)
    for impl in (1, 2, 3):
        ref = nt.empirical_ntk_fn(model.apply, trace_axes=(-1,), implementation=impl)(XI, None, v0)
        assert rel_err(K, ref) < 1e-10, impl


@requires_nt
def test_mlp_like_stax_matches_default_stax_dense_layers(nt):
    stax = nt.stax
    triple = stax.serial(stax.Dense(32), stax.Relu(), stax.Dense(32), stax.Relu(), stax.Dense(1))
    _, p = triple[0](jax.random.PRNGKey(0), (-1, 5))
    want = nt.empirical_ntk_fn(triple[1], trace_axes=(-1,))(X, None, p)
    assert rel_err(ntkfix.empirical_ntk(ntkfix.MLP.like_stax(5, 32, 2), p, X), want) < 1e-10
    assert rel_err(ntkfix.empirical_ntk(triple, p, X), want) < 1e-10
    # the ntkfix defaults (W_std = sqrt(2)) give another kernel for the same params
    assert rel_err(ntkfix.empirical_ntk(ntkfix.MLP(5, 32, 2), p, X), want) > 0.1


def _primitives(jaxpr) -> set:
    """Every primitive name in ``jaxpr`` and the jaxprs it calls."""
    names = set()
    for eqn in jaxpr.eqns:
        names.add(eqn.primitive.name)
        for v in eqn.params.values():
            sub = getattr(v, "jaxpr", v)
            if hasattr(sub, "eqns"):
                names |= _primitives(sub)
    return names


def test_relu_twin_of_a_trained_fap_cnn():
    p0, y = cnn_params(), np.sin(np.arange(12.0).reshape(6, 2))
    fap = ntkfix.FixedPattern(cnn_fn, p0)
    trained = ntkfix.train(fap, p0, XI, y, steps=30, record_every=30, track=()).params
    twin, tp, cert = ntkfix.to_relu(fap, trained, XI)
    assert cert.exact and cert.building.rows_ok.all() and len(cert.M) == 2
    assert_close(twin.apply(tp, XI), fap.apply(trained, XI), atol=1e-12, rtol=1e-11)
    assert rel_err(fap.apply(trained, XI), cnn_fn(trained, XI)) > 1e-4  # not the ReLU net
    # the twin is an ordinary ReLU network: no frozen gate, no comparison or select
    prims = _primitives(jax.make_jaxpr(twin.fn)(tp, jnp.asarray(XI)).jaxpr)
    assert "max" in prims and not prims & {"select_n", "gt", "ge", "lt", "le", "eq"}
    chk = cert.check(1.1 * XI)
    assert chk.max_error < 1e-10 * chk.output_scale or not chk.all_ok


def test_relu_twin_of_a_plain_function_mlp_is_the_mlp_twin():
    p = moved(P0)
    twin, tp, cert = ntkfix.to_relu(ntkfix.FixedPattern(mlp_fn, P0), p, X)
    rspec, rparams, ref = ntkfix.to_relu(ntkfix.FixedPattern(SPEC, P0), p, X)
    assert cert.M_max == pytest.approx(ref.M_max, rel=1e-12)
    assert_close(twin.apply(tp, X), rspec.apply(rparams, X))
    with pytest.raises(ValueError, match=r"shape per example .* \(5,\), got \(3,\)"):
        cert.check(X[:, :3])
    # per-unit constants: the function's twin has the MLP twin's (one per hidden unit)
    twin_u, tp_u, cert_u = ntkfix.to_relu(ntkfix.FixedPattern(mlp_fn, P0), p, X, constants="unit")
    _, _, ref_u = ntkfix.to_relu(ntkfix.FixedPattern(SPEC, P0), p, X, constants="unit")
    for m, want in zip(cert_u.M, ref_u.M, strict=True):
        assert_close(m, want, rtol=1e-12)
    assert cert_u.exact and len(cert_u.unit_error) == len(cert_u.M)
    assert_close(twin_u.apply(tp_u, X), rspec.apply(rparams, X))
    with pytest.raises(ValueError, match="unknown constants 'row'"):
        ntkfix.to_relu(ntkfix.FixedPattern(mlp_fn, P0), p, X, constants="row")
    with pytest.raises(ValueError, match="'unit_shifted' .* is for ntkfix.MLP"):
        ntkfix.to_relu(ntkfix.FixedPattern(mlp_fn, P0), p, X, constants="unit_shifted")
    with pytest.raises(ValueError, match="'refit' .* is for ntkfix.MLP"):
        ntkfix.to_relu(ntkfix.FixedPattern(mlp_fn, P0), p, X, constants="refit")
    gated = lambda w, x: ((x @ w) * (x @ w > 0))[:, :1]  # a comparison not used by a select
    with pytest.raises(UnsupportedOperation, match="other than as the condition of a select"):
        ntkfix.to_relu(ntkfix.FixedPattern(gated, jnp.ones((5, 3))), jnp.ones((5, 3)), X)


def test_a_generic_kernel_on_disk_equals_the_one_in_memory_and_resumes(tmp_path):
    p = cnn_params()
    want = np.asarray(ntkfix.empirical_ntk(cnn_fn, p, XI, block_size=2))
    path = tmp_path / "K.npy"
    stop = lambda done, total: (_ for _ in ()).throw(KeyboardInterrupt) if done == 2 else None
    with pytest.raises(KeyboardInterrupt):
        ntkfix.empirical_ntk_to_disk(
            cnn_fn, p, XI, path, block_size=2, progress=False, on_tile=stop
        )
    K = ntkfix.empirical_ntk_to_disk(cnn_fn, p, XI, path, block_size=2, progress=False)
    assert np.array_equal(np.asarray(K), want)  # same tiles: same bits
    with pytest.raises(ValueError, match="records a run with another fingerprint"):
        ntkfix.empirical_ntk_to_disk(cnn_fn, moved(p), XI, path, block_size=2, progress=False)
