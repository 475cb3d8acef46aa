"""arch = "cnn": ``ntkfix run kernel_distance_cnn:quick`` end to end, the distances
recomputed with neural-tangents' own empirical NTK and kernel_fn, the FAP-CNN's kernel,
the report section and its fitted slope."""

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

import ntkfix
from analysis import cli, experiments
from analysis.config import ConfigError
from analysis.experiments import _arch
from analysis.experiments import kernel_distance as kd
from tests.helpers import requires_nt

pytestmark = requires_nt


@pytest.fixture(scope="module")
def quick(quick_raw):
    """``ntkfix run kernel_distance_cnn:quick`` into the quick report's folder of runs
    (``conftest.quick_raw``): out and the results table."""
    out = quick_raw
    assert cli.main(["run", "kernel_distance_cnn:quick", "--out", str(out), "--quiet"]) == 0
    return out, pd.read_csv(out / "kernel_distance_cnn" / "results.csv")


def _images(data_seed, n):
    """The cell's digits, from scikit-learn and numpy: the split's rows, centered, unit
    norm, as (n, 8, 8, 1)."""
    ds = ntkfix.data.digits(jax.random.PRNGKey(data_seed), "even_odd", n_train=n, n_test=0)
    x = load_digits().data[ds.meta["train_index"]].astype(np.float64)
    x -= x.mean(0)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.reshape(n, 8, 8, 1)


def test_quick_config_distances_from_neural_tangents(quick, nt):
    _, df = quick
    cfg = experiments.shipped_config("kernel_distance_cnn", quick=True)
    assert len(df) == len(cfg.cells()) and set(df["arch"]) == {"cnn"}
    row = df[(df.width == 64) & (df.seed == 1)].iloc[0]
    stax = nt.stax
    init_fn, apply_fn, kernel_fn = stax.serial(
        stax.Conv(64, (3, 3), padding="SAME", W_std=2**0.5),
        stax.Relu(),
        stax.Conv(64, (3, 3), padding="SAME", W_std=2**0.5),
        stax.Relu(),
        stax.GlobalAvgPool(),
        stax.Dense(1, W_std=2**0.5),
    )
    x = _images(0, int(row["n"]))
    _, params = init_fn(jax.random.PRNGKey(1), (-1, 8, 8, 1))
    emp = np.asarray(nt.empirical_ntk_fn(apply_fn, trace_axes=(-1,))(x, None, params))
    inf = np.asarray(kernel_fn(x, None, "ntk"))
    want = np.linalg.norm(emp - inf) / np.linalg.norm(inf)
    assert row["dist_fro"] == pytest.approx(want, rel=1e-3)
    lam = np.linalg.eigvalsh(inf)
    assert row["lambda_min_infinite"] == pytest.approx(lam[0], rel=1e-3)
    # the FAP-CNN at theta_0 has the ReLU CNN's kernel
    model, p0, xs = kd.model_and_inputs({**kd.CNN_EXPERIMENT.schema, **row.to_dict()})
    fap = ntkfix.empirical_ntk(ntkfix.FixedPattern(model, p0), p0, xs)
    np.testing.assert_allclose(np.asarray(fap), emp, rtol=1e-4, atol=1e-6 * np.abs(emp).max())


def test_section_and_slope(quick, tmp_path):
    from analysis.report.cnn import cnn_slopes
    from analysis.report.sections import SECTIONS

    _, df = quick
    sec = SECTIONS["kernel_distance_cnn"](df, tmp_path)
    assert all(f.exists() for f in sec.figures)
    m = df.groupby("width")["dist_fro"].mean()
    slope = np.polyfit(np.log(m.index.values), np.log(m.values), 1)[0]
    assert cnn_slopes(df)["slope_fro"].iloc[0] == pytest.approx(slope, rel=1e-9)
    assert slope < -0.2  # the distance shrinks with the channels
    assert f"{slope:.3f}" in sec.text


def test_cnn_knobs_are_checked():
    base = "experiment = 'kernel_distance_cnn'\n[params]\n"
    with pytest.raises(ConfigError, match="'pooling' must be one of 'global_avg', 'flatten'"):
        experiments.config_from_text(base + "pooling = 'max'")
    with pytest.raises(ConfigError, match="'arch' must be one of 'mlp', 'cnn'"):
        experiments.config_from_text(base + "arch = 'resnet'")


