"""Test settings: float64 for tight tolerances, strict rank promotion.

Tests that need neural-tangents use the ``nt`` fixture or ``requires_nt`` marker:
they skip, naming the reason, where neural-tangents cannot import (newest jax).
"""

import jax
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

from ntkfix import _nt  # noqa: E402

requires_nt = pytest.mark.skipif(
    not _nt.available(), reason=f"neural-tangents unavailable: {_nt.unavailable_reason()}"
)

# Relative tolerances by dtype (one table for the whole suite).
RTOL = {"float64": 1e-10, "float32": 1e-4}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "nt" in item.keywords and not _nt.available():
            item.add_marker(pytest.mark.skip(reason=f"neural-tangents unavailable: {_nt.unavailable_reason()}"))


@pytest.fixture
def nt():
    if not _nt.available():
        pytest.skip(f"neural-tangents unavailable: {_nt.unavailable_reason()}")
    return _nt.import_nt("tests")


@pytest.fixture
def key():
    return jax.random.PRNGKey(0)
