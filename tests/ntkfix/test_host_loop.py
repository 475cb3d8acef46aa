"""Training a convolutional network on CPU steps from the host (``Network.host_loop``):
the same histories as the compiled loop (float64, conftest)."""

import jax
import numpy as np
import pytest

import ntkfix
from ntkfix._models.function import Function
from ntkfix._models.network import Network
from tests.helpers import assert_close
from tests.ntkfix.test_any_network import P0, XI, X, cnn_fn, cnn_params, mlp_fn

Y = np.sin(np.arange(12.0).reshape(6, 2))


def init(key):
    scale = jax.random.uniform(key, (), minval=0.8, maxval=1.2)
    return jax.tree_util.tree_map(lambda a: a * scale, cnn_params())


def test_only_convolutions_on_cpu_step_from_the_host():
    assert Function(cnn_fn).host_loop(cnn_params(), XI) == (jax.default_backend() == "cpu")
    assert not Function(mlp_fn).host_loop(P0, X)
    assert not ntkfix.MLP(3, 4, 1).host_loop(None, X)


@pytest.mark.parametrize("network", ["relu", "fap"])
def test_host_loop_equals_the_compiled_loop(network, monkeypatch):
    p0 = cnn_params()
    model = cnn_fn if network == "relu" else ntkfix.FixedPattern(cnn_fn, p0)
    kw = dict(steps=7, record_every=3, x_test=XI[:3] + 0.5, y_test=Y[:3])
    kw["track"] = ("ntk", "linearized", "outputs")
    host = ntkfix.train(model, p0, XI, Y, **kw)
    many = ntkfix.train_many(cnn_fn, [0, 1], XI, Y, network=network, init_fn=init, **kw)
    monkeypatch.setattr(Network, "host_loop", lambda *a: False)
    ref = ntkfix.train(model, p0, XI, Y, **kw)
    ref_many = ntkfix.train_many(cnn_fn, [0, 1], XI, Y, network=network, init_fn=init, **kw)
    assert host.history.step.tolist() == ref.history.step.tolist() == [0, 3, 6, 7]
    for a, b in ((host, ref), (many, ref_many)):
        fa, fb = a.to_frame(), b.to_frame()
        assert list(fa.columns) == list(fb.columns)
        for col in fa.columns:
            assert_close(fa[col].to_numpy(float), fb[col].to_numpy(float), atol=1e-12)
        assert_close(a.outputs_test, b.outputs_test, atol=1e-12)
        assert_close(jax.tree_util.tree_leaves(a.params)[0], jax.tree_util.tree_leaves(b.params)[0])
        assert a.lr == pytest.approx(b.lr) if np.ndim(a.lr) == 0 else np.allclose(a.lr, b.lr)


def test_host_loop_reports_divergence_at_the_first_bad_record(monkeypatch):
    kw = dict(steps=6, lr=300.0, record_every=2, track=())
    fap = ntkfix.FixedPattern(cnn_fn, cnn_params())  # gates frozen: a large lr diverges
    with pytest.raises(ntkfix.errors.TrainingDiverged) as host:
        ntkfix.train(fap, cnn_params(), XI, Y, **kw)
    monkeypatch.setattr(Network, "host_loop", lambda *a: False)
    with pytest.raises(ntkfix.errors.TrainingDiverged) as ref:
        ntkfix.train(fap, cnn_params(), XI, Y, **kw)
    assert host.value.step == ref.value.step > 0
