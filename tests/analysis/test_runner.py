"""Runner: configs, resumable cells, tidy results; CLI error handling."""

import json
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from analysis import cli, experiments
from analysis.config import ConfigError
from analysis.runner import run_experiment

QUICK = """
experiment = "kernel_distance"
[grid]
width = [16, 32]
seed = [0, 1]
[params]
depth = 1
n = 8
d = 3
"""


def test_shipped_configs_validate():
    for name in experiments.names():
        for quick in (False, True):
            cfg = experiments.shipped_config(name, quick=quick)
            assert cfg.cells(), name
    # every TOML shipped, the *_full grids and configs of other names included
    from importlib import resources

    files = [f for f in resources.files("analysis.configs").iterdir() if f.name.endswith(".toml")]
    assert len(files) > 2 * len(experiments.names())
    for f in files:
        assert experiments.config_from_text(f.read_text(), f.name, "default").cells(), f.name


@pytest.mark.parametrize(
    "text, msg",
    [
        ("experiment = 'nope'", "unknown experiment 'nope'"),
        ("[grid]\nwidth=[1]", "missing 'experiment"),
        ("experiment = 'kernel_distance'\n[grid]\nwidht = [1]", "unknown key.*widht"),
        (
            "experiment = 'kernel_distance'\n[grid]\nwidth = []",
            "grid axis 'width' must be a non-empty list",
        ),
        ("experiment = 'kernel_distance'\n[grid]\nwidth = [1.5]", "'width' must be of type int"),
        ("experiment = 'kernel_distance'\n[params]\nn = 'ten'", "'n' must be of type int"),
        ("experiment = 'kernel_distance'\n[grid]\nwidth = [0, 4]", "'width' must be >= 1, got 0"),
        (
            "experiment = 'kernel_distance'\n[grid]\nn=[4]\n[params]\nn = 4",
            "both in \\[grid\\] and \\[params\\]",
        ),
        ("experiment = 'kernel_distance'\nfoo = 1", "unknown top-level key"),
        ("experiment = ", "invalid TOML"),
    ],
)
def test_config_errors(text, msg):
    with pytest.raises(ConfigError, match=msg):
        experiments.config_from_text(text)


def test_cells_written_resumed_and_not_redone(tmp_path):
    cfg = experiments.config_from_text(QUICK)
    seen = []

    class Stop(Exception):
        pass

    def interrupt_after_two(cell):
        seen.append(cell)
        if len(seen) == 2:
            raise Stop

    with pytest.raises(Stop):
        run_experiment(cfg, tmp_path, on_cell=interrupt_after_two, progress=False)
    cells = sorted((tmp_path / "kernel_distance" / "cells").glob("*.json"))
    assert len(cells) == 2
    before = {p.name: p.read_text() for p in cells}
    mtimes = {p.name: p.stat().st_mtime_ns for p in cells}

    redone = []
    df = run_experiment(cfg, tmp_path, on_cell=redone.append, progress=False)
    assert len(redone) == 2  # only the two unfinished cells ran
    for name, text in before.items():  # finished cells untouched
        p = tmp_path / "kernel_distance" / "cells" / name
        assert p.read_text() == text and p.stat().st_mtime_ns == mtimes[name]
    assert len(df) == 4
    for col in (
        "width", "seed", "depth", "n", "config_hash", "cell_id", "jax_version", "device",
        "wall_time_s", "dist_fro",
    ):  # fmt: skip
        assert col in df.columns, col
    assert df["config_hash"].nunique() == 1
    on_disk = pd.read_csv(tmp_path / "kernel_distance" / "results.csv")
    assert len(on_disk) == 4
    # same key, same numbers: a fresh run elsewhere reproduces every value
    df2 = run_experiment(cfg, tmp_path / "again", progress=False)
    by = ["width", "seed"]
    np.testing.assert_array_equal(df.sort_values(by)["dist_fro"], df2.sort_values(by)["dist_fro"])


