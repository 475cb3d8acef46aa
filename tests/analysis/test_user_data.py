"""The user's own data in configs: dataset = "csv:PATH" (label = COLUMN) / "npz:PATH",
standardize, drop_duplicates; the same split/centre/corrupt pipeline as the shipped data,
numbers recomputed from the raw file with numpy, errors naming the file and the column."""

import jax
import numpy as np
import pandas as pd
import pytest

import ntkfix
from analysis import cli, experiments
from analysis.config import ConfigError
from analysis.experiments import generalization as gen
from analysis.runner import run_experiment

CONFIG = """experiment = "generalization_noise"
[grid]
p = [0.0, 0.25]
[params]
dataset = "{dataset}"
n_train = 60
n_test = 30
widths = [32]
train_width = 0
{extra}
"""


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    """scikit-learn's wine, classes 0 and 1, as a CSV with column 'cultivar' and a .npz."""
    from sklearn.datasets import load_wine

    root = tmp_path_factory.mktemp("wine")
    frame = load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})
    frame = frame[frame.cultivar < 2].reset_index(drop=True)
    frame.to_csv(root / "wine01.csv", index=False)
    x = frame.drop(columns="cultivar").to_numpy()
    np.savez(root / "wine01.npz", x=x, y=frame.cultivar.to_numpy())
    return root, frame


def _config(tmp_path, dataset, extra=""):
    path = tmp_path / "c.toml"
    path.write_text(CONFIG.format(dataset=dataset, extra=extra))
    return experiments.load_config(path)


def test_csv_config_end_to_end_numbers_from_the_raw_file(wine, tmp_path):
    root, frame = wine
    cfg = _config(tmp_path, f"csv:{root / 'wine01.csv'}", 'label = "cultivar"\nstandardize = true')
    df = run_experiment(cfg, tmp_path / "out", progress=False)
    assert set(df["predictor"]) == {"arora", "ntk_infinite", "fap_ntk"} and len(df) == 6
    row = df[(df.predictor == "arora") & (df.p == 0.25)].iloc[0]
    # the split the cell used (key: first half of split(PRNGKey(seed))), then numpy only
    ds = ntkfix.data.from_csv(
        root / "wine01.csv",
        "cultivar",
        jax.random.split(jax.random.PRNGKey(0))[0],
        n_train=60,
        n_test=30,
        p=0.25,
        standardize=True,
    )
    x = frame.drop(columns="cultivar").to_numpy(np.float64)
    xtr = x[ds.meta["train_index"]]
    mu, sd = xtr.mean(0), xtr.std(0)
    xtr = (xtr - mu) / sd
    xtr /= np.linalg.norm(xtr, axis=1, keepdims=True)
    y = np.where(frame.cultivar.to_numpy()[ds.meta["train_index"]] == 1, 1.0, -1.0)
    flip = ds.meta["corrupted"]
    assert len(flip) == 15 == row["n_corrupted"]
    y[flip] *= -1
    cos = np.clip(xtr @ xtr.T, -1, 1)
    H = cos * (np.pi - np.arccos(cos)) / (2 * np.pi)
    np.fill_diagonal(H, 0.5)
    want = np.sqrt(2 * y @ np.linalg.solve(H, y) / len(y))
    np.testing.assert_allclose(row["complexity"], want, rtol=1e-3)
    assert row["test_size"] == 30 and row["n_duplicates"] == 0 and row["in_dim"] == 13


def test_npz_gives_the_csv_numbers(wine, tmp_path):
    root, _ = wine
    opts = "standardize = true"
    a = run_experiment(
        _config(tmp_path, f"npz:{root / 'wine01.npz'}", opts), tmp_path / "a", progress=False
    )
    b = run_experiment(
        _config(tmp_path, f"csv:{root / 'wine01.csv'}", opts + '\nlabel = "cultivar"'),
        tmp_path / "b",
        progress=False,
    )
    np.testing.assert_allclose(a["complexity"], b["complexity"], rtol=1e-6)
    np.testing.assert_array_equal(a["test_error"], b["test_error"])


