"""An Equinox model through ntkfix (docs/networks.md, "An Equinox model"): the FAP net
of an ``eqx.nn.MLP`` and of a small ``eqx.nn.Conv2d`` net, their NTKs, training and
ReLU twins (float64, conftest). Skipped where Equinox is not installed."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkfix
from tests.helpers import assert_close, rel_err

eqx = pytest.importorskip("equinox", reason="equinox is not installed in this environment")


class _CNN(eqx.Module):
    conv: eqx.nn.Conv2d
    head: eqx.nn.Linear

    def __init__(self, key):
        k1, k2 = jax.random.split(key)
        self.conv = eqx.nn.Conv2d(1, 4, kernel_size=3, padding=1, key=k1)
        self.head = eqx.nn.Linear(4 * 8 * 8, 2, key=k2)

    def __call__(self, image):
        return self.head(jax.nn.relu(self.conv(image)).reshape(-1))


def _as_function(model):
    params, static = eqx.partition(model, eqx.is_array)
    params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), params)
    return (lambda p, x: jax.vmap(eqx.combine(p, static))(x)), params


def _mlp():
    model = eqx.nn.MLP(in_size=4, out_size=2, width_size=16, depth=2, key=jax.random.PRNGKey(0))
    x = jax.random.normal(jax.random.PRNGKey(1), (12, 4))
    return (*_as_function(model), x)


def _cnn():
    from sklearn.datasets import load_digits

    x = jnp.asarray(load_digits().images[:10, None] / 16.0)  # (10, 1, 8, 8), channels first
    return (*_as_function(_CNN(jax.random.PRNGKey(2))), x)


@pytest.mark.parametrize("make", [_mlp, _cnn], ids=["mlp", "conv2d"])
def test_an_equinox_model_fap_ntk_train_and_twin(make):
    f, p0, x = make()
    y = jnp.stack([jnp.sin(jnp.arange(x.shape[0])), jnp.cos(jnp.arange(x.shape[0]))], 1)
    fap = ntkfix.FixedPattern(f, p0, x)
    assert_close(fap.apply(p0, x), f(p0, x), atol=1e-12, rtol=1e-12)  # the net at init
    K = ntkfix.empirical_ntk(fap, p0, x)
    assert rel_err(K, ntkfix.kernels.empirical_ntk_autodiff(f, p0, x)) < 1e-10
    res = ntkfix.train(fap, p0, x, y, steps=30, record_every=30, track=())
    assert res.history.train_loss[-1] < res.history.train_loss[0]
    assert rel_err(fap.apply(res.params, x), f(res.params, x)) > 1e-8  # gates stayed frozen
    twin, tp, cert = ntkfix.to_relu(fap, res.params, x)
    assert cert.exact and cert.building.rows_ok.all()
    assert_close(twin.apply(tp, x), fap.apply(res.params, x), atol=1e-11, rtol=1e-10)
    assert np.isfinite(np.asarray(K)).all()
