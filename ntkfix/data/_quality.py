"""Data-quality checks at load time: feature scales and rows repeated across the split.

- ``scale_spread(x)``: the largest feature standard deviation over the median one
  (features with zero spread left out). Centering and projecting to the sphere rows
  whose norm one large-scale feature dominates makes them nearly parallel, and every
  NTK on them nearly singular; ``prepare`` warns (``DataQualityWarning``) above
  ``SCALE_SPREAD_LIMIT`` when ``standardize`` is off. (The median, not the smallest,
  spread: a few almost constant features, as digits' corner pixels, do no harm.)
- ``duplicate_rows(x_train, x_test)``: the test rows that equal some training row
  exactly; their test error measures memorization, not generalization. ``prepare``
  reports them in ``meta["duplicates"]``, warns, and drops them with
  ``drop_duplicates=True``.
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np

from ntkfix._core.errors import DataQualityWarning

SCALE_SPREAD_LIMIT = 100.0


def scale_spread(x: np.ndarray) -> float:
    """max over median of the (positive) feature standard deviations of ``x`` (n, d);
    1.0 when no feature varies."""
    std = np.asarray(x, np.float64).std(axis=0)
    std = std[std > 0]
    return float(std.max() / np.median(std)) if std.size else 1.0


def duplicate_rows(x_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """Sorted positions in ``x_test`` of the rows equal (exactly) to a row of ``x_train``."""
    if len(x_train) == 0 or len(x_test) == 0:
        return np.zeros(0, dtype=int)
    a = np.ascontiguousarray(x_train, np.float64).reshape(len(x_train), -1) + 0.0  # -0 -> 0
    b = np.ascontiguousarray(x_test, np.float64).reshape(len(x_test), -1) + 0.0
    seen = {row.tobytes() for row in a}
    return np.array([i for i, row in enumerate(b) if row.tobytes() in seen], dtype=int)


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside ntkfix (the user's call)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


def warn_scales(spread: float, name: str) -> None:
    warnings.warn(
        f"{name}: feature scales differ by {spread:.3g}x (largest feature std over the median "
        f"one) and standardize is off: after centering and projection to the sphere the rows "
        f"are nearly parallel and NTKs on them nearly singular; pass standardize=True",
        DataQualityWarning,
        stacklevel=_caller_level(),
    )


def warn_duplicates(n_dup: int, n_test: int, name: str, dropped: bool) -> None:
    what = (
        "dropped from the test set (drop_duplicates=True)"
        if dropped
        else "listed in meta['duplicates']; pass drop_duplicates=True to drop them"
    )
    warnings.warn(
        f"{name}: {n_dup} of {n_test} test rows have an exact duplicate in the training "
        f"split; {what}",
        DataQualityWarning,
        stacklevel=_caller_level(),
    )