def test_cnn_dynamics_cell_fap_vs_relu(tmp_path):
    from analysis.experiments import dynamics
    from analysis.report.sections import SECTIONS

    cell = {
        **dynamics.CNN_EXPERIMENT.schema,
        "width": 16,
        "seeds": [0],
        "n": 8,
        "n_test": 8,
        "steps": 8,
        "record_every": 2,
        "lr": 20.0,
    }
    rows = {m: dynamics.run_cell({**cell, "model": m})[0] for m in ("relu", "fap")}
    # L_0 from the stax triple itself, on the cell's digits
    from analysis.experiments import _arch

    init_fn, apply_fn, _ = _arch.cnn(cell)
    task = _arch.digits_task(0, 8, 8)
    _, p0 = init_fn(jax.random.PRNGKey(0), (-1, 8, 8, 1))
    l0 = 0.5 * np.mean((np.asarray(apply_fn(p0, task.x)) - np.asarray(task.y)) ** 2)
    for m, row in rows.items():
        assert not row["diverged"], m
        assert row["loss_init"] == pytest.approx(l0, rel=1e-4), m
        assert row["ntk_drift_final"] > 0 and row["lin_gap_train_final"] > 0
    assert rows["fap"]["loss_init"] == rows["relu"]["loss_init"]  # same theta_0, same f_0
    # the report's section of these two runs: the FAP/ReLU ratios of its text
    df = pd.DataFrame([{**cell, "model": m, **r} for m, r in rows.items()])
    sec = SECTIONS["dynamics_cnn"](df, tmp_path)
    for col in ("ntk_drift_final", "lin_gap_train_final"):
        ratio = rows["fap"][col] / rows["relu"][col]
        lower = 100 * (rows["fap"][col] < rows["relu"][col])
        assert f"2 conv layers: {ratio:.2f} (FAP lower in {lower:.0f}% of 1 pairs)" in sec.text
    assert "8 digits as 8x8x1 images" in sec.text and "lr = 20" in sec.text
    assert sec.caption and all(
        f.exists() and f.name.startswith("dynamics_cnn_") for f in sec.figures
    )
    assert (tmp_path / "tables" / "dynamics_cnn_fap_vs_relu.csv").exists()
    with pytest.raises(ConfigError, match="arch 'cnn' trains every parameter"):
        experiments.config_from_text("experiment = 'dynamics_cnn'\n[params]\ntrainable = 'hidden'")
    assert experiments.shipped_config("dynamics_cnn", quick=True).cells()


def test_cnn_generalization_rows_recomputed(nt):
    from analysis.experiments import generalization as gen

    cell = {
        **gen.SCHEMA,
        "arch": "cnn",
        "channels": [8],
        "n_train": 20,
        "n_test": 20,
        "p": 0.2,
        "widths": [16],
        "train_width": 0,
        "dtype": "float64",  # stax's Conv mixes in float64 under x64 (the tests' mode)
    }
    rows = {r["predictor_label"]: r for r in gen.run_cell(cell)}
    assert {"CNTK", "FAP-CNN NTK C=8", "NTK ∞", "FAP NTK m=16"} <= set(rows)
    k_data, k_net = jax.random.split(jax.random.PRNGKey(0))
    ds = gen.load_dataset(cell, k_data)
    stax = nt.stax
    _, _, kernel_fn = stax.serial(
        *[stax.Conv(1, (3, 3), padding="SAME", W_std=2**0.5), stax.Relu()] * 2,
        stax.GlobalAvgPool(),
        stax.Dense(1, W_std=2**0.5),
    )
    x = np.asarray(ds.x_train, np.float64).reshape(20, 8, 8, 1)
    xt = np.asarray(ds.x_test, np.float64).reshape(20, 8, 8, 1)
    K = np.asarray(kernel_fn(x, None, "ntk"), np.float64)
    y, yt = np.asarray(ds.y_train, np.float64)[:, 0], np.asarray(ds.y_test, np.float64)[:, 0]
    cntk = rows["CNTK"]
    assert cntk["complexity"] == pytest.approx(
        np.sqrt(2 * y @ np.linalg.solve(K, y) / 20), rel=1e-3
    )
    f = np.asarray(kernel_fn(xt, x, "ntk"), np.float64) @ np.linalg.solve(K, y)
    assert cntk["test_error"] == pytest.approx(np.mean(np.where(f >= 0, 1, -1) != yt), abs=0.051)
    assert cntk["kernel_scale"] == pytest.approx(2 * np.mean(np.diag(K)), rel=1e-4)
    with pytest.raises(ConfigError, match="arch 'cnn' needs digits"):
        experiments.config_from_text(
            "experiment = 'generalization_noise'\n[params]\narch = 'cnn'\ndataset = 'teacher'"
        )
    assert experiments.shipped_config("generalization_noise_cnn", quick=True).cells()