def test_folder_with_another_config_is_refused(tmp_path):
    run_experiment(experiments.config_from_text(QUICK), tmp_path, progress=False)
    other = experiments.config_from_text(QUICK.replace("seed = [0, 1]", "seed = [5]"))
    with pytest.raises(ConfigError, match="holds results of another config"):
        run_experiment(other, tmp_path, progress=False)


def test_cli_errors_are_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("experiment = 'kernel_distance'\n[grid]\nwidht = [1]\n")
    assert cli.main(["run", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown key" in err and "Traceback" not in err
    assert cli.main(["run", str(tmp_path / "missing.toml")]) == 2
    assert "cannot read config" in capsys.readouterr().err
    assert cli.main(["kernel", "--data", str(tmp_path / "none.npz")]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0


def test_kernel_command_writes_npz(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(12, 4)), y=rng.normal(size=12))
    out = tmp_path / "k.npz"
    argv = ["kernel", "--data", str(tmp_path / "d.npz"), "--width", "64", "--depth", "2"]
    assert cli.main([*argv, "--out", str(out)]) == 0
    with np.load(out) as f:
        assert f["empirical_ntk"].shape == (12, 12) and f["infinite_ntk"].shape == (12, 12)
        assert 0 < float(f["dist_fro"]) < 1
        assert sorted(f["index"].tolist()) == list(range(12))


class _Imgs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.imgs.append(dict(attrs))


def test_quick_report_end_to_end(quick_raw):
    """The quick report into the folder whose raw/ the quick-config tests ran into (their
    cells are resumed, the others computed here): figures, tables, claims, HTML."""
    from analysis.report import make_report

    out = quick_raw.parent
    md, page = make_report(out, quick=True, progress=False)
    assert md.exists() and page.exists()
    text = md.read_text()
    figures = sorted((out / "figures").glob("*.png"))
    assert figures and all(f.with_suffix(".pdf").exists() for f in figures)
    for f in figures:
        assert f"figures/{f.name}" in text
    parser = _Imgs()
    parser.feed(page.read_text())
    alts = {i["alt"] for i in parser.imgs}
    assert {f.stem for f in figures} <= alts
    assert all(i["src"].startswith("data:image/png;base64,") for i in parser.imgs)
    for t in (out / "tables").glob("*.csv"):
        assert t.with_suffix(".md").exists() and t.with_suffix(".tex").exists()
    raw = list((out / "raw").glob("*/results.csv"))
    assert raw
    json.loads(next((out / "raw").glob("*/cells/*.json")).read_text())
    # the report opens with the claims: one row per claim of the seed, each with a number
    heads = re.findall(r"^## (.+)$", text, re.M)
    assert heads[0] == "Claims", heads
    claims_md = text.split("## Claims", 1)[1].split("\n## ", 1)[0]
    rows = [r for r in claims_md.splitlines() if r.startswith("| ") and not r.startswith("| claim")]
    starts = (
        "FAP == ReLU",
        "FAP == ReLU",
        "Linear convergence",
        "Linear convergence",
        "Iterations",
        "Width needed to",
        "Width needed grows",
        "A trained FAP net",
        "A trained FAP-CNN",
        "FAP's NTK",
        "FAP's NTK",
        "Trained with fixed patterns",
        "Test error",
        "Test error",
    )  # fmt: skip (MLP and CNN rows of the same claim follow each other)
    assert len(rows) == len(starts), rows
    cnn = [r for r in rows if "(CNN" in r.split(" | ")[0] or "FAP-CNN" in r]
    assert len(cnn) == 4, cnn
    for start, row in zip(starts, rows, strict=True):
        claim, measured, source, verdict = (c.strip() for c in row.strip("|").split(" | "))
        assert claim.startswith(start) and re.search(r"\d", measured) and source
        assert verdict.split(":")[0].split(" (")[0] in {"supported", "partly", "not supported"}
    html_text = page.read_text()
    assert re.findall(r"<h2>(.*?)</h2>", html_text)[0] == "Claims"
    assert "<table" not in html_text.replace("<div class='scroll'><table", "")
    for f in (md, page, *(out / "tables").glob("*")):
        assert f.stat().st_mode & 0o777 == 0o644, f
