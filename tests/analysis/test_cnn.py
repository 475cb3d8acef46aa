"""arch = "cnn": ``ntkfix run kernel_distance_cnn:quick`` end to end, the distances
recomputed with neural-tangents' own empirical NTK and kernel_fn, the FAP-CNN's kernel,
the report section and its fitted slope."""

import jax
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

import ntkfix
from analysis import cli, experiments
from analysis.config import ConfigError
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


def test_cnn_dynamics_cell_fap_vs_relu():
    from analysis.experiments import dynamics

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
    rows = {r["label"]: r for r in gen.run_cell(cell)}
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
