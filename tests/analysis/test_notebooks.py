"""Teaching notebooks: stored without outputs; each runs top to bottom in a clean kernel, shows
its figures inline (every plotting cell leaves a PNG) and ends with a worked exercise.

Each notebook is executed as ``make docs`` executes it (``jupyter nbconvert --to notebook
--execute``, matplotlib's inline backend), two at a time. With ``NTKFIX_EXECUTED_NOTEBOOKS=DIR``
(``make test`` sets it to ``docs/notebooks``) a notebook that passed is written there as
``jupyter nbconvert --to notebook --execute --output-dir DIR`` writes it, so that
``make docs`` finds it up to date and does not execute it a second time."""

import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

INLINE = "module://matplotlib_inline.backend_inline"  # the MPLBACKEND of `make docs`
NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
# a code cell that draws: a call into analysis.plots, pyplot, or an Axes' plotting method
PLOTTING = re.compile(r"\bplots\.\w+\(|\bplt\.\w+\(|\.(plot|semilogy|semilogx|loglog|imshow)\(")


def _read(path):
    nbformat = pytest.importorskip("nbformat")
    return nbformat.read(path, as_version=4)


def test_there_are_five_notebooks():
    assert len(NOTEBOOKS) >= 5
    assert any(p.name == "05_your_own_network.ipynb" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_stored_without_outputs(path):
    nb = _read(path)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name} holds outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_has_an_exercise_with_a_solution(path):
    nb = _read(path)
    md = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"]
    exercises = [i for i in md if re.search(r"^#+ Exercise", nb.cells[i].source, re.M)]
    assert exercises, f"{path.name} has no '## Exercise' cell"
    solutions = [i for i in md if re.search(r"^#+ Solution", nb.cells[i].source, re.M)]
    assert any(s > exercises[0] for s in solutions), f"{path.name}: no solution after the exercise"
    after = nb.cells[max(solutions) + 1 :]
    assert any(c.cell_type == "code" and c.source.strip() for c in after), "solution has no code"


def test_the_plotting_pattern_sees_plotting_cells():
    assert PLOTTING.search("plots.spectra(e);")
    assert PLOTTING.search("fig, ax = plt.subplots()")
    assert PLOTTING.search("a.semilogy(t, v)")
    assert not PLOTTING.search("print(rates.fitted_rate)")


KERNELS = 2  # notebooks executing at once


def _execute(path, out_dir):
    """``path`` executed as ``make docs`` executes it (``jupyter nbconvert --to notebook
    --execute``, matplotlib's inline backend) into ``out_dir``: (the nbconvert process, the
    notebook it wrote, seconds)."""
    argv = ["--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=300"]
    argv += ["--ExecutePreprocessor.kernel_name=python3", "--output-dir", str(out_dir)]
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "nbconvert", *argv, str(path), "--log-level=WARN"],
        capture_output=True,
        text=True,
        env={**os.environ, "MPLBACKEND": INLINE},
    )
    return proc, Path(out_dir) / path.name, time.perf_counter() - t0


@pytest.fixture(scope="module")
def executions(request, tmp_path_factory):
    """path -> the future of its execution (``_execute``), for every notebook this session
    tests, all started at the first request, ``KERNELS`` at a time: a notebook's kernel is
    one process that keeps about one core busy, so two at a time use both cores of a
    2-core machine while this process waits (the same executions, in about half the time)."""
    pytest.importorskip("nbconvert")
    pytest.importorskip("ipykernel")
    here = Path(__file__).resolve()
    wanted = [
        item.callspec.params["path"]
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_runs_top_to_bottom_with_inline_figures"
        and Path(item.path).resolve() == here
    ]
    out = tmp_path_factory.mktemp("executed_notebooks")
    with ThreadPoolExecutor(KERNELS) as pool:
        futures = {path: pool.submit(_execute, path, out) for path in wanted}
        yield futures
        for f in futures.values():
            f.cancel()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_runs_top_to_bottom_with_inline_figures(path, executions):
    nbformat = pytest.importorskip("nbformat")
    proc, written, seconds = executions[path].result()
    print(f"{path.name}: {seconds:.1f} s")
    assert proc.returncode == 0, f"{path.name} failed to run:\n{proc.stderr[-5000:]}"
    body = written.read_text(encoding="utf-8")
    nb = nbformat.reads(body, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    assert code and all(c.execution_count for c in code), f"{path.name}: cells not executed"
    plotting = [c for c in nb.cells if c.cell_type == "code" and PLOTTING.search(c.source)]
    assert plotting, f"{path.name} draws no figure"
    for cell in plotting:
        kinds = [k for out in cell.outputs for k in out.get("data", {})]
        assert "image/png" in kinds, f"{path.name}: no inline image from\n{cell.source[:200]}"
    out = os.environ.get("NTKFIX_EXECUTED_NOTEBOOKS")
    if out:  # only a notebook that passed; written whole, then renamed into place
        target = Path(out) / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{path.name}.partial")
        partial.write_text(body, encoding="utf-8")
        partial.replace(target)
