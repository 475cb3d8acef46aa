"""generalization_trained with arch = "cnn1d" (the MNIST-1D paper's 1D CNN): a tiny
config's numbers recomputed without ntkfix's training, regression or the stax model's
apply_fn (the paper's padding-1 convolutions written with ``lax.conv_general_dilated`` on
the signals as they are, plain jax GD, numpy solves), to 1e-4; the infinite NTK against
neural-tangents' ``kernel_fn``; the depth refusal."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkfix
from analysis import experiments
from analysis.config import ConfigError
from analysis.experiments import _cnn1d
from analysis.experiments import generalization_trained as gt
from analysis.runner import run_experiment
from tests.helpers import requires_nt

TINY = """
experiment = "generalization_trained"
[params]
task = "ten_class"
arch = "cnn1d"
depth = 3
width = 25
p = 0.2
n_train = 16
n_test = 20
num_samples = 100
steps = 15
record_every = 5
drift_points = 8
kernel_dtype = "float64"
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    cfg = experiments.config_from_text(TINY)
    return cfg, run_experiment(cfg, tmp_path_factory.mktemp("gt_cnn"), progress=False)


def _conv(h, W):
    """PyTorch's Conv1d(stride 2, padding 1) without bias, ntk scaling: h (n, W, C_in),
    W the stax filter (k, C_in, C_out) of the reversed signals, so reversed here."""
    a = math.sqrt(2.0) / math.sqrt(W.shape[0] * W.shape[1])
    return a * jax.lax.conv_general_dilated(
        h, W[::-1], (2,), [(1, 1)], dimension_numbers=("NWC", "WIO", "NWC")
    )


def _forward(params, params0, x, gated):
    """The paper's ConvBase (no biases) on (n, 40) signals: ReLU (gated False) or FAP with
    the gates of the net at params0 (gated True); the readout reads the positions in the
    order stax flattens them (reversed)."""
    h = h0 = x[..., None]
    for i in (0, 2, 4):
        u0, z = _conv(h0, params0[i][0]), _conv(h, params[i][0])
        h0 = jnp.maximum(u0, 0)
        h = jnp.where(u0 > 0, z, 0.0) if gated else jnp.maximum(z, 0)
    h = h[:, ::-1, :].reshape(x.shape[0], -1)
    W = params[7][0]
    return (1.0 / math.sqrt(W.shape[0])) * h @ W


def _jacobian(f, params, x):
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    return np.asarray(jax.jacrev(lambda v: f(unravel(v), x).reshape(-1))(flat), np.float64)


def _solve(K, Kt, r, f0t):
    """NTK regression (numpy, float64): f0t + Kt K^-1 r, K (n k, n k) or (n, n)."""
    return f0t + (Kt @ np.linalg.solve(K, r.reshape(K.shape[0], -1))).reshape(f0t.shape)


def _recompute(cell):
    ds, k_net = gt.load(cell)  # the data and theta_0's key (ntkfix.data, not training)
    x, y, xt, yt = (jnp.asarray(a) for a in (ds.x_train, ds.y_train, ds.x_test, ds.y_test))
    n, k = x.shape[0], y.shape[1]
    triple = _cnn1d.cnn1d(cell["width"], k)
    _, p0 = triple[0](k_net, (-1, 41, 1))  # stax's init_fn: theta_0
    out = {}
    f = lambda p, xx: _forward(p, p0, xx, True)
    J, Jt = _jacobian(f, p0, x), _jacobian(f, p0, xt)
    f0, f0t = (np.asarray(f(p0, a), np.float64) for a in (x, xt))
    pred = _solve(J @ J.T, Jt @ J.T, np.asarray(y, np.float64) - f0, f0t)
    out["ntk_empirical"] = dict(test_error=gt.error(pred, yt))
    # the infinite NTK: neural-tangents' kernel_fn on the reversed, padded signals
    xi, xti = _cnn1d.images(x), _cnn1d.images(xt)
    K, Kt = (np.asarray(triple[2](a, xi, "ntk"), np.float64) for a in (xi, xti))
    pred = _solve(K, Kt, np.asarray(y, np.float64), np.zeros(yt.shape))
    out["ntk_infinite"] = dict(test_error=gt.error(pred, yt))
    lr = cell["lr_scale"] * n / float(np.linalg.eigvalsh(J @ J.T)[-1])
    for name, gated in (("fap_net", True), ("relu_net", False)):
        g = lambda p, xx, gated=gated: _forward(p, p0, xx, gated)
        loss = lambda p, g=g: jnp.sum((g(p, x) - y) ** 2) / (2 * n)

        @jax.jit
        def step(p, loss=loss):
            return jax.tree_util.tree_map(lambda w, dw: w - lr * dw, p, jax.grad(loss)(p))

        p = p0
        for _ in range(cell["steps"]):
            p = step(p)
        out[name] = dict(lr=lr, train_loss=float(loss(p)), train_error=gt.error(g(p, x), y),
                         test_error=gt.error(g(p, xt), yt))  # fmt: skip
    return out


