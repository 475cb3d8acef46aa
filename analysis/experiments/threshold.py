"""Width threshold for fitting random labels: the smallest width at which GD reaches eps in T steps.

One cell = (n, width, model) with every seed of ``seeds`` inside (one vmapped
``ntkfix.train_many`` run); it yields ONE row: the fraction of seeds whose training
loss L = 1/(2n) ||f(X) - Y||^2 reaches ``eps`` within ``steps`` (= T) GD steps
(checked every ``record_every`` steps) with lr = n / lambda_max(Theta_0) (``lr = 0``).
Task: n points uniform on S^{d-1}, random +-1 labels (``data_seed``); a ReLU net
("relu") or the FAP net with gates frozen at its theta_0 ("fap"), same theta_0 per seed.
A seed whose run diverges counts as not reaching eps.

Columns (besides the knobs and provenance):
  n_seeds, n_reached, n_diverged   counts over ``seeds``
  frac_reached      n_reached / n_seeds
  passes            frac_reached >= target_fraction
  steps_to_eps_median   median first recorded step with L <= eps, over the seeds that reach
  loss_final_median, loss_final_max   L_T over the non-diverged seeds
  lr_median         median step size
  final_losses      JSON list of L_T per seed (NaN where diverged)

The threshold and its scaling with n are derived from the table, not measured per cell
(``thresholds``, ``exponents``): for each (model, n) the threshold is the smallest grid
width whose row passes; ``exponents`` fits log threshold = a log n + b per model over the
n whose threshold is inside the grid (neither the smallest grid width, which only bounds
it from above, nor missing).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from analysis.config import Knob, defaults
from analysis.experiments import Experiment
from analysis.experiments._common import SeedRuns, train_cell
from analysis.experiments._rows import NAN, compact
from analysis.experiments._task import NET_DEFAULTS, knobs, spec_for, sphere_task
from analysis.fits import loglog_fit
from ntkfix import steps_to_reach

KNOBS = knobs(
    n=64,
    width=64,
    model="fap",
    seeds=list(range(10)),
    depth=1,
    data_seed=0,
    steps=1000,
    record_every=10,
    eps=1e-3,
    lr=0.0,
    target_fraction=Knob(0.9, low=0, high=1, strict="low"),
    **NET_DEFAULTS,
)
SCHEMA = defaults(KNOBS)
DEFAULT_TARGET = SCHEMA["target_fraction"]


def cell_row(cell, runs: SeedRuns) -> dict:
    """The cell's single row (module docstring) from its seed runs."""
    seeds, eps = cell["seeds"], cell["eps"]
    finals, steps_hit, lrs = [], [], []
    for s in seeds:
        i = runs.position(s)
        if i is None:
            finals.append(NAN)
            continue
        loss = np.asarray(runs.result.history.train_loss[i], np.float64)
        finals.append(float(loss[-1]))
        lrs.append(float(np.asarray(runs.result.lr)[i]))
        hit = steps_to_reach(runs.result.history.step, loss, eps)
        if hit is not None:
            steps_hit.append(hit)
    finals_arr = np.asarray(finals)
    ok = np.isfinite(finals_arr)
    frac = len(steps_hit) / len(seeds)
    return {
        "n_seeds": len(seeds),
        "n_reached": len(steps_hit),
        "n_diverged": len(runs.diverged),
        "frac_reached": frac,
        "passes": frac >= cell["target_fraction"],
        "steps_to_eps_median": float(np.median(steps_hit)) if steps_hit else NAN,
        "loss_final_median": float(np.median(finals_arr[ok])) if ok.any() else NAN,
        "loss_final_max": float(np.max(finals_arr[ok])) if ok.any() else NAN,
        "lr_median": float(np.median(lrs)) if lrs else NAN,
        "final_losses": json.dumps(compact(finals_arr)),
    }


def run_cell(cell):
    spec = spec_for(cell)
    task = sphere_task(cell["data_seed"], cell["n"], cell["d"])
    runs = train_cell(cell, spec, task, cell["model"], record_every=cell["record_every"], track=())
    return cell_row(cell, runs)


# ---- summaries of the tidy table -------------------------------------------------------------
def _target(df: pd.DataFrame, target: float | None) -> float:
    if target is not None:
        return float(target)
    if "target_fraction" in df and df["target_fraction"].nunique() == 1:
        return float(df["target_fraction"].iloc[0])
    return DEFAULT_TARGET


# Knobs that, when they vary in a table, split the threshold analysis (besides the model).
SPLIT_BY = tuple(k for k in SCHEMA if k not in ("n", "width", "model", "seeds"))


