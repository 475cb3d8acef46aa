"""Smoke test of the benchmark harness (n = width = 32) and of the FLOP count it reports."""

import csv
from pathlib import Path

import numpy as np
import pytest

import ntkfix
from benchmarks import machine, methods, run
from ntkfix._core import nt as _nt
from ntkfix._kernels.structured import ntk_flops

ROOT = Path(__file__).resolve().parents[2]


def test_flop_count_formula():
    spec = ntkfix.MLP(32, 2048, 3)
    n, m = 2048, 2048
    features = n * (2 * 32 * m + 2 * 2 * m * m + 2 * 2 * m * m)  # forward, backward
    grams = n * (n + 1) // 2 * (2 * 32 + 3 * 2 * m + 3 * 2 * m)  # H_0..H_3, D_0..D_2
    assert ntk_flops(spec, n) == features + grams
    assert round(ntk_flops(spec, n) / 1e9, 1) == 120.7
    fap = ntk_flops(spec, n, shared=False) - ntk_flops(spec, n)
    assert fap == n * (2 * 32 * m + 2 * 2 * m * m)  # the gates' own forward pass
    assert ntk_flops(spec, 5, 7) == 12 * (features // n) + 35 * (grams * 2 // (n * (n + 1)))
    assert (
        ntk_flops(spec, n, trainable=-1) == n * 2 * (32 * m + 2 * m * m) + n * (n + 1) // 2 * 2 * m
    )


def test_machine_probes():
    assert machine.cores() >= 1
    info = machine.describe()
    assert info["cpu"] and info["jax"] != "absent"
    c = machine.Contention()
    c.start()
    load = c.stop()
    assert load is None or load >= 0


def test_harness_end_to_end(tmp_path, capsys):
    out = tmp_path / "bench"
    argv = ["--n", "32", "--width", "32", "--depth", "1", "--models", "relu", "--repeats", "1"]
    argv += ["--methods", "ntkfix,nt_sd", "--matmul-n", "256", "--quiet-wait", "0"]
    assert run.main(argv + ["--rounds", "2", "--out", str(out)]) == 0
    with open(out / "results.csv") as f:
        rows = {r["method"]: r for r in csv.DictReader(f)}
    assert list(rows) == (["ntkfix", "nt_sd"] if _nt.available() else ["ntkfix"])
    for r in rows.values():
        assert r["status"] == "ok" and float(r["time_s"]) > 0 and float(r["gflops"]) > 0
        assert r["rounds"] == "2" and len(r["time_s_rounds"].split()) == 2
    if _nt.available():
        assert float(rows["nt_sd"]["rel_diff"]) < 1e-4 and float(rows["nt_sd"]["time_ratio"]) > 0
    summary = (out / "summary.md").read_text()
    assert "| relu | 32 | 32 | 1 |" in summary and "roofline" in summary
    assert "GFLOP/s" in capsys.readouterr().out


@pytest.mark.parametrize("model", methods.MODELS)
def test_methods_compute_the_same_kernel(model):
    cell = methods.Cell(n=9, width=16, depth=2, model=model)
    ours, _ = methods.build("ntkfix", cell)
    K = np.asarray(ours())
    assert K.shape == (9, 9) and K.dtype == np.float32
    if _nt.available():
        theirs, _ = methods.build("nt_sd", cell)
        np.testing.assert_allclose(np.asarray(theirs()), K, rtol=2e-4, atol=1e-5)


@pytest.mark.parametrize(
    "bad",
    [
        ["--n", "0"],
        ["--methods", "nope"],
        ["--models", "tanh"],
        ["--rounds", "0"],
        ["--repeats", "1,2"],
        ["--matmul-n", "0"],
        ["--cell-timeout", "-1"],
    ],
)
def test_bad_arguments_exit_2(bad):
    with pytest.raises(SystemExit) as e:
        run.main(bad)
    assert e.value.code == 2


# What a bare GPU machine lacks (it has jax and numpy); with ``broken`` ntkfix's package
# import fails too, so that ``benchmarks.methods.core`` loads its jax + numpy core alone.
BARE = ("pandas", "neural_tangents", "sklearn", "matplotlib", "tqdm")


def _bare_python(code: str, arg: str, broken: bool):
    import subprocess
    import sys

    blocked = BARE + (("ntkfix.data",) if broken else ())
    head = f"import sys\nfor m in {blocked!r}:\n    sys.modules[m] = None\n"
    proc = subprocess.run(
        [sys.executable, "-c", head + code, arg],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    if broken:
        assert "benchmarking its core only" in proc.stderr
    return proc


@pytest.mark.parametrize("broken", [False, True], ids=["bare", "package-import-fails"])
def test_cell_runs_with_jax_and_numpy_only(broken):
    """A bare GPU machine has no pandas (nor neural-tangents): the core still runs."""
    import json

    job = {
        "kind": "cell",
        "method": "ntkfix",
        "cell": {"n": 8, "width": 8, "depth": 1},
        "repeats": 1,
        "quiet": {"max_wait": 0},
    }
    code = "from benchmarks import cell; cell.main(sys.argv[1:])"
    proc = _bare_python(code, json.dumps(job), broken)
    assert '"time_s"' in proc.stdout


@pytest.mark.parametrize("broken", [False, True], ids=["bare", "package-import-fails"])
def test_run_and_report_work_with_jax_and_numpy_only(broken):
    """The parent process of ``gpu.sh`` (benchmarks.run, its report and machine probes,
    which use pieces of ntkfix and analysis) needs no pandas either."""
    import json

    row = {"model": "relu", "n": 8, "width": 8, "depth": 1, "method": "ntkfix", "status": "ok"}
    row.update(time_s=0.5, gflops=2.0, roofline_frac=0.5, peak_bytes=2**20)
    code = (
        "import json\n"
        "from benchmarks import machine, report, run\n"
        "print(machine.describe()['memory_gb'], machine.host().available_memory() > 0)\n"
        "print(report.markdown_table([json.loads(sys.argv[1])]), end='')"
    )
    proc = _bare_python(code, json.dumps(row), broken)
    probes, head, rule, line = proc.stdout.splitlines()
    memory, available = probes.split()
    assert float(memory) > 0 and available == "True"
    assert head.startswith("| model | n | width | depth | ntkfix s |") and rule.startswith("|---|")
    assert line == "| relu | 8 | 8 | 1 | 0.500 | 2 | 50% | 1 |"


def test_resume_script_kills_then_resumes(tmp_path, capsys, monkeypatch):
    from benchmarks import resume

    monkeypatch.chdir(ROOT)
    path = tmp_path / "K.npy"
    argv = ["--n", "300", "--width", "16", "--depth", "2", "--sample", "50"]
    # killed while the child is still importing jax: nothing recorded, all is resumed
    assert resume.main([*argv, "--kill-after", "0.2", "--path", str(path)]) == 0
    out = capsys.readouterr().out
    assert "with 0 tiles recorded" in out and "max |K - K^T| 0.0e+00" in out
    assert not path.exists()


def test_median_round_picks_the_median_time():
    rows = [
        {"status": "ok", "time_s": t, "peak_bytes": b} for t, b in ((0.3, 3), (0.1, 1), (0.2, 2))
    ] + [{"status": "failed: x"}]
    row = run.median_round(rows)
    assert row["time_s"] == 0.2 and row["peak_bytes"] == 2 and row["rounds"] == 3
    assert row["time_s_rounds"] == "0.3000 0.1000 0.2000"
    assert run.median_round([{"status": "skipped: big"}])["status"] == "skipped: big"


# (the stax residual net promotes float32 activations under x64: tested in float64 in
# tests/ntkfix/test_graph_structured.py)
@pytest.mark.parametrize("network", ["cnn", "mlp_fn", "mlp_fn10", "flax_cnn"])
def test_network_methods_compute_the_same_kernel(network):
    from benchmarks import networks

    K = np.asarray(networks.build_network("ntkfix", {"name": network, "n": 5})())
    shape = (5, 5, 10, 10) if network == "mlp_fn10" else (5, 5)
    assert K.shape == shape and K.dtype == np.float32
    ours = ["ntkfix_jc", "ntkfix_gram", "ntkfix_grad"]
    ours += ["ntkfix_mlp"] if network.startswith("mlp") else []
    ours += ["ntkfix_nvp"] if network in ("cnn", "mlp_fn", "mlp_fn10") else []
    assert networks.chosen(network, 5).startswith("structured")
    for method in ours:
        ours = np.asarray(networks.build_network(method, {"name": network, "n": 5})())
        np.testing.assert_allclose(ours, K, rtol=2e-4, atol=1e-5)
    if _nt.available():
        for method in ("nt_jc", "nt_sd"):
            theirs = np.asarray(networks.build_network(method, {"name": network, "n": 5})())
            np.testing.assert_allclose(theirs, K, rtol=2e-4, atol=1e-5)


def test_network_benchmark_end_to_end(tmp_path):
    from benchmarks import networks

    out = tmp_path / "nets"
    argv = ["--n", "8", "--networks", "mlp_fn", "--methods", "ntkfix,nt_jc", "--repeats", "1"]
    argv += ["--matmul-n", "256", "--quiet-wait", "0"]
    assert networks.main(argv + ["--out", str(out)]) == 0
    with open(out / "results.csv") as f:
        rows = {r["method"]: r for r in csv.DictReader(f)}
    assert rows["ntkfix"]["status"] == "ok" and float(rows["ntkfix"]["time_s"]) > 0
    if _nt.available():
        assert float(rows["nt_jc"]["k_rel_diff"]) < 1e-4
        assert float(rows["ntkfix"]["speedup_vs_nt_best"]) > 0
    assert "| mlp_fn | 8 |" in (out / "summary.md").read_text()
    with pytest.raises(SystemExit):
        networks.main(["--networks", "resnet"])


def test_a_failed_cell_reports_its_exception_not_jaxs_note():
    from benchmarks.run import _error_line

    err = (
        'Traceback (most recent call last):\n  File "x", line 1, in <module>\n'
        "jaxlib.xla_extension.XlaRuntimeError: RESOURCE_EXHAUSTED: Out of memory\n"
        "--------------------\nFor simplicity, JAX has removed its internal frames from "
        "the traceback of the following exception. Set JAX_TRACEBACK_FILTERING=off."
    )
    assert (
        _error_line(err)
        == "jaxlib.xla_extension.XlaRuntimeError: RESOURCE_EXHAUSTED: Out of memory"
    )
    assert _error_line("just a line\nthe last") == "the last"
    assert _error_line("") == "no output"
