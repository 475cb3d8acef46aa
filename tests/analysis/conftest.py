"""Settings of the analysis tests (beside ``tests/conftest.py``)."""

import sys

import pytest


@pytest.fixture(autouse=True)
def _close_figures():
    """``analysis.plots`` returns its figures open (notebooks display them); close them
    after each test, so that no later test finds matplotlib's 20 open figures (its
    RuntimeWarning is an error here)."""
    yield
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")
