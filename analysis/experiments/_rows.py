"""Values for the tidy tables' cells: NaN for missing numbers, compact JSON curves."""

from __future__ import annotations

import json
import math

import jax
import numpy as np

NAN = float("nan")


def num(v) -> float:
    """A float for a table cell: None -> NaN."""
    return NAN if v is None else float(v)


def compact(values, digits: int = 5) -> list[float]:
    """Floats rounded to ``digits`` significant digits (for JSON columns)."""
    return [float(f"{float(v):.{digits}g}") for v in np.asarray(values).ravel()]


def curves_json(**curves) -> str:
    """JSON object of named 1-D curves, e.g. ``{"step": [...], "train_loss": [...]}``."""
    return json.dumps(
        {k: compact(v) if k != "step" else [int(s) for s in v] for k, v in curves.items()}
    )


def read_curves(text: str) -> dict[str, np.ndarray]:
    """Inverse of ``curves_json``."""
    return {k: np.asarray(v, float) for k, v in json.loads(text).items()}


def param_change(params0, params) -> float:
    """||theta - theta_0|| / ||theta_0|| over all parameters."""
    leaves0 = [np.asarray(a, np.float64) for a in jax.tree_util.tree_leaves(params0)]
    leaves = [np.asarray(a, np.float64) for a in jax.tree_util.tree_leaves(params)]
    num_ = sum(float(np.sum((a - b) ** 2)) for a, b in zip(leaves, leaves0, strict=True))
    return math.sqrt(num_ / sum(float(np.sum(b**2)) for b in leaves0))
