"""Test settings: float64 for tight tolerances, strict rank promotion.

Tests that need neural-tangents use the ``nt`` fixture or the ``requires_nt`` marker
(``tests.helpers``, with the tolerance table and ``assert_close``): they skip, naming the
reason, where neural-tangents cannot import (newest jax).
"""

import jax
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

from ntkfix._core import nt as _nt  # noqa: E402


def pytest_collection_modifyitems(config, items):
    _xdist_groups(config, items)
    for item in items:
        if "nt" in item.keywords and not _nt.available():
            item.add_marker(
                pytest.mark.skip(reason=f"neural-tangents unavailable: {_nt.unavailable_reason()}")
            )


def _xdist_groups(config, items):
    """Under pytest-xdist (``make test``: ``-n 2 --dist loadgroup``) a module's tests run on
    one worker (its module fixtures are built once), and every test that uses the session's
    quick-report folder (``tests/analysis/conftest.quick_raw``) on one, so that the quick
    report end to end finds the cells the quick-config tests ran."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            group = "quick_report" if "quick_raw" in item.fixturenames else item.module.__name__
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture
def nt():
    if not _nt.available():
        pytest.skip(f"neural-tangents unavailable: {_nt.unavailable_reason()}")
    return _nt.import_nt("tests")


@pytest.fixture
def key():
    return jax.random.PRNGKey(0)
