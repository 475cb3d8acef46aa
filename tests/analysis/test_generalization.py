"""Generalization experiments: quick configs end to end, numbers re-derived independently."""

from pathlib import Path

import jax
import numpy as np
import pytest

import ntkfix
from analysis import experiments
from analysis.config import ConfigError
from analysis.experiments import generalization as gen
from analysis.runner import run_experiment

CONFIGS = Path(__file__).resolve().parents[2] / "analysis" / "configs"
KERNELS = {"arora", "ntk_infinite", "fap_ntk"}
COLUMNS = (
    "dataset",
    "p",
    "seed",
    "n_train",
    "predictor",
    "kind",
    "width",
    "label",
    "predictor_label",
    "complexity",
    "complexity_normalized",
    "kernel_scale",
    "test_error",
    "train_error",
    "train_loss",
    "limit_test_error",
    "limit_agreement",
    "bound",
    "config_hash",
    "cell_id",
    "wall_time_s",
)


@pytest.fixture(scope="module")
def runs(quick_raw):
    """Both quick configs run once through the runner (shared by the tests below), into the
    quick report's folder of runs (``conftest.quick_raw``)."""
    out = quick_raw
    return out, {
        name: run_experiment(experiments.shipped_config(name, quick=True), out, progress=False)
        for name in ("generalization_noise", "generalization_size")
    }


def _cell(df, **knobs):
    mask = np.logical_and.reduce([df[k] == v for k, v in knobs.items()])
    return df[mask].set_index("predictor_label")


def test_quick_configs_tidy_rows(runs):
    _, dfs = runs
    for name, df in dfs.items():
        cfg = experiments.shipped_config(name, quick=True)
        per_cell = 2 + len(cfg.params["widths"]) + 2  # H, NTK inf, FAP NTKs, 2 nets
        assert len(df) == len(cfg.cells()) * per_cell, name
        for col in COLUMNS:
            assert col in df.columns, (name, col)
        assert set(df["predictor"]) == KERNELS | {"fap_net", "relu_net"}
        # the knob naming a CSV's label column keeps its value; the display name has its own
        assert (df["label"] == cfg.params.get("label", "label")).all(), name
        assert "FAP NTK m=" + str(cfg.params["widths"][0]) in set(df["predictor_label"])
        assert df["test_error"].between(0, 1).all() and df["train_error"].between(0, 1).all()
        kern = df[df["kind"] == "kernel"]
        assert (kern["complexity"] > 0).all() and kern["width"].isna().sum() == 2 * len(cfg.cells())
        nets = df[df["kind"] == "net"]
        assert (nets["train_loss"] < 0.05).all() and not nets["diverged"].any()
        # the depth-1 hidden-only FAP net is linear in its weights: it follows its kernel's GD limit
        fap, relu = nets[nets["predictor"] == "fap_net"], nets[nets["predictor"] == "relu_net"]
        assert fap["limit_agreement"].min() >= 0.9
        assert fap["limit_gap"].mean() < relu["limit_gap"].mean()
    size = dfs["generalization_size"]
    assert size.groupby("seed")["test_size"].nunique().eq(1).all()  # one test set per seed


def test_complexity_rises_with_label_noise(runs):
    df = runs[1]["generalization_noise"]
    for seed in (0, 1):
        h = df[(df["predictor"] == "arora") & (df["seed"] == seed)].set_index("p")["complexity"]
        assert h[0.5] > 1.5 * h[0.0]


def _dataset(df, p, seed):
    row = df.iloc[0]
    k_data, k_net = jax.random.split(jax.random.PRNGKey(seed))
    ds = ntkfix.data.digits(
        k_data,
        "even_odd",
        n_train=int(row["n_train"]),
        n_test=int(row["n_test"]),
        p=p,
        dtype=np.float32,
    )
    return ds, k_net


def _numpy_complexity(K, y):
    return np.sqrt(2 * y @ np.linalg.solve(K, y) / len(y))


def _numpy_regression_error(K, K_test, y, y_test):
    f = K_test @ np.linalg.solve(K, y)
    return np.mean(np.where(f >= 0, 1, -1) != y_test)


