"""The report's first section: the seed's claims, each with the number this run measured,
where it comes from and a verdict in words, all computed from the experiments' results.

``CLAIMS`` maps an experiment to the function turning its tidy results into claim rows;
``claims_table`` stacks the rows of the experiments that ran. Thresholds of the verdicts
are named constants here, next to the rule they serve (those of the depth claims in
``analysis.report.depth_claims``, of the MNIST-1D claims in ``analysis.report.data_claims``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from analysis.report.claim_rows import COLUMNS, claim_row, not_diverged
from analysis.report.data_claims import scale_claims, trained_claims
from analysis.report.depth_claims import LINEAR_HI as LINEAR_HI
from analysis.report.depth_claims import steps_depth_claims, threshold_depth_claims

EQUAL_RTOL = 1e-5  # FAP == ReLU at theta_0: float32 rounding of identical computations
REACH_ALL, REACH_MOST = 0.9, 0.5  # share of runs reaching eps for "supported" / "partly"
FIT_R2 = 0.99  # the loss curve is geometric (log-linear) on its fitted window
LOWER_ALL, LOWER_MOST = 0.8, 0.5  # share of pairs with FAP below ReLU
RANK_TRACKS = 0.8  # Spearman correlation of complexity and test error across noise levels


def _paired(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """(depth, width, seed) x model table of ``column`` for the pairs with both models."""
    wide = df.pivot_table(index=["depth", "width", "seed"], columns="model", values=column)
    return wide.dropna() if {"fap", "relu"} <= set(wide.columns) else wide.iloc[0:0]


def _initialization_row(df: pd.DataFrame) -> dict | None:
    """FAP == ReLU at theta_0: L_0 and lambda_max(Theta_0) of the pairs agree."""
    rel = []
    for col in ("loss_init", "lambda_max0"):
        w = _paired(df, col)
        if len(w):
            rel.append((w["fap"] - w["relu"]).abs() / w["relu"].abs().clip(lower=1e-300))
    if not rel:
        return None
    worst = float(pd.concat(rel).max())
    pairs = len(_paired(df, "loss_init"))
    same = worst <= EQUAL_RTOL
    return claim_row(
        "FAP == ReLU at initialization (same function, same NTK)",
        f"max relative difference of L_0 and λ_max(Θ_0) over {pairs} FAP/ReLU pairs: {worst:.2g}",
        "dynamics: loss_init, lambda_max0 of the pairs from the same θ_0",
        f"supported: equal to float32 rounding (≤ {EQUAL_RTOL:g})"
        if same
        else f"not supported: they differ by {worst:.2g} > {EQUAL_RTOL:g}",
    )


def _convergence_verdict(fap: pd.DataFrame, reached: float, r2: float) -> str:
    geometric = r2 >= FIT_R2
    if geometric and reached >= REACH_ALL:
        return "supported: the loss decays geometrically and the runs reach eps"
    if geometric:
        return (
            f"partly: the loss decays geometrically (log-linear), but only "
            f"{100 * reached:.0f}% of runs reach eps within their {int(fap['steps'].max())} "
            "steps"
        )
    if reached >= REACH_MOST:
        return f"partly: {100 * reached:.0f}% reach eps, but the log-linear fit is poor"
    return f"not supported: log-linear fit R² {r2:.3f} < {FIT_R2}, few runs reach eps"


def _convergence_row(df: pd.DataFrame) -> dict | None:
    """Linear convergence of the FAP runs: share reaching eps, log-linear fit, speed."""
    fap = not_diverged(df[df["model"] == "fap"])
    if not len(fap):
        return None
    reached = float(fap["reached_eps"].astype(float).mean())
    r2 = float(fap["rate_fit_r2"].median())
    speed = float(((1 - fap["rate_fitted"]) / (1 - fap["rate_predicted"])).median())
    eps = float(fap["eps"].iloc[0])
    kappa = (
        f"; median κ(Θ_0) = λ_max/λ_min {fap['kappa0'].median():.3g}, lr rule "
        + ", ".join(sorted(set(fap["lr_rule"].dropna())))
        if {"kappa0", "lr_rule"} <= set(fap)
        else ""
    )
    return claim_row(
        "Linear convergence of the FAP net, steps ~ log(1/eps)",
        f"{100 * reached:.0f}% of {len(fap)} FAP runs reach eps = {eps:g}; median R² of "
        f"the log-linear fit {r2:.4f}; median (1 - q_fitted)/(1 - q_NTK) {speed:.2f}" + kappa,
        "dynamics: reached_eps, rate_fit_r2, rate_fitted, rate_predicted (FAP rows)",
        _convergence_verdict(fap, reached, r2),
    )


def _drift_row(df: pd.DataFrame) -> dict | None:
    """FAP's NTK drift and held-out linearized gap below ReLU's, pair by pair."""
    ok = not_diverged(df)
    parts, shares, failing = [], [], []
    gaps = (("ntk_drift_final", "NTK drift"), ("lin_gap_test_final", "held-out linearized gap"))
    for col, name in gaps:
        w = _paired(ok, col)
        if len(w):
            share = float((w["fap"] < w["relu"]).mean())
            ratio = float((w["fap"] / w["relu"]).median())
            shares.append(share)
            if share < LOWER_ALL:
                failing.append(name)
            parts.append(
                f"{name}: FAP lower in {100 * share:.0f}% of {len(w)} pairs, median FAP/ReLU "
                f"{ratio:.2f}"
            )
    if not shares:
        return None
    low = min(shares)
    verdict = (
        "supported: FAP below ReLU in nearly every pair"
        if low >= LOWER_ALL
        else f"partly: FAP below ReLU in most pairs, not all ({', '.join(failing)})"
        if low >= LOWER_MOST
        else f"not supported: FAP is not below ReLU in most pairs ({', '.join(failing)})"
    )
    return claim_row(
        "FAP's NTK drift and linearized gap are smaller than ReLU's",
        "; ".join(parts),
        "dynamics: ntk_drift_final, lin_gap_test_final, paired by (depth, width, seed)",
        verdict,
    )


def dynamics_claims(df: pd.DataFrame) -> list[dict]:
    """The claims of ``dynamics``: equal at theta_0, linear convergence, smaller drift."""
    rows = (_initialization_row(df), _convergence_row(df), _drift_row(df))
    return [r for r in rows if r is not None]


def threshold_claims(df: pd.DataFrame) -> list[dict]:
    """The growth of the width threshold with n (``width_threshold``; its growth in depth
    is ``threshold_depth_claims``)."""
    from analysis.experiments import threshold

    thr = threshold.thresholds(df)
    exps = threshold.exponents(thr)
    fap = exps[exps["model"] == "fap"] if "model" in exps else exps
    fitted = [r for r in fap.itertuples() if np.isfinite(r.exponent)]
    depths = sorted(df["depth"].unique())
    found = thr[(thr["model"] == "fap") & (thr["censored"] == "")]
    measured = (
        "; ".join(f"a = {r.exponent:.2f} over n = {r.n_used}" for r in fitted)
        if fitted
        else "no exponent: fewer than 2 uncensored thresholds"
    )
    measured += f" (FAP, threshold width ~ n^a; {len(found)} uncensored thresholds; depth "
    measured += ", ".join(str(d) for d in depths) + ")"
    if fitted:
        verdict = "supported: the width needed grows polynomially with n (a power law fits)"
    else:
        verdict = "not supported: in this run the thresholds are censored by the width grid"
    return [
        claim_row(
            "Width needed to fit n random labels grows mildly with n",
            measured,
            "width_threshold: smallest width with ≥ target share of seeds reaching eps",
            verdict,
        )
    ]


# A conversion counts as exact when the identity holds on every training point AND the
# twin's relative error is within the certificate's default rtol for its dtype.
TWIN_RTOL = {"float32": 1e-3, "float64": 1e-9}


def _rounding_parts(ok: pd.DataFrame, exact: pd.Series) -> list[str]:
    """How the float32 twins were built (``construction`` counts) and what their rounding
    follows: error / (eps32 need) over the rows whose identity holds and whose constants
    are set by need (not ``"refit"``; need: the smallest constants the data admits), where
    the inexact ones start, and the value neurons' rounding floor (``cert.rounding_floor``)."""
    out = []
    if "construction" in ok and ok["construction"].notna().any():
        counts = ok[ok["dtype"] == "float32"]["construction"].fillna("").value_counts()
        out.append("twins built as " + ", ".join(f"{k or 'graph'} {v}" for k, v in counts.items()))
    f32 = ok[(ok["dtype"] == "float32") & ok["train_exact"].astype(bool)]
    if "construction" in f32:  # refitted gates' constants are not set by need
        f32 = f32[f32["construction"] != "refit"]
    if f32.empty or "need_max" not in f32 or not (f32["need_max"] > 0).any():
        return out
    eps = float(np.finfo(np.float32).eps)
    ratio = f32["train_rel_error"] / (eps * f32["need_max"].where(f32["need_max"] > 0))
    out.append(f"float32 error / (eps32 x need) median {ratio.median():.2g}")
    bad = f32[~exact[f32.index]]
    if len(bad):
        out[-1] += f"; the inexact ones need M >= {bad['need_max'].min():.2g}"
    if "floor_rel_error" in f32 and f32["floor_rel_error"].notna().any():
        out.append(f"value-neuron rounding floor <= {f32['floor_rel_error'].max():.2g}")
    return out