def test_without_standardize_the_user_is_warned(wine, tmp_path):
    root, _ = wine
    cell = {
        **gen.SCHEMA,
        "dataset": f"csv:{root / 'wine01.csv'}",
        "label": "cultivar",
        "n_train": 40,
        "n_test": 20,
        "widths": [16],
        "train_width": 0,
        "dtype": "float32",
    }
    with pytest.warns(
        ntkfix.errors.DataQualityWarning, match=r"wine01\.csv: feature scales differ by"
    ):
        with pytest.raises(ntkfix.errors.IllConditionedKernel, match="standardize=True") as e:
            gen.run_cell(cell)
    assert str(e.value).endswith("In this config: standardize = true.")


def test_duplicates_reported_and_dropped(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 12))
    # the split depends on n and the key only: copy 8 training rows into the test split
    split = ntkfix.data.from_arrays(
        x, x[:, 0] > 0, jax.random.split(jax.random.PRNGKey(0))[0], n_train=50, n_test=30
    )
    tr, te = split.meta["train_index"], split.meta["test_index"]
    x[te[:8]] = x[tr[:8]]
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(12)])
    frame["label"] = np.where(x[:, 0] + x[:, 1] > 0, "yes", "no")
    frame.to_csv(tmp_path / "dup.csv", index=False)
    cell = {
        **gen.SCHEMA,
        "dataset": f"csv:{tmp_path / 'dup.csv'}",
        "n_train": 50,
        "n_test": 30,
        "widths": [16],
        "train_width": 0,
    }
    with pytest.warns(ntkfix.errors.DataQualityWarning, match=r"of 30 test rows have an exact dup"):
        kept = gen.run_cell(cell)
    with pytest.warns(ntkfix.errors.DataQualityWarning, match=r"dropped from the test set"):
        dropped = gen.run_cell({**cell, "drop_duplicates": True})
    n_dup = kept[0]["n_duplicates"]
    assert n_dup == 8 and kept[0]["test_size"] == 30
    assert dropped[0]["n_duplicates"] == n_dup and dropped[0]["test_size"] == 30 - n_dup


@pytest.mark.parametrize(
    "dataset, extra, msg",
    [
        ("csv:{root}/nope.csv", "", r"dataset 'csv:.*nope\.csv': no such file"),
        ("csv:{root}/wine01.csv", "", r"label column 'label' is not in '.*wine01\.csv'"),
        ("csv:{root}/wine01.csv", 'label = "alcohol"', r"task='binary' needs exactly 2 classes"),
        ("npz:{root}/wine01.csv", "", r"wine01\.csv"),
        ("csv:", "", r"dataset 'csv:' names no file"),
        ("wine.csv", "", r"unknown dataset 'wine\.csv'.*'csv:PATH' \(with label = COLUMN\)"),
        ("csv:{root}/wine01.csv", 'label = "cultivar"\nBIG', r"has 130 points: n_train=200"),
        ("csv:{root}/wine01.csv", "standardize = 1", r"'standardize' must be of type bool"),
    ],
)
def test_config_errors_name_file_and_column(wine, dataset, extra, msg):
    root, _ = wine
    text = CONFIG.format(dataset=dataset.format(root=root), extra=extra)
    if "BIG" in text:  # a training set larger than the file
        text = text.replace("BIG", "").replace("n_train = 60", "n_train = 200")
    with pytest.raises(ConfigError, match="generalization_noise: .*" + msg):
        experiments.config_from_text(text)


def test_cli_run_exit_codes(wine, tmp_path, capsys):
    root, _ = wine
    good = tmp_path / "good.toml"
    good.write_text(
        CONFIG.format(
            dataset=f"csv:{root / 'wine01.csv'}", extra='label = "cultivar"\nstandardize = true'
        )
    )
    assert cli.main(["run", str(good), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert (tmp_path / "o" / "generalization_noise" / "results.csv").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG.format(dataset=f"csv:{root / 'wine01.csv'}", extra=""))
    assert cli.main(["run", str(bad), "--out", str(tmp_path / "o2"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "label column 'label' is not in" in err and "cultivar" in err
