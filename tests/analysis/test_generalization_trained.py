"""generalization_trained: the quick config's numbers recomputed without ntkfix's training
or regression (plain jax GD on a hand-written FAP / ReLU MLP, numpy solves), to 1e-4."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkfix
from analysis import experiments
from analysis.experiments import generalization_trained as gt
from analysis.runner import run_experiment


@pytest.fixture(scope="module")
def quick(quick_raw):
    """The shipped quick config through the runner, in the quick report's folder of runs
    (``conftest.quick_raw``: the report test then finds these cells done)."""
    cfg = experiments.shipped_config("generalization_trained", quick=True)
    return cfg, run_experiment(cfg, quick_raw, progress=False)


def _forward(params, params0, x, depth, gated):
    """The MLP (ntk parameterization, no bias: z = (W_std / sqrt(fan_in)) h W) written
    out: ReLU (gated False) or FAP, gates of the net at params0 (gated True)."""
    h = h0 = x
    for l in range(depth):
        W, W0 = params[2 * l][0], params0[2 * l][0]
        a = math.sqrt(2.0) / math.sqrt(W.shape[0])
        u0, z = a * h0 @ W0, a * h @ W
        h0 = jnp.maximum(u0, 0)
        h = jnp.where(u0 > 0, z, 0.0) if gated else jnp.maximum(z, 0)
    W = params[2 * depth][0]
    return (1.0 / math.sqrt(W.shape[0])) * h @ W


def _jacobian(f, params, x):
    """(n k, P) Jacobian of the flattened outputs f(params, x)."""
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    J = jax.jacrev(lambda v: f(unravel(v), x).reshape(-1))(flat)
    return np.asarray(J, np.float64)


def _cell(row):
    cell = {k: row[k] for k in gt.KNOBS}
    for k in ("n_train", "n_test", "num_samples", "depth", "width", "seed", "steps"):
        cell[k] = int(cell[k])
    cell["drift_points"], cell["record_every"] = (
        int(cell["drift_points"]),
        int(cell["record_every"]),
    )
    return cell


def _recompute(cell):
    ds, k_net = gt.load(cell)  # the data and theta_0's key (ntkfix.data, not training)
    x, y, xt, yt = (jnp.asarray(a) for a in (ds.x_train, ds.y_train, ds.x_test, ds.y_test))
    n, k, depth = x.shape[0], y.shape[1], cell["depth"]
    p0 = ntkfix.MLP(40, cell["width"], depth, out_dim=k).init(k_net, x.dtype)
    out = {}
    # NTK regression at theta_0: the full (n k, n k) kernel J J^T, numpy solve in float64
    f = lambda p, xx: _forward(p, p0, xx, depth, True)
    J, Jt = _jacobian(f, p0, x), _jacobian(f, p0, xt)
    f0, f0t = np.asarray(f(p0, x), np.float64), np.asarray(f(p0, xt), np.float64)
    r = np.asarray(y, np.float64) - f0
    alpha = np.linalg.solve(J @ J.T, r.reshape(-1))
    pred = f0t + (Jt @ J.T @ alpha).reshape(-1, k)
    out["ntk_empirical"] = dict(test_error=gt.error(pred, yt),
                                complexity=math.sqrt(2 * r.reshape(-1) @ alpha / n))  # fmt: skip
    lam_max = float(np.linalg.eigvalsh(J @ J.T)[-1])
    for name, gated in (("fap_net", True), ("relu_net", False)):
        g = lambda p, xx, gated=gated: _forward(p, p0, xx, depth, gated)
        loss = lambda p, g=g: jnp.sum((g(p, x) - y) ** 2) / (2 * n)
        lr = cell["lr_scale"] * n / lam_max

        @jax.jit
        def step(p, loss=loss, lr=lr):
            return jax.tree_util.tree_map(lambda w, dw: w - lr * dw, p, jax.grad(loss)(p))

        p = p0
        for _ in range(cell["steps"]):
            p = step(p)
        m = cell["drift_points"]
        K0, K1 = (_jacobian(g, q, x[:m]) for q in (p0, p))
        K0, K1 = (np.einsum("ip,jp->ij", a, a) for a in (K0, K1))  # (m k, m k)
        out[name] = dict(lr=lr, train_loss=float(loss(p)), test_error=gt.error(g(p, xt), yt),
                         train_error=gt.error(g(p, x), y))  # fmt: skip
        out[name]["_K"] = (K0, K1)
    return out


def test_quick_numbers_recomputed_without_ntkfix_training_or_regression(quick):
    cfg, df = quick
    assert len(df) == len(cfg.cells()) * len(gt.PREDICTORS)
    for _, row in df[df["predictor"] == "fap_net"].iterrows():
        cell = _cell(row)
        want = _recompute(cell)
        cell_rows = df[(df["task"] == cell["task"]) & (df["cell_id"] == row["cell_id"])]
        got = cell_rows.set_index("predictor")
        for name in ("fap_net", "relu_net"):
            assert got.loc[name, "lr"] == pytest.approx(want[name]["lr"], rel=1e-4)
            assert got.loc[name, "train_loss"] == pytest.approx(want[name]["train_loss"], rel=1e-4)
            for col in ("train_error", "test_error"):
                assert got.loc[name, col] == pytest.approx(want[name][col], abs=1e-4), (name, col)
        emp = got.loc["ntk_empirical"]
        assert emp["test_error"] == pytest.approx(want["ntk_empirical"]["test_error"], abs=1e-4)
        assert emp["complexity"] == pytest.approx(want["ntk_empirical"]["complexity"], rel=1e-4)
