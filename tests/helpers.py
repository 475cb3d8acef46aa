"""What every test module shares: the tolerance table, ``assert_close`` and ``requires_nt``.

One table of tolerances keyed by dtype (as neural-tangents' ``tests/test_utils.py``):
float64 where the math is exact up to rounding, float32 where the computation runs in
single precision. A test that needs a looser bound says so at the call with a reason.
"""

from __future__ import annotations

import numpy as np
import pytest

from ntkfix._core import nt as _nt

# Relative and absolute tolerances by dtype (one table for the whole suite).
TOLERANCE = {
    np.dtype(np.float64): {"rtol": 1e-10, "atol": 1e-10},
    np.dtype(np.float32): {"rtol": 1e-4, "atol": 1e-5},
}
RTOL = {str(d): t["rtol"] for d, t in TOLERANCE.items()}

requires_nt = pytest.mark.skipif(
    not _nt.available(), reason=f"neural-tangents unavailable: {_nt.unavailable_reason()}"
)


def tolerance(dtype) -> dict:
    """{"rtol": ..., "atol": ...} for ``dtype`` (float16/bfloat16 fall back to float32)."""
    dt = np.dtype(dtype)
    return TOLERANCE.get(dt, TOLERANCE[np.dtype(np.float32)])


def assert_close(actual, desired, *, dtype=None, rtol=None, atol=None, err_msg: str = ""):
    """``numpy.testing.assert_allclose`` with the table's tolerances for ``dtype`` (default:
    the less precise dtype of the two arrays); ``rtol``/``atol`` override one of them."""
    a, d = np.asarray(actual), np.asarray(desired)
    if dtype is None:
        kinds = [x.dtype for x in (a, d) if x.dtype.kind == "f"]
        dtype = min(kinds, key=lambda t: t.itemsize) if kinds else np.float64
    tol = tolerance(dtype)
    np.testing.assert_allclose(
        a,
        d,
        rtol=tol["rtol"] if rtol is None else rtol,
        atol=tol["atol"] if atol is None else atol,
        err_msg=err_msg,
    )


def rel_err(a, b) -> float:
    """max |a - b| / max |b|: the largest error relative to the scale of ``b``."""
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