# ---- conversion_cnn: the FAP-CNN's ReLU twin, recomputed with lax.conv and plain GD ------------
@pytest.fixture(scope="module")
def conversion_quick(quick_raw):
    """``ntkfix run conversion_cnn:quick`` into the quick report's folder of runs
    (``conftest.quick_raw``): out and the results table."""
    out = quick_raw
    assert cli.main(["run", "conversion_cnn:quick", "--out", str(out), "--quiet"]) == 0
    return out, pd.read_csv(out / "conversion_cnn" / "results.csv")


def _digits(data_seed, n, n_test):
    """(x, y, x_test) of the cell: scikit-learn's rows of the split, centered with the
    training mean, unit norm, (n, 8, 8, 1); labels even -> +1, odd -> -1."""
    ds = ntkfix.data.digits(jax.random.PRNGKey(data_seed), "even_odd", n_train=n, n_test=n_test)
    raw = load_digits()
    x, xt = (raw.data[ds.meta[k]].astype(np.float64) for k in ("train_index", "test_index"))
    mean = x.mean(0)
    unit = lambda a: (a - mean) / np.linalg.norm(a - mean, axis=1, keepdims=True)
    y = np.where(raw.target[ds.meta["train_index"]] % 2 == 0, 1.0, -1.0)[:, None]
    return unit(x).reshape(n, 8, 8, 1), y, unit(xt).reshape(n_test, 8, 8, 1)


def _streams(p0, p, x, row, M=None):
    """The stax CNN in the NTK parameterization written with lax.conv: per conv layer
    u = (W_std / sqrt(9 C_in)) conv(h0, W0) + b_std b0 (gates, theta_0) and z the same at
    theta from the FAP values h = 1[u > 0] z; or, given per-layer constants M, the ReLU
    twin's values h = relu(M u + z) - M relu(u). Returns (f, [(u, z) per layer])."""
    W_std, b_std = float(row["W_std"]), float(row["b_std"])
    dn = ("NHWC", "HWIO", "NHWC")

    def conv(h, w, b):
        s = W_std / np.sqrt(np.prod(w.shape[:3]))
        return s * jax.lax.conv_general_dilated(h, w, (1, 1), "SAME", dimension_numbers=dn) + (
            b_std * b
        )

    depth = int(row["depth"])
    g = h = x
    terms = []
    for i in range(depth):
        (w0, b0), (w, b) = p0[2 * i], p[2 * i]
        u, z = conv(g, w0, b0), conv(h, w, b)
        terms.append((u, z))
        g = jax.nn.relu(u)
        if M is None:
            h = jnp.where(u > 0, z, 0.0)
        else:
            h = jax.nn.relu(M[i] * u + z) - M[i] * g
    wd, bd = p[-1]
    hp = h.mean(axis=(1, 2))
    return W_std / np.sqrt(hp.shape[1]) * hp @ wd + b_std * bd, terms


def _gd(p0, x, y, row):
    """Plain full-batch GD on the FAP-CNN (gates of p0), L = ||f - y||^2 / 2n."""
    lr = float(row["lr"])
    loss = lambda p: 0.5 * jnp.mean((_streams(p0, p, x, row)[0] - y) ** 2)
    grad = jax.jit(jax.grad(loss))
    p = p0
    for _ in range(int(row["steps"])):
        p = jax.tree_util.tree_map(lambda a, g: a - lr * g, p, grad(p))
    return p, float(loss(p))


def _identity_rows(p0, p, xs, row, M):
    """Per row of xs: does 1[u > 0] z = relu(M u + z) - M relu(u) hold for every unit?"""
    _, terms = _streams(p0, p, xs, row)
    ok = [
        jnp.where(u > 0, m * u + z >= 0, m * u + z <= 0).reshape(len(xs), -1).all(1)
        for (u, z), m in zip(terms, M, strict=True)
    ]
    return np.asarray(jnp.stack(ok).all(0))


