"""Training dynamics of ReLU vs fixed-activation-pattern (FAP) nets: rate, NTK drift, linearization.

One cell = (width, depth, model) with every seed of ``seeds`` inside (one vmapped
``ntkfix.train_many`` run); it yields one row per seed. ``model`` is "relu" (the
ordinary network) or "fap" (gates frozen at the seed's own theta_0), so the two
models of a seed start from the same theta_0 and the same NTK: rows pair up by
(width, depth, seed). ``arch = "cnn"`` (experiment ``dynamics_cnn``; ``_arch``): the stax
CNN with ``width`` channels and ``depth`` conv layers, on ``n`` digits as 8x8x1 images with
their even/odd labels, every parameter trained. Task (MLP): ``n`` points uniform on
S^{d-1} with random +-1 labels
(``data_seed``); ``n_test`` held-out points drawn the same way serve only the
linearized gap off the training set (random labels have no test signal). Full-batch
GD on L = 1/(2n) ||f(X) - Y||^2 for ``steps`` steps with lr = n / lambda_max(Theta_0)
(``lr = 0``; each seed its own) or a fixed ``lr``; diagnostics every ``record_every``
steps.

Columns (besides the knobs, ``seed``, and the runner's provenance columns):
  diverged          True if the run's loss blew up (then every value below is NaN)
  lr                step size used
  lr_rule           "n / lambda_max(Theta_0)" (``lr = 0``) or "fixed" (the ``lr`` knob)
  lambda_max0       largest eigenvalue of Theta_0 (the trained layers' NTK at init)
  lambda_min0       smallest eigenvalue of Theta_0 on the training set
  kappa0            lambda_max0 / lambda_min0, the condition number of Theta_0
  kappa_log         kappa0 * log(L_0 / eps): the steps GD on the linearized net needs up to
                    a constant under the lr rule n / lambda_max (each step shrinks the
                    slowest mode's loss by (1 - 1 / kappa)^2), the "iterations" law fitted
                    against the measured steps (``analysis.report.depth_claims``)
  loss_init, loss_final          L_0 and L_T
  loss_final_kernel_gd           L_T of kernel GD with Theta_0 (the linearized net)
  rate_fitted       per-step loss factor q from a log-linear fit of the measured curve
                    (ntkfix.convergence_rates: second half of the stretch above its floor)
  rate_fit_r2       R^2 of that fit (1 = exactly geometric)
  rate_fit_first, rate_fit_last  the fit's window (steps)
  rate_kernel_gd    the same fit, same window, on the kernel-GD curve
  rate_predicted    (1 - lr lambda_min(Theta_0)/n)^2, the asymptotic (slowest-mode) factor
  steps_to_eps_measured   first recorded step with L <= eps (NaN: not within ``steps``)
  steps_to_eps_kernel_gd  first step with L <= eps under kernel GD (exact, any horizon)
  steps_to_eps_predicted  ceil(log(eps / L_0) / log rate_predicted): the NTK bound
  reached_eps       L <= eps at some recorded step
  ntk_drift_final, ntk_drift_max   ||Theta_t - Theta_0||_F / ||Theta_0||_F at T, and max over t
  lin_gap_train_final/_max, lin_gap_test_final/_max
                    RMS of f_t - f_t^lin on train / held-out points (f^lin: kernel GD)
  lambda_min_start, lambda_min_end  smallest eigenvalue of Theta_t on the training set
  param_change      ||theta_T - theta_0|| / ||theta_0||
  curves            JSON {"step", "train_loss", "ntk_drift"} at the recorded steps

``width_per_n`` > 0 ties the width to n (width = round(width_per_n n), the ``width``
column): steps to eps at fixed over-parameterization, against n and depth
(``steps_fits``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from analysis.config import Knob, defaults
from analysis.experiments import Experiment, _arch, require
from analysis.experiments._common import SeedRuns, train_cell
from analysis.experiments._kernel_gd import kernel_gd, predicted_rate, rates_or_none, window_rate
from analysis.experiments._rows import NAN, curves_json, num, param_change
from analysis.experiments._task import (
    NET_DEFAULTS,
    init_params,
    knobs,
    trainable_arg,
)
from analysis.fits import loglog_fit
from ntkfix import steps_to_reach

KNOBS = knobs(
    width=256,
    depth=2,
    model="fap",
    seeds=[0, 1, 2],
    n=128,
    n_test=128,
    data_seed=0,
    steps=400,
    record_every=10,
    eps=1e-4,
    lr=0.0,
    # > 0: width = round(width_per_n * n) (fixed over-parameterization; ``width`` ignored)
    width_per_n=Knob(0.0, low=0, note="0: the width knob"),
    **NET_DEFAULTS,
    **_arch.KNOBS,
)
SCHEMA = defaults(KNOBS)

COLUMNS = (
    "diverged", "lr", "lr_rule", "lambda_max0", "lambda_min0", "kappa0", "kappa_log",
    "loss_init", "loss_final", "loss_final_kernel_gd",
    "rate_fitted", "rate_fit_r2", "rate_fit_first", "rate_fit_last", "rate_kernel_gd",
    "rate_predicted", "steps_to_eps_measured", "steps_to_eps_kernel_gd",
    "steps_to_eps_predicted", "reached_eps", "ntk_drift_final", "ntk_drift_max",
    "lin_gap_train_final", "lin_gap_train_max", "lin_gap_test_final", "lin_gap_test_max",
    "lambda_min_start", "lambda_min_end", "param_change", "curves",
)  # fmt: skip

MIN_RECORDS = 4


def seed_row(cell, spec, task, runs: SeedRuns, seed: int) -> dict:
    """One row of the table (module docstring) for ``seed`` of a finished cell."""
    row = dict.fromkeys(COLUMNS, NAN)
    row.update(seed=seed, diverged=seed in runs.diverged, reached_eps=False, curves="{}")
    i = runs.position(seed)
    if i is None:
        return row
    res, h, eps = runs.result, runs.result.history, cell["eps"]
    loss = np.asarray(h.train_loss[i], np.float64)
    lr = float(np.asarray(res.lr)[i])
    p0 = init_params(spec, seed)
    kgd = kernel_gd(spec, p0, task.x, task.y, lr, trainable_arg(cell))
    rates = rates_or_none(res, eps, i)
    reached = steps_to_reach(h.step, loss, eps)
    lmax, lmin = float(np.asarray(res.lambda_max0)[i]), float(np.asarray(res.lambda_min0)[i])
    kappa = lmax / lmin if lmin > 0 else np.inf
    row.update(
        lr=lr,
        lr_rule="n / lambda_max(Theta_0)" if cell["lr"] == 0 else "fixed",
        lambda_max0=lmax,
        lambda_min0=lmin,
        kappa0=kappa,
        kappa_log=kappa * float(np.log(max(loss[0] / eps, 1.0))),
        loss_init=float(loss[0]),
        loss_final=float(loss[-1]),
        loss_final_kernel_gd=float(kgd.loss(h.step[-1])),
        rate_predicted=predicted_rate(res, i),
        steps_to_eps_measured=num(reached),
        steps_to_eps_kernel_gd=num(kgd.steps_to(eps)),
        reached_eps=reached is not None,
        ntk_drift_final=float(h.ntk_drift[i, -1]),
        ntk_drift_max=float(np.max(h.ntk_drift[i])),
        lin_gap_train_final=float(h.lin_gap_train[i, -1]),
        lin_gap_train_max=float(np.max(h.lin_gap_train[i])),
        lin_gap_test_final=float(h.lin_gap_test[i, -1]),
        lin_gap_test_max=float(np.max(h.lin_gap_test[i])),
        lambda_min_start=float(h.lambda_min[i, 0]),
        lambda_min_end=float(h.lambda_min[i, -1]),
        param_change=param_change(p0, runs.params(seed)),
        curves=curves_json(step=h.step, train_loss=loss, ntk_drift=h.ntk_drift[i]),
    )
    if rates is not None:
        fit = rates.fit
        row.update(
            rate_fitted=rates.fitted_rate,
            rate_fit_r2=fit.r2,
            rate_fit_first=fit.first_step,
            rate_fit_last=fit.last_step,
            rate_kernel_gd=window_rate(h.step, kgd.loss(h.step), fit.first_step, fit.last_step),
            steps_to_eps_predicted=num(rates.steps_predicted),
        )
    return row


def run_cell(cell):
    if cell["width_per_n"] > 0:
        cell = {**cell, "width": max(1, round(cell["width_per_n"] * cell["n"]))}
    spec, task = _arch.net_and_task(cell)
    runs = train_cell(
        cell,
        spec,
        task,
        cell["model"],
        x_test=task.x_test,
        y_test=task.y_test,
        record_every=cell["record_every"],
        track=("ntk", "linearized"),
    )
    rows = [seed_row(cell, spec, task, runs, s) for s in cell["seeds"]]
    if cell["width_per_n"] > 0:  # the width used (the knob's value is ignored)
        rows = [{**r, "width": cell["width"]} for r in rows]
    return rows


# ---- summaries of the tidy table -------------------------------------------------------------
WIDTH_METRICS = ("ntk_drift_final", "lin_gap_train_final", "lin_gap_test_final")


def width_slopes(df: pd.DataFrame, metrics=WIDTH_METRICS) -> pd.DataFrame:
    """Per (depth, model): slope of log(mean over seeds of each metric) vs log(width).

    Columns: depth, model, widths ("lo..hi"), slope_<metric> (NaN with < 2 widths or a
    non-positive mean).
    """
    rows = []
    for (depth, model), g in df[~df["diverged"].astype(bool)].groupby(["depth", "model"]):
        means = g.groupby("width")[list(metrics)].mean()
        row = {
            "depth": depth,
            "model": model,
            "widths": f"{means.index.min()}..{means.index.max()}",
        }
        for m in metrics:
            s = means[m].dropna()
            s = s[s > 0]
            row[f"slope_{m}"] = loglog_fit(s.index, s.values)[0] if len(s) >= 2 else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def fap_vs_relu(
    df: pd.DataFrame,
    metrics=("ntk_drift_final", "lin_gap_train_final", "loss_final"),
    by=("depth",),
) -> pd.DataFrame:
    """FAP against ReLU from the same theta_0, paired by (depth, width, seed).

    Per ``by`` group: ``<metric>_ratio`` = median over pairs of FAP / ReLU, and
    ``<metric>_fap_lower`` = share of pairs where FAP's value is the smaller;
    ``<metric>_pairs`` counts the pairs with both runs of that metric finite.
    """
    keys = ["depth", "width", "seed"]
    ok = df[~df["diverged"].astype(bool)]
    wide = ok.pivot_table(index=keys, columns="model", values=list(metrics), aggfunc="first")
    rows = []
    for key, g in wide.groupby(level=list(by)):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True))
        for m in metrics:
            if (m, "fap") not in g or (m, "relu") not in g:
                row[f"{m}_ratio"] = row[f"{m}_fap_lower"] = np.nan
                row[f"{m}_pairs"] = 0
                continue
            pair = g[[(m, "fap"), (m, "relu")]].dropna()
            fap, relu = pair[(m, "fap")].to_numpy(), pair[(m, "relu")].to_numpy()
            row[f"{m}_ratio"] = float(np.median(fap / relu)) if len(pair) else np.nan
            row[f"{m}_fap_lower"] = float(np.mean(fap < relu)) if len(pair) else np.nan
            row[f"{m}_pairs"] = len(pair)
        rows.append(row)
    return pd.DataFrame(rows)


def steps_fits(df: pd.DataFrame, col: str = "steps_to_eps_measured") -> pd.DataFrame:
    """Steps to eps against n and depth (the seed's claim: logarithmic in n and depth).

    Per (model, depth): over the n where every seed reached eps, the median ``col`` over
    seeds fitted as steps = a log(n) + b (``per_log_n``: a) and as steps ~ n^e
    (``exponent_n``: e; logarithmic growth makes e small and shrinking with n). Per
    (model, n) likewise against depth (``per_log_depth``, ``exponent_depth``). Columns:
    model, axis ("n" or "depth"), at (the other axis' value), slope_log, exponent,
    n_points.
    """
    ok = df[~df["diverged"].astype(bool)]
    med = ok.groupby(["model", "depth", "n"])[col].agg(["median", "count", "size"])
    med = med[(med["count"] == med["size"]) & (med["median"] > 0)].reset_index()
    rows = []
    for axis, other in (("n", "depth"), ("depth", "n")):
        for (model, at), g in med.groupby(["model", other]):
            g = g.sort_values(axis)
            slope = e = np.nan
            if len(g) >= 2:
                slope = float(np.polyfit(np.log(g[axis].astype(float)), g["median"], 1)[0])
                e = loglog_fit(g[axis], g["median"])[0]
            rows.append(
                dict(model=model, axis=axis, at=at, slope_log=slope, exponent=e, n_points=len(g))
            )
    return pd.DataFrame(rows)


def check(cfg):
    """Across knobs: enough recorded steps for the rate fit (each knob is checked by KNOBS)."""
    exp = cfg.experiment
    _arch.check_trainable(cfg)
    for steps in cfg.values("steps"):
        for every in cfg.values("record_every"):
            require(
                steps // every >= MIN_RECORDS,
                f"{exp}: steps / record_every must be >= {MIN_RECORDS} for the rate fit, "
                f"got steps={steps}, record_every={every}",
            )


EXPERIMENT = Experiment(
    name="dynamics",
    knobs=KNOBS,
    run_cell=run_cell,
    check=check,
    description="GD on random labels, ReLU vs FAP: rate vs NTK prediction, NTK drift, linear gap",
)
CNN_EXPERIMENT = Experiment(
    name="dynamics_cnn",
    knobs={**KNOBS, "arch": dataclasses.replace(KNOBS["arch"], default="cnn")},
    run_cell=run_cell,
    check=check,
    description="GD of a CNN on digits, ReLU vs FAP-CNN: NTK drift, linearized gap, rates",
)
DEPTH_EXPERIMENT = Experiment(
    name="dynamics_depth",
    knobs=KNOBS,
    run_cell=run_cell,
    check=check,
    description="steps to eps vs n and depth at fixed over-parameterization, ReLU vs FAP",
)
