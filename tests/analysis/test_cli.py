"""``ntkfix``'s error handling: user errors are one line and exit code 2, bugs keep their
traceback."""

import numpy as np
import pytest

import ntkfix
from analysis import cli, kernel_cmd
from analysis.errors import AnalysisError, ConfigError, ExecutorError, UsageError


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    "content, msg",
    [
        (None, "has no array 'x'"),  # a .npz without x
        (b"not a zip file", "pickled data"),
        (b"", "No data left in file"),
    ],
)
def test_bad_data_file_is_one_line(tmp_path, capsys, content, msg):
    path = tmp_path / "bad.npz"
    if content is None:
        np.savez(path, z=np.zeros((4, 2)))
    else:
        path.write_bytes(content)
    assert cli.main(["kernel", "--data", str(path)]) == 2
    err = _one_line(capsys)
    assert err.startswith("ntkfix kernel: error: cannot use --data") and msg in err


@pytest.mark.parametrize(
    "argv, msg",
    [
        (["--data", "table.csv"], "--label is required"),
        (["--data", "points.txt"], "must be a .npz or .csv file"),
        (["--width", "0"], "width must be an integer >= 1, got 0"),
    ],
)
def test_bad_kernel_arguments_are_one_line(tmp_path, capsys, argv, msg):
    data = tmp_path / "d.npz"
    np.savez(data, x=np.random.default_rng(0).normal(size=(6, 3)), y=np.zeros(6))
    argv = ["--data", str(data), *argv] if "--data" not in argv else argv
    assert cli.main(["kernel", *argv]) == 2
    assert msg in _one_line(capsys)


def test_unreadable_results_table_is_one_line(tmp_path, capsys):
    (tmp_path / "kernel_distance").mkdir()
    (tmp_path / "kernel_distance" / "results.csv").write_text("")
    assert cli.main(["plot", str(tmp_path)]) == 2
    assert "cannot read" in _one_line(capsys)


def test_config_that_is_not_text_is_one_line(tmp_path, capsys):
    path = tmp_path / "binary.toml"
    path.write_bytes(b"\xff\xfe\x00 not text")
    assert cli.main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "cannot read config" in _one_line(capsys)


def test_bad_executor_is_one_line(capsys):
    assert cli.main(["run", "kernel_distance:quick", "--executor", "dask://nowhere"]) == 2
    assert "dask://HOST:PORT" in _one_line(capsys)


@pytest.mark.parametrize(
    "error",
    [
        ntkfix.errors.KernelTooLarge("the kernel needs 80 GiB, 12 GiB are available"),
        ntkfix.errors.IllConditionedKernel("singular kernel", np.inf, 1e12, 0.0),
        ntkfix.errors.TrainingDiverged(step=10, loss=1e30, lr=5.0),
        ntkfix.errors.NeuralTangentsUnavailable("neural-tangents is not installed"),
        UsageError("bad input"),
        ConfigError("bad config"),
        ExecutorError("no scheduler"),
    ],
)
def test_user_errors_exit_2_with_one_line(monkeypatch, capsys, error):
    def fail(args):
        raise error

    monkeypatch.setattr(kernel_cmd, "kernel_command", fail)
    assert cli.main(["kernel", "--data", "x.npz"]) == 2
    assert _one_line(capsys) == f"ntkfix kernel: error: {error}"


@pytest.mark.parametrize("error", [ValueError("a bug"), TypeError("a bug"), KeyError("a bug")])
def test_other_exceptions_keep_their_traceback(monkeypatch, error):
    def fail(args):
        raise error

    monkeypatch.setattr(kernel_cmd, "kernel_command", fail)
    with pytest.raises(type(error), match="a bug"):
        cli.main(["kernel", "--data", "x.npz"])


def test_analysis_errors_share_one_base():
    for cls in (UsageError, ConfigError, ExecutorError):
        assert issubclass(cls, AnalysisError)
    assert issubclass(ConfigError, ValueError) and issubclass(ExecutorError, ValueError)