def conversion_claims(df: pd.DataFrame, cnn: bool = False) -> list[dict]:
    """Exactness of the twins (``conversion``; ``cnn``: ``conversion_cnn``, ReLU CNNs of 2C
    channels): exact = identity on every training row and error within ``TWIN_RTOL``."""
    ok = not_diverged(df)
    twice = bool((ok["relu_width"] == 2 * ok["width"]).all())
    rtol = ok["dtype"].map(TWIN_RTOL).fillna(1e-9)
    exact = ok["train_exact"].astype(bool) & (ok["train_rel_error"] <= rtol)
    parts = []
    for dtype, g in ok.groupby("dtype"):
        parts.append(
            f"{dtype}: exact in {int(exact[g.index].sum())}/{len(g)} (identity holds in "
            f"{int(g['train_exact'].astype(bool).sum())}; relative error within "
            f"{TWIN_RTOL.get(dtype, 1e-9):g}), max relative error {g['train_rel_error'].max():.2g}"
        )
    parts += _rounding_parts(ok, exact)
    f64 = ok["dtype"] == "float64"
    f64_exact = bool(f64.any()) and bool(exact[f64].all())
    if twice and exact.all():
        verdict = "supported: every conversion is exact on its training points, width 2m"
    elif twice and f64_exact:
        verdict = "partly: exact in float64; float32 loses digits to the cancellation p - M g"
    else:
        verdict = "not supported: some conversions are not exact on their training points"
    if cnn:
        verdict = verdict.replace("width 2m", "2C channels")
    what, width = (
        ("FAP-CNN is a ReLU CNN of 2C channels", "2C")
        if cnn
        else ("FAP net is a ReLU net of width 2m", "2m")
    )
    return [
        claim_row(
            f"A trained {what} (exact on its data)",
            f"{len(ok)} conversions, twin width = {width} in {'all' if twice else 'not all'}; "
            + "; ".join(parts),
            f"conversion{'_cnn' if cnn else ''}: relu_width, train_exact, train_rel_error",
            verdict,
        )
    ]