def test_conversion_cnn_quick_config_recomputed(conversion_quick):
    _, df = conversion_quick
    cfg = experiments.shipped_config("conversion_cnn", quick=True)
    assert len(df) == len(cfg.cells()) * 2 * 2  # seeds x dtypes per cell
    assert set(df["arch"]) == {"cnn"} and not df["diverged"].any()
    assert (df["relu_width"] == 2 * df["width"]).all()  # twice the channels
    rtol = df["dtype"].map({"float32": 1e-3, "float64": 1e-9})
    assert df["train_exact"].all() and (df["train_rel_error"] <= rtol).all()
    f32 = df[df["dtype"] == "float32"]
    assert (f32["train_rel_error"] > 1e-9).all()  # float32 rows are computed in float32
    for _, row in df[df["dtype"] == "float64"].iterrows():
        x, y, xt = _digits(int(row["data_seed"]), int(row["n"]), int(row["n_test"]))
        init_fn, _, _ = _arch.cnn(row.to_dict())
        _, p0 = init_fn(jax.random.PRNGKey(int(row["seed"])), (-1, 8, 8, 1))
        p0 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), p0)
        p, loss = _gd(p0, x, y, row)
        assert row["loss_final"] == pytest.approx(loss, rel=1e-6)
        f, terms = _streams(p0, p, x, row)
        # constants = "unit": one per (position, channel), the largest need over the rows
        assert row["constants"] == "unit"
        need = [
            jnp.max(jnp.where(u != 0, jnp.maximum(0, -jnp.sign(u) * z) / jnp.abs(u), 0), axis=0)
            for u, z in terms
        ]
        M = [jnp.maximum(float(row["floor"]), (1 + float(row["margin"])) * v)[None] for v in need]
        assert row["need_max"] == pytest.approx(max(float(v.max()) for v in need), rel=1e-6)
        assert row["M_max"] == pytest.approx(max(float(m.max()) for m in M), rel=1e-6)
        assert row["M_min"] == pytest.approx(min(float(m.min()) for m in M), rel=1e-6)
        twin, _ = _streams(p0, p, x, row, M)
        scale = float(jnp.max(jnp.abs(f)))
        assert float(jnp.max(jnp.abs(twin - f))) <= 1e-9 * scale  # the twin is the FAP-CNN
        assert row["train_max_error"] <= 1e-9 * scale
        assert _identity_rows(p0, p, x, row, M).all()
        assert row["test_frac_equivalent"] == pytest.approx(
            _identity_rows(p0, p, xt, row, M).mean()
        )


def test_conversion_cnn_knobs_are_checked():
    with pytest.raises(ConfigError, match="arch 'cnn' trains every parameter"):
        experiments.config_from_text(
            "experiment = 'conversion_cnn'\n[params]\ntrainable = 'readout'"
        )
    with pytest.raises(ConfigError, match="'pooling' must be one of"):
        experiments.config_from_text("experiment = 'conversion_cnn'\n[params]\npooling = 'max'")


def test_conversion_cnn_section(conversion_quick, tmp_path):
    from analysis.report.sections import SECTIONS

    _, df = conversion_quick
    sec = SECTIONS["conversion_cnn"](df, tmp_path)
    assert [f.name for f in sec.figures] == ["conversion_cnn.png"] and sec.figures[0].exists()
    (table,) = sec.tables.values()
    assert "channels" in table.columns and "relu_channels" in table.columns
    exact = int(df["train_exact"].sum())
    assert f"in {exact} of {len(df)} conversions" in sec.text
    rtol = np.where(df["dtype"] == "float32", 1e-3, 1e-9)
    within = int((df["train_exact"] & (df["train_rel_error"] <= rtol)).sum())
    assert f"float32 0.001, float64 1e-09) in {within} of {len(df)}." in sec.text
    assert f"{df['M_max'].max():.3g}" in sec.text and "digits as 8x8x1 images" in sec.text
    f32 = df[df["dtype"] == "float32"]
    assert f"float32: largest relative error {f32['train_rel_error'].max():.2g}" in sec.text
