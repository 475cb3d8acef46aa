"""Teaching notebooks: stored without outputs; each runs top to bottom in a clean kernel, shows
its figures inline (every plotting cell leaves a PNG) and ends with a worked exercise.

Each notebook is executed as ``make docs`` executes it (``jupyter nbconvert --to notebook
--execute``, matplotlib's inline backend) in its own process, in the background of the
session (``conftest.notebook_runs``: from the first analysis test on, beside the others).
With ``NTKFIX_EXECUTED_NOTEBOOKS=DIR`` (``make test`` sets it to ``docs/notebooks``) a
notebook that passed is written there as ``jupyter nbconvert --to notebook --execute
--output-dir DIR`` writes it, so that ``make docs`` finds it up to date and does not
execute it a second time."""

import os
import re
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_runs_top_to_bottom_with_inline_figures(path, notebook_runs):
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbconvert")
    pytest.importorskip("ipykernel")
    run = notebook_runs.result(path)  # executed as `make docs` does (conftest.notebook_runs)
    print(f"{path.name}: {run.seconds:.1f} s")
    assert run.returncode == 0, f"{path.name} failed to run:\n{run.stderr[-5000:]}"
    body = run.written.read_text(encoding="utf-8")
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