def cnn_dynamics_claims(df: pd.DataFrame) -> list[dict]:
    """The claims of ``dynamics`` measured on ``dynamics_cnn`` (FAP-CNN vs ReLU CNN from
    the same theta_0): each claim tagged "(CNN)", its source "dynamics_cnn"."""
    return [
        {
            **r,
            "claim": r["claim"] + " (CNN)",
            "from": r["from"].replace("dynamics:", "dynamics_cnn:", 1),
        }
        for r in dynamics_claims(df)
    ]


def generalization_claims(df: pd.DataFrame) -> list[dict]:
    bound = df[df["predictor"] == "arora"].groupby("p")["bound"].mean()
    comp = df[df["predictor"] == "fap_ntk"].groupby("p")["complexity_normalized"].mean()
    nets = df[df["predictor"] == "fap_net"]
    err = (nets if len(nets) else df[df["predictor"] == "fap_ntk"]).groupby("p")["test_error"]
    err = err.mean()
    common = comp.index.intersection(err.index).intersection(bound.index)
    if len(common) < 2:
        return []
    comp, err, bound = comp[common], err[common], bound[common]
    holds = bool((bound >= err).all())
    vacuous = bool((bound >= 1).any())
    if len(common) >= 3:
        rho = float(comp.corr(err, method="spearman"))
        tracks, how = rho >= RANK_TRACKS, f"Spearman ρ = {rho:.2f}"
    else:  # two noise levels: do both move the same way?
        same = np.sign(comp.iloc[-1] - comp.iloc[0]) == np.sign(err.iloc[-1] - err.iloc[0])
        tracks, how = bool(same), f"{'same' if same else 'opposite'} direction (2 levels only)"
    if tracks and holds and not vacuous and len(common) >= 3:
        verdict = "supported: the complexity tracks the test error and the bound holds below 1"
    elif tracks:
        verdict = "partly: the complexity tracks the test error" + (
            ", but the bound's value is ≥ 1 (vacuous for a 0-1 error at this n)"
            if vacuous
            else ", but the bound fails somewhere"
            if not holds
            else ", on two noise levels only"
        )
    else:
        verdict = f"not supported: the complexity does not track the test error ({how})"
    who = "the trained FAP net" if len(nets) else "FAP-NTK regression"
    return [
        claim_row(
            "Test error follows the NTK complexity sqrt(2 yᵀ H⁻¹ y / n) (Arora et al. bound)",
            f"{how} between the FAP-NTK complexity and the test error of "
            f"{who} over {len(common)} noise levels; Arora bound {bound.min():.3g}.."
            f"{bound.max():.3g} vs test error {err.min():.3g}..{err.max():.3g}",
            "generalization_noise: complexity_normalized (fap_ntk), bound (arora), test_error",
            verdict,
        )
    ]


