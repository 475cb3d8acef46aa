"""``ntkfix kernel`` end to end: exit codes, the saved arrays (rows in the file's order, y),
the printed distances, complexities and bound against numpy, --standardize, --model."""

import re

import jax
import numpy as np
import pandas as pd
import pytest

import ntkfix
from analysis import cli
from analysis.kernel_cmd import OPTIONS
from tests.helpers import requires_nt


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    from sklearn.datasets import load_wine

    path = tmp_path_factory.mktemp("wine") / "wine01.csv"
    frame = load_wine(as_frame=True).frame.rename(columns={"target": "label"})
    frame = frame[frame.label < 2].reset_index(drop=True).iloc[:60]
    frame.to_csv(path, index=False)
    return path, frame


def _printed(out: str) -> dict:
    return {k: float(v) for k, v in re.findall(r"^(\w+) = ([-\d.e+]+)", out, re.M)}


def test_csv_standardized_rows_in_file_order_and_numbers(wine, tmp_path, capsys):
    path, frame = wine
    out = tmp_path / "k.npz"
    argv = ["kernel", "--data", str(path), "--label", "label", "--width", "64", "--out", str(out)]
    assert cli.main([*argv, "--standardize"]) == 0
    printed = _printed(capsys.readouterr().out)
    f = np.load(out)
    raw = frame.drop(columns="label").to_numpy(np.float64)
    x = (raw - raw.mean(0)) / raw.std(0)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    np.testing.assert_allclose(f["x"], x, rtol=1e-5, atol=1e-6)  # the file's order
    np.testing.assert_array_equal(f["y"][:, 0], np.where(frame.label == 1, 1.0, -1.0))
    np.testing.assert_array_equal(f["index"], np.arange(len(frame)))
    K, y = f["empirical_ntk"].astype(np.float64), f["y"][:, 0]
    spec = ntkfix.MLP(13, 64, 2)
    np.testing.assert_allclose(
        K, ntkfix.empirical_ntk(spec, spec.init(jax.random.PRNGKey(0)), f["x"]), rtol=1e-5
    )
    want = np.sqrt(2 * y @ np.linalg.solve(K, y) / len(y))
    assert printed["complexity_empirical"] == pytest.approx(want, rel=1e-3)
    d = np.linalg.norm(K - f["infinite_ntk"]) / np.linalg.norm(f["infinite_ntk"])
    assert printed["dist_fro"] == pytest.approx(d, rel=1e-3)
    assert float(f["complexity_empirical"]) == pytest.approx(want, rel=1e-3)
    assert "bound" in f.files and bool(f["bound_vacuous"]) == (float(f["bound"]) > 1)


def test_csv_without_standardize_says_why(wine, tmp_path, capsys):
    path, _ = wine
    argv = ["kernel", "--data", str(path), "--label", "label", "--width", "64"]
    assert cli.main([*argv, "--out", str(tmp_path / "k.npz")]) == 0
    out = capsys.readouterr().out
    assert "ntkfix kernel: warning: wine01.csv: feature scales differ by" in out
    scales = next(line for line in out.splitlines() if "feature scales differ" in line)
    assert scales.endswith("pass --standardize") and "standardize=True" not in scales


def test_a_bad_width_is_refused_before_the_data_loads(wine, capsys):
    path, _ = wine
    argv = ["kernel", "--data", str(path), "--label", "label", "--width", "0"]
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert "warning" not in out and err.count("\n") == 1
    assert "--width must be an integer >= 1, got 0" in err


def test_help_gives_every_option_a_description_and_default(capsys):
    for flags, kwargs in OPTIONS:
        assert kwargs.get("help") and "default" in kwargs["help"], flags
    with pytest.raises(SystemExit) as e:
        cli.main(["kernel", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "file's order" in text and "--standardize" in text and "FILE.py:FUNCTION" in text


MODEL = """
from neural_tangents import stax

def cnn():
    return stax.serial(stax.Conv(8, (3, 3), padding="SAME"), stax.Relu(),
                       stax.GlobalAvgPool(), stax.Dense(1))

def pair():
    init_fn, apply_fn, _ = cnn()
    return init_fn, apply_fn

def nothing():
    return 3
"""


@requires_nt
def test_model_file_stax_triple_and_pair(tmp_path, capsys):
    from neural_tangents import stax
    from sklearn.datasets import load_digits

    (tmp_path / "net.py").write_text(MODEL)
    imgs = load_digits().images[:12] / 16.0
    np.savez(tmp_path / "d.npz", x=imgs.reshape(12, 64))  # no y: no complexity
    base = ["kernel", "--data", str(tmp_path / "d.npz"), "--no-normalize"]
    out = tmp_path / "k.npz"
    argv = [*base, "--model", f"{tmp_path / 'net.py'}:cnn", "--input-shape", "8,8,1"]
    assert cli.main([*argv, "--out", str(out)]) == 0
    f = np.load(out)
    _, _, kernel_fn = stax.serial(
        stax.Conv(8, (3, 3), padding="SAME"), stax.Relu(), stax.GlobalAvgPool(), stax.Dense(1)
    )
    x = imgs[:, :, :, None]
    np.testing.assert_allclose(f["infinite_ntk"], kernel_fn(x, None, "ntk"), rtol=1e-4)
    assert "y" not in f.files and "complexity_empirical" not in f.files
    assert "dist_fro" in capsys.readouterr().out
    assert cli.main([*base, "--model", f"{tmp_path / 'net.py'}:pair", "--input-shape", "8,8,1",
                     "--out", str(tmp_path / "p.npz")]) == 0  # fmt: skip
    p = np.load(tmp_path / "p.npz")
    np.testing.assert_allclose(p["empirical_ntk"], f["empirical_ntk"], rtol=1e-5)
    assert "infinite_ntk" not in p.files


@pytest.mark.parametrize(
    "extra, msg",
    [
        (["--model", "net.py"], "--model must be FILE.py:FUNCTION"),
        (["--model", "missing.py:cnn"], "no such file"),
        (["--model", "{d}/net.py:absent"], "has no function 'absent'"),
        (["--model", "{d}/net.py:nothing"], "must return (init_fn, apply_fn) or a stax triple"),
        (["--model", "{d}/net.py:cnn", "--input-shape", "8,7,1"], "--input-shape '8,7,1' must be"),
        (["--input-shape", "8,8,1"], "--input-shape is for --model"),
    ],
)
def test_bad_model_arguments_exit_2(tmp_path, capsys, extra, msg):
    (tmp_path / "net.py").write_text(MODEL)
    pd.DataFrame({"a": np.arange(64.0), "label": np.arange(64) % 2}).to_csv(tmp_path / "t.csv")
    np.savez(tmp_path / "d.npz", x=np.random.default_rng(0).normal(size=(6, 64)))
    extra = [e.format(d=tmp_path) for e in extra]
    assert cli.main(["kernel", "--data", str(tmp_path / "d.npz"), *extra]) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1