def test_numbers_recomputed_independently(runs):
    df = runs[1]["generalization_noise"]
    p, seed = 0.5, 1
    cell = _cell(df, p=p, seed=seed)
    ds, k_net = _dataset(df, p, seed)
    x, xt = np.asarray(ds.x_train, np.float64), np.asarray(ds.x_test, np.float64)
    y, yt = np.asarray(ds.y_train, np.float64)[:, 0], np.asarray(ds.y_test, np.float64)[:, 0]
    assert cell["n_corrupted"].iloc[0] == round(p * len(y)) and cell["test_size"].iloc[0] == len(yt)

    def arora(a, b):  # H^infty in numpy (unit-norm rows)
        cos = np.clip(a @ b.T, -1, 1)
        return cos * (np.pi - np.arccos(cos)) / (2 * np.pi)

    H, H_test = arora(x, x), arora(xt, x)
    np.fill_diagonal(H, 0.5)
    np.testing.assert_allclose(H, np.asarray(ntkfix.arora_kernel(ds.x_train)), atol=1e-5)
    h = cell.loc["Arora H∞"]
    np.testing.assert_allclose(h["complexity"], _numpy_complexity(H, y), rtol=1e-3)
    assert h["test_error"] == pytest.approx(
        _numpy_regression_error(H, H_test, y, yt), abs=1.5 / len(yt)
    )
    bound = ntkfix.generalization_bound(H, y, delta=0.05)
    np.testing.assert_allclose(h["bound"], bound.total, rtol=1e-3)

    # depth 1, hidden layer trained, unit-norm inputs: Theta_inf = (2/d) H^infty exactly
    ntk = cell.loc["NTK ∞"]
    d = x.shape[1]
    np.testing.assert_allclose(ntk["kernel_scale"], 2 / d, rtol=1e-5)
    np.testing.assert_allclose(ntk["complexity"], _numpy_complexity(2 / d * H, y), rtol=1e-3)
    np.testing.assert_allclose(ntk["complexity_normalized"], h["complexity"], rtol=1e-4)

    # finite-width FAP NTK: theta_0 = spec.init(fold_in(k_net, m)), hidden layer only
    m = int(df[df["predictor"] == "fap_ntk"]["width"].max())
    spec = ntkfix.MLP(d, m, 1)
    p0 = spec.init(jax.random.fold_in(k_net, m), np.float32)
    K = np.asarray(ntkfix.empirical_ntk(spec, p0, ds.x_train, trainable=0), np.float64)
    K_test = np.asarray(
        ntkfix.empirical_ntk(spec, p0, ds.x_test, ds.x_train, trainable=0), np.float64
    )
    fap = cell.loc[f"FAP NTK m={m}"]
    np.testing.assert_allclose(fap["complexity"], _numpy_complexity(K, y), rtol=1e-3)
    np.testing.assert_allclose(
        fap["complexity_normalized"], _numpy_complexity(K * d / 2, y), rtol=1e-3
    )
    assert fap["test_error"] == pytest.approx(
        _numpy_regression_error(K, K_test, y, yt), abs=1.5 / len(yt)
    )


@pytest.mark.parametrize(
    "dataset, extra",
    [("teacher", {"n_test": 40, "teacher_dim": 5}), ("breast_cancer", {}), ("digits_3v5", {})],
)
def test_other_datasets_and_no_training(dataset, extra):
    cell = {
        **gen.SCHEMA,
        "dataset": dataset,
        "n_train": 30,
        "n_test": 40,
        "p": 0.2,
        "widths": [32],
        "train_width": 0,
        **extra,
    }
    rows = gen.run_cell(cell)
    assert [r["predictor"] for r in rows] == ["arora", "ntk_infinite", "fap_ntk"]
    assert all(r["n_corrupted"] == 6 and r["test_size"] == 40 for r in rows)
    assert rows == gen.run_cell(cell)  # same seed, same numbers


def test_sections_write_tables_and_figures(runs, tmp_path):
    from analysis.report.sections import SECTIONS

    _, dfs = runs
    out = tmp_path
    for name, df in dfs.items():
        sec = SECTIONS[name](df, out)
        assert all(f.exists() and f.with_suffix(".pdf").exists() for f in sec.figures)
        comp = sec.tables["complexity [H∞ units]"]
        assert "Arora H∞" in comp.columns and all("±" in v for v in comp["NTK ∞"])
        assert (out / "tables" / f"{name}_complexity.md").exists()
        ratio = sec.tables["complexity of FAP NTK m / NTK ∞"]
        assert len(ratio) == len(comp)


def test_shipped_and_extra_configs_validate():
    files = sorted(CONFIGS.glob("generalization*.toml"))
    assert {"generalization_noise_breast_cancer.toml", "generalization_noise_teacher.toml"} <= {
        f.name for f in files
    }
    for f in files:
        assert experiments.load_config(f).cells(), f.name


BASE = "experiment = '{exp}'\n[grid]\n{grid}\n[params]\n{params}\n"


@pytest.mark.parametrize("exp", ["generalization_noise", "generalization_size"])
@pytest.mark.parametrize(
    "grid, params, msg",
    [
        ("p = [0.0, 1.5]", "", r"'p' must be in \[0, 1\].*1.5"),
        ("p = [-0.1]", "", r"'p' must be in \[0, 1\]"),
        ("", "dataset = 'mnist'", "unknown dataset 'mnist'"),
        ("", "dataset = 'digits_3v3'", "unknown dataset 'digits_3v3'"),
        ("", "dataset = 'digits_3v5'\nn_train = 500", "digits_3v5 has 365 points"),
        ("n_train = [400, 569]", "dataset = 'breast_cancer'", "breast_cancer has 569 points"),
        ("", "widths = []", "'widths' must be a non-empty list"),
        ("", "widths = [0, 8]", "'widths' must be a non-empty list of integers >= 1"),
        ("", "trainable = 'readout'", "'trainable' must be one of"),
        ("", "dtype = 'float16'", "'dtype' must be one of"),
        ("", "train_width = -1", "'train_width' must be >= 0"),
        ("", "delta = 1.0", r"'delta' must be in \(0, 1\)"),
        ("", "p = 'high'", "'p' must be of type float"),
    ],
)
def test_config_errors(exp, grid, params, msg):
    with pytest.raises(ConfigError, match=exp + ": .*" + msg if "type" not in msg else msg):
        experiments.config_from_text(BASE.format(exp=exp, grid=grid, params=params))
