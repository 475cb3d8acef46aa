"""The one network contract (``ntkfix.Network``) and the kernel objects (``ntkfix.kernels``):
a network type written here, outside the library, gets every feature; ``FixedPattern``
is the base class of both kinds of FAP net; the kernel objects equal the one-line
functions and estimate what they will cost (float64, conftest)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkfix
from tests.helpers import assert_close


class TwoLayer(ntkfix.Network):
    """A user's own network type: relu(x W1) w2 / sqrt(m), params {"W1", "w2"}."""

    def check_params(self, params, name="params"):
        if not isinstance(params, dict) or set(params) != {"W1", "w2"}:
            raise ValueError(f"{name} must be a dict with the keys W1 and w2")
        return params

    def check_inputs(self, x, name="x"):
        x = jnp.asarray(x, float)
        if x.ndim != 2 or x.shape[1] != 3:
            raise ValueError(f"{name} must be (n, 3), got shape {x.shape}")
        return x

    def output_shape(self, params, x):
        return (x.shape[0], 1)

    def forward(self, params, x, gates=None):
        h = jax.nn.relu(x @ params["W1"])
        return h @ params["w2"] / jnp.sqrt(h.shape[1])


NET = TwoLayer()
K1, K2 = jax.random.split(jax.random.PRNGKey(0))
P0 = {"W1": jax.random.normal(K1, (3, 32)), "w2": jax.random.normal(K2, (32, 1))}
P1 = jax.tree_util.tree_map(lambda a: a * 1.1 + 0.05, P0)
X = jax.random.normal(jax.random.PRNGKey(1), (9, 3))
Z = jax.random.normal(jax.random.PRNGKey(2), (4, 3))
SPEC = ntkfix.MLP(3, 32, 1)
MLP_P0 = SPEC.init(jax.random.PRNGKey(3))


def test_fixed_pattern_is_the_base_of_both_kinds():
    mlp_fap = ntkfix.FixedPattern(SPEC, MLP_P0)
    fn_fap = ntkfix.FixedPattern(lambda p, x: SPEC.apply(p, x), MLP_P0)
    own_fap = ntkfix.FixedPattern(NET, P0)
    for fap in (mlp_fap, fn_fap, own_fap):
        assert isinstance(fap, ntkfix.FixedPattern) and isinstance(fap, ntkfix.Network)
        assert fap.is_fixed_pattern
    assert type(mlp_fap).__name__ == "MLPFixedPattern"
    assert type(own_fap).__name__ == type(fn_fap).__name__ == "GraphFixedPattern"
    assert not isinstance(SPEC, ntkfix.FixedPattern) and isinstance(SPEC, ntkfix.Network)
    with pytest.raises(TypeError, match="not a FixedPattern"):
        ntkfix.train_many(mlp_fap, [0], X, X[:, :1], steps=1)


def test_a_users_network_type_gets_kernels_training_fap_and_twin(tmp_path):
    ref = ntkfix.kernels.empirical_ntk_autodiff(NET, P1, X, Z)
    assert_close(ntkfix.empirical_ntk(NET, P1, X, Z), ref, rtol=1e-12)
    fap = ntkfix.FixedPattern(NET, P0)
    assert_close(ntkfix.empirical_ntk(fap, P0, X), ntkfix.empirical_ntk(NET, P0, X), rtol=1e-12)
    assert_close(fap.apply(P0, X), NET.apply(P0, X), rtol=1e-12)  # the same net at params0
    assert not np.allclose(fap.apply(P1, X), NET.apply(P1, X))  # gates frozen at params0
    assert NET.describe() == f"{__name__}.TwoLayer"  # the same in every process (resume)
    path = tmp_path / "K.npy"
    K = ntkfix.empirical_ntk_to_disk(NET, P1, X, path, progress=False, block_size=4)
    assert_close(np.asarray(K), ntkfix.empirical_ntk(NET, P1, X), rtol=1e-12)
    res = ntkfix.train(fap, P0, X, jnp.sin(X[:, :1]), steps=5, lr=0.5)
    assert res.history.train_loss[-1] < res.history.train_loss[0]
    twin, twin_params, cert = ntkfix.to_relu(fap, res.params, X)
    assert cert.exact
    assert_close(twin.apply(twin_params, X), fap.apply(res.params, X), rtol=1e-9)
    with pytest.raises(TypeError, match="needs init_fn"):
        ntkfix.train_many(NET, [0], X, X[:, :1], steps=1)
    many = ntkfix.train_many(NET, [0, 1], X, X[:, :1], init_fn=lambda k: P0, steps=2, lr=0.1)
    assert many.history.train_loss.shape == (2, 3)


