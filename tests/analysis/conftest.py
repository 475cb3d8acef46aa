"""Settings of the analysis tests (beside ``tests/conftest.py``)."""

import importlib.util
import os
import sys

import pytest

from tests.analysis.notebook_runs import TEST, NotebookRuns


@pytest.fixture(scope="session")
def quick_raw(tmp_path_factory):
    """Where ``make_report(out, quick=True)`` runs its experiments (``out/raw``), shared by
    the session: a test that runs a shipped quick config through the runner runs it here,
    and the quick report end to end (``test_runner.py``, with ``out`` the folder above)
    then finds those cells done (the runner resumes them, ``test_runner.py`` tests that)
    and computes only the others, so that no quick config is computed twice."""
    return tmp_path_factory.mktemp("quick_report") / "raw"


@pytest.fixture(autouse=True)
def _close_figures():
    """``analysis.plots`` returns its figures open (notebooks display them); close them
    after each test, so that no later test finds matplotlib's 20 open figures (its
    RuntimeWarning is an error here)."""
    yield
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")


@pytest.fixture(scope="session", autouse=True)
def notebook_runs(request, tmp_path_factory):
    """The notebooks that ``test_notebooks.py`` checks in this session (path -> its run,
    ``NotebookRuns.result``), started at the first analysis test: they execute in their
    own processes while the session runs its other tests (``notebook_runs``)."""
    paths = [
        item.callspec.params["path"]
        for item in request.session.items
        if getattr(item, "originalname", None) == TEST and item.path.name == "test_notebooks.py"
    ]
    if not paths or any(
        importlib.util.find_spec(m) is None for m in ("nbformat", "nbconvert", "ipykernel")
    ):
        yield None  # the notebook tests skip (importorskip)
        return
    runs = NotebookRuns(
        paths,
        tmp_path_factory.mktemp("executed_notebooks"),
        start="PYTEST_XDIST_WORKER" not in os.environ,  # a worker: started by the one asking
    )
    yield runs
    runs.close()
