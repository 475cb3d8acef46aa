"""Small fits used by tables, plots and the report."""

from __future__ import annotations

import numpy as np


def loglog_fit(x, y) -> tuple[float, float]:
    """Slope and intercept of log(y) = slope * log(x) + intercept (least squares).

    Example:
      >>> round(loglog_fit([1, 4, 16], [1, 0.5, 0.25])[0], 6)
      -0.5
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 2 or np.any(x <= 0) or np.any(y <= 0):
        raise ValueError(
            f"loglog_fit needs >= 2 positive points, got x={x.tolist()}, y={y.tolist()}"
        )
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return float(slope), float(intercept)