@pytest.mark.parametrize("model, params", [(SPEC, MLP_P0), (NET, P1)])
def test_kernel_objects_equal_the_one_line_functions(model, params):
    K = ntkfix.kernels.empirical(model, params)
    assert np.array_equal(
        np.asarray(K(X, Z)), np.asarray(ntkfix.empirical_ntk(model, params, X, Z))
    )
    assert np.array_equal(np.asarray(K(X)), np.asarray(ntkfix.empirical_ntk(model, params, X)))
    full = ntkfix.kernels.empirical(model, params, trace=False)(X)
    assert full.shape == (9, 9, 1, 1)


def test_infinite_kernel_objects_equal_the_functions(tmp_path):
    K = ntkfix.kernels.infinite(SPEC, "ntk", trainable=0)
    assert np.array_equal(
        np.asarray(K(X, Z)), np.asarray(ntkfix.infinite_ntk(SPEC, X, Z, trainable=0))
    )
    G = ntkfix.kernels.infinite(ntkfix.FixedPattern(SPEC, MLP_P0), "nngp")  # the ReLU net's limit
    assert np.array_equal(np.asarray(G(X)), np.asarray(ntkfix.infinite_nngp(SPEC, X)))
    on_disk = G.to_disk(X, tmp_path / "G.npy", progress=False)
    assert np.array_equal(np.asarray(on_disk), np.asarray(G(X)))
    with pytest.raises(ValueError, match="plain function without a kernel_fn"):
        ntkfix.kernels.infinite(lambda p, x: x, "ntk")


def test_estimates_state_the_plan_before_anything_runs():
    est = ntkfix.kernels.empirical(SPEC, MLP_P0).estimate(1000)
    assert est.implementation == "structured" and est.shape == (1000, 1000)
    assert est.flops == ntkfix.kernels.ntk_flops(SPEC, 1000)
    assert est.disk_bytes == 1000 * 1000 * 8  # float64 (x64 in the tests)
    assert est.memory_bytes >= est.disk_bytes and est.seconds > 0
    est2 = ntkfix.kernels.empirical(NET, P1).estimate(X, Z)  # a function: shapes needed
    assert est2.shape == (9, 4) and est2.implementation == "structured"
    assert est2.disk_bytes == 0
    with pytest.raises(ValueError, match="does not know the shape of one input"):
        ntkfix.kernels.empirical(NET, P1).estimate(100)
    inf = ntkfix.kernels.infinite(SPEC).estimate(jax.ShapeDtypeStruct((500, 3), jnp.float32))
    assert inf.implementation == "closed_form" and inf.disk_bytes == 500 * 500 * 4


def test_options_are_validated_and_named():
    with pytest.raises(TypeError, match=r"unknown option\(s\) colour .* known: block_size"):
        ntkfix.kernels.empirical(SPEC, MLP_P0).to_disk(X, "/tmp/never.npy", colour=1)
    with pytest.raises(TypeError, match=r"train\(\) needs steps="):
        ntkfix.train(SPEC, MLP_P0, X, X[:, :1])
    with pytest.raises(TypeError, match=r"train\(\) got unknown option\(s\) step; its options"):
        ntkfix.train(SPEC, MLP_P0, X, X[:, :1], step=3)
    with pytest.raises(ValueError, match="record_every must be an integer >= 1"):
        ntkfix.TrainOptions(steps=3, record_every=0)
    assert ntkfix.TrainOptions(steps=3, track="ntk").track == ("ntk",)