@requires_nt
def test_cnn1d_numbers_recomputed_without_ntkfix_training_or_regression(tiny):
    cfg, df = tiny
    assert len(df) == len(cfg.cells()) * len(gt.PREDICTORS)
    assert not df["diverged"].any()
    for cell in cfg.cells():
        want = _recompute(cell)
        got = df[df["task"] == cell["task"]].set_index("predictor")
        for name in ("fap_net", "relu_net"):
            assert got.loc[name, "lr"] == pytest.approx(want[name]["lr"], rel=1e-4)
            assert got.loc[name, "train_loss"] == pytest.approx(want[name]["train_loss"], rel=1e-4)
            for col in ("train_error", "test_error"):
                assert got.loc[name, col] == pytest.approx(want[name][col], abs=1e-4), (name, col)
        for name in ("ntk_empirical", "ntk_infinite"):
            err = got.loc[name, "test_error"]
            assert err == pytest.approx(want[name]["test_error"], abs=1e-4), (cell["task"], name)


@requires_nt
def test_cnn1d_shape_and_infinite_ntk_is_the_stax_kernel_fn():
    triple = _cnn1d.cnn1d(25, 10)
    _, p0 = triple[0](jax.random.PRNGKey(0), (-1, 41, 1))
    shapes = [np.shape(q[0]) for q in p0 if q]
    assert shapes == [(5, 1, 25), (3, 25, 25), (3, 25, 25), (125, 10)]  # ConvBase's
    x = jax.random.normal(jax.random.PRNGKey(1), (5, 40))
    x = _cnn1d.images(x / jnp.linalg.norm(x, axis=1, keepdims=True))
    assert x.shape == (5, 41, 1) and bool(jnp.all(x[:, -1] == 0))
    fap = ntkfix.FixedPattern(triple, p0)
    for model in (triple, fap):
        got = ntkfix.infinite_ntk(model, x[:3], x)
        np.testing.assert_allclose(got, triple[2](x[:3], x, "ntk"), rtol=1e-8, atol=0)


@pytest.mark.parametrize(
    "body, ok",
    [
        ("[params]\narch = 'cnn1d'\ndepth = 3", True),
        ("[grid]\narch = ['mlp', 'cnn1d']\n[params]\ndepth = 3", True),
        ("[params]\narch = 'cnn1d'", False),  # depth's default, 2
        ("[grid]\ndepth = [2, 3]\n[params]\narch = 'cnn1d'", False),
    ],
)
def test_cnn1d_refuses_another_depth(body, ok):
    text = f"experiment = 'generalization_trained'\n{body}"
    if ok:
        assert experiments.config_from_text(text).cells()
        return
    with pytest.raises(
        ConfigError, match=r"arch 'cnn1d' .* 3 convolutions: set depth = 3, got depth=2"
    ):
        experiments.config_from_text(text)


def test_an_ill_conditioned_kernel_is_a_row_of_nans_not_a_failed_run():
    import types

    spec = ntkfix.MLP(3, 8, 1)
    p0 = spec.init(jax.random.PRNGKey(0))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 3)))
    x = x.at[1].set(x[0])  # a duplicate input: K singular
    ds = types.SimpleNamespace(x_train=x, y_train=jnp.ones((4, 1)), x_test=x, y_test=x[:, :1])
    row = gt._kernel_row(ntkfix.FixedPattern(spec, p0), None, ds)
    assert row["ill_conditioned"] and np.isnan(row["test_error"]) and np.isnan(row["complexity"])