def groups(df: pd.DataFrame) -> tuple[str, ...]:
    """("model", plus every knob of SPLIT_BY that takes several values in ``df``)."""
    return ("model", *(k for k in SPLIT_BY if k in df and df[k].nunique() > 1))


def thresholds(df: pd.DataFrame, target: float | None = None, by=None) -> pd.DataFrame:
    """Per (``by``..., n): the smallest grid width with frac_reached >= target.

    ``by`` defaults to ``groups(df)`` (the model, and any other knob that varies).
    ``target`` defaults to each group's ``target_fraction`` (else 0.9). Columns: the
    ``by`` keys, n, threshold_width (NaN if no width passes), censored ("" inside
    the grid, "below" when the smallest grid width already passes, so the threshold
    is at most that, "above" when none passes), monotone (every wider grid width
    passes too), widths (the grid), frac_at_widest.
    """
    by = groups(df) if by is None else tuple(by)
    keys = [*by, "n"]
    rows = []
    for key, g in df.groupby(keys, sort=True):
        g = g.sort_values("width")
        widths, frac = g["width"].to_numpy(), g["frac_reached"].to_numpy()
        ok = frac >= _target(g, target)
        if ok.any():
            first = int(np.argmax(ok))
            thr, censored, monotone = (
                float(widths[first]),
                ("below" if first == 0 else ""),
                bool(ok[first:].all()),
            )
        else:
            thr, censored, monotone = np.nan, "above", False
        rows.append(
            {
                **dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True)),
                "threshold_width": thr,
                "censored": censored,
                "monotone": monotone,
                "widths": f"{widths.min()}..{widths.max()}",
                "frac_at_widest": float(frac[-1]),
            }
        )
    return pd.DataFrame(rows)


def exponents(thr: pd.DataFrame, by=None) -> pd.DataFrame:
    """Per ``by`` group: fitted a in threshold_width ~ C n^a over uncensored thresholds.

    ``by`` defaults to the grouping columns of ``thr`` (those ``thresholds`` put before n).
    Columns: the ``by`` keys, exponent, prefactor (C), n_points, n_used (the n in the
    fit); exponent NaN with fewer than 2 uncensored points.
    """
    by = tuple(thr.columns[: list(thr.columns).index("n")]) if by is None else tuple(by)
    rows = []
    for key, g in thr.groupby(list(by), sort=True):
        use = g[(g["censored"] == "") & g["threshold_width"].notna()].sort_values("n")
        a = icpt = np.nan
        if len(use) >= 2:
            a, icpt = loglog_fit(use["n"], use["threshold_width"])
        rows.append(
            {
                **dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True)),
                "exponent": a,
                "prefactor": float(np.exp(icpt)),
                "n_points": len(use),
                "n_used": ",".join(str(int(n)) for n in use["n"]),
            }
        )
    return pd.DataFrame(rows)


def depth_fits(thr: pd.DataFrame) -> pd.DataFrame:
    """The threshold's growth in depth (the seed's claim: width needed linear in depth).

    Per (model, n, and any other grouping column of ``thr`` but depth): over the depths
    whose threshold is uncensored, the least-squares line threshold_width = slope * depth
    + intercept (``slope``: width per extra layer) and the log-log exponent a in
    threshold ~ depth^a (1 for linear growth); NaN with fewer than 2 such depths.
    Columns: the keys, slope, intercept, exponent, n_points, depths (used).
    """
    if "depth" not in thr.columns:
        raise KeyError("depth_fits needs a thresholds() table split by depth (a depth axis)")
    keys = [c for c in thr.columns[: list(thr.columns).index("n") + 1] if c != "depth"]
    rows = []
    for key, g in thr.groupby(keys, sort=True):
        use = g[(g["censored"] == "") & g["threshold_width"].notna()].sort_values("depth")
        slope = icpt = a = np.nan
        if len(use) >= 2:
            slope, icpt = np.polyfit(use["depth"].astype(float), use["threshold_width"], 1)
            a = loglog_fit(use["depth"], use["threshold_width"])[0]
        rows.append(
            {
                **dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True)),
                "slope": float(slope),
                "intercept": float(icpt),
                "exponent": float(a),
                "n_points": len(use),
                "depths": ",".join(str(int(d)) for d in use["depth"]),
            }
        )
    return pd.DataFrame(rows)


EXPERIMENT = Experiment(
    name="width_threshold",
    knobs=KNOBS,
    run_cell=run_cell,
    description="smallest width at which GD fits n random labels within T steps, ReLU vs FAP",
)
DEPTH_EXPERIMENT = Experiment(
    name="width_threshold_depth",
    knobs=KNOBS,
    run_cell=run_cell,
    description="the width threshold over depth and n (the seed's claim: linear in depth)",
)
