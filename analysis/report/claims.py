"""The report's first section: the seed's claims, each with the number this run measured,
where it comes from and a verdict in words, all computed from the experiments' results.

``CLAIMS`` maps an experiment to the function turning its tidy results into claim rows;
``claims_table`` stacks the rows of the experiments that ran. Thresholds of the verdicts
are named constants here, next to the rule they serve.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

COLUMNS = ("claim", "measured", "from", "verdict")
EQUAL_RTOL = 1e-5  # FAP == ReLU at theta_0: float32 rounding of identical computations
REACH_ALL, REACH_MOST = 0.9, 0.5  # share of runs reaching eps for "supported" / "partly"
FIT_R2 = 0.99  # the loss curve is geometric (log-linear) on its fitted window
LOWER_ALL, LOWER_MOST = 0.8, 0.5  # share of pairs with FAP below ReLU
RANK_TRACKS = 0.8  # Spearman correlation of complexity and test error across noise levels
# Width needed vs depth (threshold ~ depth^a): "at most linear" up to a = LINEAR_HI; below
# LINEAR_LO the growth is clearly slower than linear (a line with intercept has a < 1).
LINEAR_LO, LINEAR_HI = 0.5, 1.5


def _row(claim: str, measured: str, source: str, verdict: str) -> dict:
    return dict(zip(COLUMNS, (claim, measured, source, verdict), strict=True))


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    return df[~df["diverged"].astype(bool)] if "diverged" in df else df


def _paired(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """(depth, width, seed) x model table of ``column`` for the pairs with both models."""
    wide = df.pivot_table(index=["depth", "width", "seed"], columns="model", values=column)
    return wide.dropna() if {"fap", "relu"} <= set(wide.columns) else wide.iloc[0:0]


def dynamics_claims(df: pd.DataFrame) -> list[dict]:
    rows = []
    rel = []
    for col in ("loss_init", "lambda_max0"):
        w = _paired(df, col)
        if len(w):
            rel.append((w["fap"] - w["relu"]).abs() / w["relu"].abs().clip(lower=1e-300))
    if rel:
        worst = float(pd.concat(rel).max())
        pairs = len(_paired(df, "loss_init"))
        same = worst <= EQUAL_RTOL
        rows.append(
            _row(
                "FAP == ReLU at initialization (same function, same NTK)",
                f"max relative difference of L_0 and λ_max(Θ_0) over {pairs} FAP/ReLU pairs: "
                f"{worst:.2g}",
                "dynamics: loss_init, lambda_max0 of the pairs from the same θ_0",
                f"supported: equal to float32 rounding (≤ {EQUAL_RTOL:g})"
                if same
                else f"not supported: they differ by {worst:.2g} > {EQUAL_RTOL:g}",
            )
        )
    fap = _ok(df[df["model"] == "fap"])
    if len(fap):
        reached = float(fap["reached_eps"].astype(float).mean())
        r2 = float(fap["rate_fit_r2"].median())
        speed = float(((1 - fap["rate_fitted"]) / (1 - fap["rate_predicted"])).median())
        eps = float(fap["eps"].iloc[0])
        geometric = r2 >= FIT_R2
        if geometric and reached >= REACH_ALL:
            verdict = "supported: the loss decays geometrically and the runs reach eps"
        elif geometric:
            verdict = (
                f"partly: the loss decays geometrically (log-linear), but only "
                f"{100 * reached:.0f}% of runs reach eps within their {int(fap['steps'].max())} "
                "steps"
            )
        elif reached >= REACH_MOST:
            verdict = f"partly: {100 * reached:.0f}% reach eps, but the log-linear fit is poor"
        else:
            verdict = f"not supported: log-linear fit R² {r2:.3f} < {FIT_R2}, few runs reach eps"
        rows.append(
            _row(
                "Linear convergence of the FAP net, steps ~ log(1/eps)",
                f"{100 * reached:.0f}% of {len(fap)} FAP runs reach eps = {eps:g}; median R² of "
                f"the log-linear fit {r2:.4f}; median (1 - q_fitted)/(1 - q_NTK) {speed:.2f}",
                "dynamics: reached_eps, rate_fit_r2, rate_fitted, rate_predicted (FAP rows)",
                verdict,
            )
        )
    ok = _ok(df)
    parts, shares = [], []
    gaps = (("ntk_drift_final", "NTK drift"), ("lin_gap_test_final", "held-out linearized gap"))
    failing = []
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
    if shares:
        low = min(shares)
        verdict = (
            "supported: FAP below ReLU in nearly every pair"
            if low >= LOWER_ALL
            else f"partly: FAP below ReLU in most pairs, not all ({', '.join(failing)})"
            if low >= LOWER_MOST
            else f"not supported: FAP is not below ReLU in most pairs ({', '.join(failing)})"
        )
        rows.append(
            _row(
                "FAP's NTK drift and linearized gap are smaller than ReLU's",
                "; ".join(parts),
                "dynamics: ntk_drift_final, lin_gap_test_final, paired by (depth, width, seed)",
                verdict,
            )
        )
    return rows


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
        _row(
            "Width needed to fit n random labels grows mildly with n",
            measured,
            "width_threshold: smallest width with ≥ target share of seeds reaching eps",
            verdict,
        )
    ]


def _grid_step(widths) -> float:
    """The largest ratio of consecutive grid widths (how coarsely a threshold is known)."""
    w = np.sort(np.unique(np.asarray(widths, float)))
    return float(np.max(w[1:] / w[:-1])) if len(w) > 1 else np.nan


def _span(values) -> str:
    lo, hi = f"{min(values):.2f}", f"{max(values):.2f}"
    return lo if lo == hi else f"{lo}..{hi}"


def threshold_depth_claims(df: pd.DataFrame) -> list[dict]:
    """The seed's "width needed linear in depth", from ``width_threshold_depth``: per n,
    the FAP threshold fitted against depth (``threshold.depth_fits``: slope = width per
    layer, exponent a of threshold ~ depth^a). Verdict: supported when it grows (slope > 0)
    no faster than linearly (a <= LINEAR_HI) at every n with a fit; not supported when some
    a > LINEAR_HI, or when no n has 2 uncensored depths; partly when it does not grow.
    (Below LINEAR_LO it grows clearly slower than linear: the claim holds as a bound.)"""
    from analysis.experiments import threshold

    fits = threshold.depth_fits(threshold.thresholds(df))
    step = _grid_step(df["width"])

    def said(r):  # (+ 0.0: no "-0.0" for a flat fit)
        return (
            f"{r.model}, n={r.n}: {round(r.slope, 6) + 0.0:+.1f} width per layer, a = "
            f"{round(r.exponent, 6) + 0.0:.2f} (depths {r.depths})"
        )

    fap = [r for r in fits.itertuples() if r.model == "fap" and np.isfinite(r.slope)]
    relu = [r for r in fits.itertuples() if r.model == "relu" and np.isfinite(r.slope)]
    measured = "; ".join(said(r) for r in fap + relu) or "no fit: fewer than 2 uncensored depths"
    measured += (
        f" (threshold ~ depth^a; depths {', '.join(str(d) for d in sorted(df['depth'].unique()))},"
        f" width grid steps ×{step:.3g}: each threshold known within that factor)"
    )
    a = [r.exponent for r in fap]
    if not fap:
        verdict = (
            "not supported: the thresholds are censored by the width grid (fewer than 2 "
            "uncensored depths at every n)"
        )
    elif max(a) > LINEAR_HI:
        verdict = (
            f"not supported: the width needed grows faster than linearly in depth "
            f"(a = {max(a):.2f} > {LINEAR_HI})"
        )
    elif min(round(r.slope, 6) for r in fap) <= 0:  # (rounding of a flat fit)
        verdict = (
            "partly: at most linear, but the threshold does not grow with depth at some n "
            f"(slope ≤ 0): on this grid (steps ×{step:.3g}) depth's effect is not resolved"
        )
    elif max(a) < LINEAR_LO:
        verdict = (
            f"supported (as a bound): the width needed grows with depth, slower than "
            f"linearly (a ≤ {max(a):.2f} < {LINEAR_LO})"
        )
    else:
        verdict = (
            f"supported: the width needed grows with depth about linearly or slower "
            f"(a = {_span(a)} ≤ {LINEAR_HI})"
        )
    return [
        _row(
            "Width needed grows (at most) linearly in depth",
            measured,
            "width_threshold_depth: threshold width per (model, n, depth), threshold.depth_fits",
            verdict,
        )
    ]


def steps_depth_claims(df: pd.DataFrame) -> list[dict]:
    """The seed's "iterations logarithmic in n and depth", from ``dynamics_depth`` (FAP,
    width = width_per_n n): steps to eps fitted as steps ~ n^e per depth
    (``dynamics.steps_fits``). A logarithm a ln n + b (a, b >= 0) has local log-log slope
    a / (a ln n + b) <= 1 / ln n, so over n >= n_min an exponent e > 1 / ln(n_min) is
    faster than any logarithm. Against depth (from depth 1, where ln L = 0, a power fit
    cannot tell a logarithm): a logarithm's increments shrink (concave), so steps that grow
    with growing increments (convex) rule it out; steps that do not grow over the depths
    are consistent with it as a bound. Differences within ``record_every`` (the recorded
    steps' grid) count as none. Verdict: supported if neither test rules out a logarithm,
    partly if one does (or an axis is untested), not supported if both do (or no cell
    reached eps)."""
    from analysis.experiments import dynamics

    fits = dynamics.steps_fits(df)
    if fits.empty:  # no cell where every seed reached eps
        fits = pd.DataFrame(columns=["model", "axis", "at", "slope_log", "exponent"])
    fap = fits[(fits["model"] == "fap") & np.isfinite(fits["exponent"].astype(float))]
    by_n, by_depth = fap[fap["axis"] == "n"], fap[fap["axis"] == "depth"]
    ok = _ok(df[df["model"] == "fap"])
    med = ok.groupby(["depth", "n"])["steps_to_eps_measured"].agg(["median", "count", "size"])
    med = med[(med["count"] == med["size"]) & (med["median"] > 0)]["median"]
    if by_n.empty and by_depth.empty:
        return [
            _row(
                "Iterations to reach eps grow logarithmically in n and depth",
                f"no fit: fewer than 2 (n, depth) cells where every FAP seed reached eps "
                f"({len(ok)} FAP runs)",
                "dynamics_depth: steps_to_eps_measured, dynamics.steps_fits",
                "not supported: too few runs reach eps to measure the growth",
            )
        ]
    used = med.index.get_level_values("n")  # the n of the fits: every seed reached eps
    n_min, n_max = float(used.min()), float(used.max())
    bound = 1.0 / np.log(n_min) if n_min > 1 else np.inf
    parts, faster_n, convex = [], False, []
    if len(by_n):
        e = by_n["exponent"]
        faster_n = bool((e > bound).any())
        parts.append(
            "steps ~ n^e with e = "
            + ", ".join(f"{r.exponent:.2f} (depth {r.at})" for r in by_n.itertuples())
            + f" over n = {int(n_min)}..{int(n_max)} (a logarithm: e ≤ 1/ln {int(n_min)}"
            f" = {bound:.2f})"
        )
    res = float(df["record_every"].max()) if "record_every" in df else 0.0  # steps' grid
    for n_at, g in med.groupby(level="n"):
        steps = g.droplevel("n").sort_index().to_numpy()
        if len(steps) >= 3:
            inc = np.diff(steps)
            shape = (
                "flat"
                if steps[-1] - steps[0] <= res
                else "convex"
                if inc[-1] - inc[0] > res
                else ""
            )
            convex.append((n_at, shape, inc))
    if len(by_depth):
        parts.append(
            "steps ~ depth^e with e = "
            + ", ".join(f"{r.exponent:.2f} (n = {r.at})" for r in by_depth.itertuples())
        )
    if convex:
        parts.append(
            "increments per extra layer "
            + "; ".join(
                f"n = {n_at}: " + ", ".join(f"{v:+.0f}" for v in inc) for n_at, _, inc in convex
            )
        )
    tested = {"n": faster_n} if len(by_n) else {}
    if convex:
        tested["depth"] = any(shape == "convex" for _, shape, _ in convex)
    flat = bool(convex) and all(shape == "flat" for _, shape, _ in convex)
    why = {
        "n": f"in n the growth is a power law faster than any logarithm (e > {bound:.2f})",
        "depth": "in depth the steps grow with growing increments (convex: not a logarithm)",
    }
    fine = {
        "n": f"in n the growth is within a logarithm's slope (e ≤ {bound:.2f})",
        "depth": f"in depth the steps do not grow (by more than the {res:g}-step recording)"
        if flat
        else "in depth the increments do not grow (not convex, as a logarithm's)",
    }
    untested = [
        f"{axis} not tested ({'fewer than 2 n' if axis == 'n' else 'fewer than 3 depths'} "
        "where every seed reached eps)"
        for axis in ("n", "depth")
        if axis not in tested
    ]
    ruled = [why[k] for k, v in tested.items() if v]
    held = [fine[k] for k, v in tested.items() if not v]
    if ruled and not held:
        verdict = "not supported: " + "; ".join(ruled + untested)
    elif ruled:
        verdict = "partly: " + "; ".join(ruled + held)
    elif held and not untested:
        verdict = "supported: " + "; ".join(held)
    else:
        verdict = "partly: " + "; ".join(held + untested)
    return [
        _row(
            "Iterations to reach eps grow logarithmically in n and depth",
            f"FAP, width = {df['width_per_n'].iloc[0]:g} n, eps = {float(df['eps'].iloc[0]):g}: "
            + "; ".join(parts),
            "dynamics_depth: steps_to_eps_measured (median over seeds), dynamics.steps_fits",
            verdict,
        )
    ]


# A conversion counts as exact when the identity holds on every training point AND the
# twin's relative error is within the certificate's default rtol for its dtype.
TWIN_RTOL = {"float32": 1e-3, "float64": 1e-9}


def conversion_claims(df: pd.DataFrame) -> list[dict]:
    ok = _ok(df)
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
    f64 = ok["dtype"] == "float64"
    f64_exact = bool(f64.any()) and bool(exact[f64].all())
    if twice and exact.all():
        verdict = "supported: every conversion is exact on its training points, width 2m"
    elif twice and f64_exact:
        verdict = "partly: exact in float64; float32 loses digits to the cancellation p - M g"
    else:
        verdict = "not supported: some conversions are not exact on their training points"
    return [
        _row(
            "A trained FAP net is a ReLU net of width 2m (exact on its data)",
            f"{len(ok)} conversions, twin width = 2m in {'all' if twice else 'not all'}; "
            + "; ".join(parts),
            "conversion: relu_width, train_exact, train_rel_error",
            verdict,
        )
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
        _row(
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
    "generalization_noise": generalization_claims,
}
# the report's order of the claims (the seed's), by the first words of each claim
ORDER = (
    "FAP == ReLU", "Linear convergence", "Iterations", "Width needed to", "Width needed grows",
    "A trained FAP", "FAP's NTK", "Test",
)  # fmt: skip


def claims_table(results: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per claim from the experiments in ``results`` (name -> tidy results)."""
    rows = [r for name, df in results.items() if name in CLAIMS for r in CLAIMS[name](df)]

    def rank(row):
        hits = [i for i, p in enumerate(ORDER) if row["claim"].startswith(p)]
        return hits[0] if hits else len(ORDER)

    return pd.DataFrame(sorted(rows, key=rank), columns=list(COLUMNS))