CLAIMS: dict[str, Callable[[pd.DataFrame], list[dict]]] = {
    "dynamics": dynamics_claims,
    "width_threshold": threshold_claims,
    "width_threshold_depth": threshold_depth_claims,
    "dynamics_depth": steps_depth_claims,
    "conversion": conversion_claims,
    "conversion_cnn": lambda df: conversion_claims(df, cnn=True),
    "dynamics_cnn": cnn_dynamics_claims,
    "generalization_noise": generalization_claims,
    "generalization_scale": scale_claims,
    "generalization_trained": trained_claims,
}
# the report's order of the claims (the seed's), by the first words of each claim
ORDER = (
    "FAP == ReLU", "Linear convergence", "Iterations", "Width needed to", "Width needed grows",
    "A trained FAP", "FAP's NTK", "Trained with fixed", "Test",
)  # fmt: skip


def claims_table(results: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per claim from the experiments in ``results`` (name -> tidy results)."""
    rows = [r for name, df in results.items() if name in CLAIMS for r in CLAIMS[name](df)]

    def rank(row):
        hits = [i for i, p in enumerate(ORDER) if row["claim"].startswith(p)]
        return hits[0] if hits else len(ORDER)

    return pd.DataFrame(sorted(rows, key=rank), columns=list(COLUMNS))
