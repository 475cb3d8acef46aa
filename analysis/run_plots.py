"""Figures of single training runs: a ``TrainResult`` or ``History`` in one call.

``training_run(run)`` draws, from whatever the run tracked, up to three panels against
the GD step: the training loss (solid) and the test loss (dashed), the relative NTK
drift ||Theta_t - Theta_0||_F / ||Theta_0||_F, and the gap to the linearized model
(train solid, test dashed). ``run`` may be a ``TrainResult``, a ``History``, their
``to_frame()`` table, or a dict {name: any of these} (e.g. {"FAP": fap, "ReLU": relu})
drawn in one figure. For ``train_many`` results each seed is a line. Log y axes; zeros
(the drift and gaps at step 0) are left out.
``analysis.plots.loss_curves`` hands a run (anything but an experiment's results table)
to this function.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

import ntkfix
from analysis.plot_style import COLORS, save, style

PANELS = {  # panel -> (columns drawn, solid first; y-axis label)
    "loss": (("train_loss", "test_loss"), "loss  ||f - y||² / 2n"),
    "drift": (("ntk_drift",), "NTK drift  ||Θ_t - Θ_0|| / ||Θ_0||"),
    "linearized gap": (("lin_gap_train", "lin_gap_test"), "gap to the linearized net"),
}


def run_frame(run: Any) -> pd.DataFrame:
    """The tidy per-step table of a run (``TrainResult``, ``History`` or such a table)."""
    if isinstance(run, (ntkfix.results.TrainResult, ntkfix.results.History)):
        return run.to_frame()
    if isinstance(run, pd.DataFrame) and "step" in run.columns and "train_loss" in run.columns:
        return run
    raise TypeError(
        "run must be a TrainResult, a History, their to_frame() table (columns step, "
        f"train_loss, ...) or a dict of those, got {type(run).__name__}"
    )


def is_run(obj: Any) -> bool:
    """Whether ``obj`` is something ``training_run`` draws (not an experiment's table)."""
    if isinstance(obj, dict):
        return bool(obj) and all(is_run(v) for v in obj.values())
    if isinstance(obj, pd.DataFrame):
        return "step" in obj.columns and "train_loss" in obj.columns
    return isinstance(obj, (ntkfix.results.TrainResult, ntkfix.results.History))


def training_run(run: Any, path=None, title=None):
    """Loss and test loss, NTK drift and linearized gap vs GD step (module docstring);
    returns the Figure (and saves ``path``.png/.pdf when given)."""
    runs = (
        {k: run_frame(v) for k, v in run.items()} if isinstance(run, dict) else {"": run_frame(run)}
    )
    if not runs:
        raise ValueError("run is an empty dict: nothing to draw")
    panels = [
        p for p, (cols, _) in PANELS.items() if any(c in f for f in runs.values() for c in cols)
    ]
    import matplotlib.pyplot as plt  # here, not at import (the backend is the caller's)

    with style():
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
        for ax, panel in zip(axes[0], panels, strict=True):
            cols, ylabel = PANELS[panel]
            for i, (name, frame) in enumerate(runs.items()):
                color = COLORS[i % 10]
                for col, ls in zip(cols, ("-", "--"), strict=False):
                    if col not in frame:
                        continue
                    groups = frame.groupby("seed") if "seed" in frame else [(None, frame)]
                    for seed, g in groups:
                        parts = (
                            name,
                            col.replace("_", " "),
                            "" if seed is None else f"seed {seed}",
                        )
                        label = " ".join(s for s in parts if s)
                        y = g[col].to_numpy(float)
                        y = np.where(y > 0, y, np.nan)  # log axis: zeros (step 0) left out
                        ax.plot(g["step"], y, ls, color=color, lw=1.2, label=label)
            ax.set(yscale="log", xlabel="GD step", ylabel=ylabel, title=panel)
            ax.legend(fontsize=6.5)
        fig.suptitle(title or "Training run")
        fig.tight_layout()
        save(fig, path)
    return fig
