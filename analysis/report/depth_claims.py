"""The report's depth claims: the width needed (``width_threshold_depth``) and the
iterations to eps (``dynamics_depth``) as depth grows; claim rows as in ``claims``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.report.claim_rows import claim_row, not_diverged

# Width needed vs depth (threshold ~ depth^a): "at most linear" up to a = LINEAR_HI; below
# LINEAR_LO the growth is clearly slower than linear (a line with intercept has a < 1).
LINEAR_LO, LINEAR_HI = 0.5, 1.5


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
            f"(slope ≤ 0): on this grid (steps ×{step:.3g}) depth's effect is not resolved "
            "(a finer grid: width_threshold_depth_full.toml, its result in docs/benchmarks.md)"
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
        claim_row(
            "Width needed grows (at most) linearly in depth",
            measured,
            "width_threshold_depth: threshold width per (model, n, depth), threshold.depth_fits",
            verdict,
        )
    ]


def _fap_step_fits(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """FAP's finite fits of steps to eps (``dynamics.steps_fits``): (against n, against
    depth)."""
    from analysis.experiments import dynamics

    fits = dynamics.steps_fits(df)
    if fits.empty:  # no cell where every seed reached eps
        fits = pd.DataFrame(columns=["model", "axis", "at", "slope_log", "exponent"])
    fap = fits[(fits["model"] == "fap") & np.isfinite(fits["exponent"].astype(float))]
    return fap[fap["axis"] == "n"], fap[fap["axis"] == "depth"]


def _complete_medians(ok: pd.DataFrame) -> pd.Series:
    """Median steps to eps per (depth, n) cell where every run reached eps (> 0 steps)."""
    med = ok.groupby(["depth", "n"])["steps_to_eps_measured"].agg(["median", "count", "size"])
    return med[(med["count"] == med["size"]) & (med["median"] > 0)]["median"]


def _depth_shapes(med: pd.Series, res: float) -> list[tuple]:
    """(n, shape, increments per extra layer) per n with >= 3 depths; shape "flat" (no
    growth beyond ``res``), "convex" (increments grow by more than ``res``) or ""."""
    shapes = []
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
            shapes.append((n_at, shape, inc))
    return shapes


def _steps_measured(by_n, by_depth, shapes, ns: tuple[float, float], bound: float) -> list:
    """The parts of the measured column: the fits in n, in depth, the increments."""
    n_min, n_max = ns
    parts = []
    if len(by_n):
        parts.append(
            "steps ~ n^e with e = "
            + ", ".join(f"{r.exponent:.2f} (depth {r.at})" for r in by_n.itertuples())
            + f" over n = {int(n_min)}..{int(n_max)} (a logarithm: e ≤ 1/ln {int(n_min)}"
            f" = {bound:.2f})"
        )
    if len(by_depth):
        parts.append(
            "steps ~ depth^e with e = "
            + ", ".join(f"{r.exponent:.2f} (n = {r.at})" for r in by_depth.itertuples())
        )
    if shapes:
        parts.append(
            "increments per extra layer "
            + "; ".join(
                f"n = {n_at}: " + ", ".join(f"{v:+.0f}" for v in inc) for n_at, _, inc in shapes
            )
        )
    return parts


def _steps_verdict(tested: dict[str, bool], flat: bool, bound: float, res: float) -> str:
    """The verdict from the axes tested (axis -> a logarithm ruled out)."""
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
        return "not supported: " + "; ".join(ruled + untested)
    if ruled:
        return "partly: " + "; ".join(ruled + held)
    if held and not untested:
        return "supported: " + "; ".join(held)
    return "partly: " + "; ".join(held + untested)


LAWS = ("a ln n + b", "c n^e", "c κ ln(L_0/eps) + b")  # the laws fitted to the steps


def _r2(y: np.ndarray, fit: np.ndarray) -> float:
    tot = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - fit) ** 2)) / tot if tot > 0 else np.nan


def law_fits(ok: pd.DataFrame) -> pd.DataFrame:
    """The median steps to eps per (depth, n) cell (every run reached eps) fitted, per
    depth with >= 3 n, by each of ``LAWS``: steps = a ln n + b, steps = c n^e (a line in
    log-log), steps = c x + b with x = kappa0 ln(L_0 / eps) (the cell's median; the steps
    the linearized net needs under the lr rule n / lambda_max, up to c). Each R² is of the
    steps themselves (comparable across laws); ``pooled`` is the last law over every cell
    of every depth at once (one c, b: a law in kappa needs no per-depth constants).
    Columns: depth ("all" for pooled), law, r2, coef (a, e or c), points."""
    if "kappa_log" not in ok:
        return pd.DataFrame(columns=["depth", "law", "r2", "coef", "points"])
    g = ok.groupby(["depth", "n"])
    med = g[["steps_to_eps_measured", "kappa_log"]].median()
    full = g["steps_to_eps_measured"].agg(lambda s: s.notna().all() and (s > 0).all())
    med = med[full.astype(bool) & np.isfinite(med["kappa_log"])].reset_index()
    rows = []

    def add(depth, law, x, y, logs=False):
        xs, ys = (np.log(x), np.log(y)) if logs else (x, y)
        coef, icpt = np.polyfit(xs, ys, 1)
        fit = np.exp(icpt + coef * xs) if logs else icpt + coef * xs
        rows.append(dict(depth=depth, law=law, r2=_r2(y, fit), coef=float(coef), points=len(y)))

    for depth, c in med.groupby("depth"):
        if len(c) >= 3:
            n, y = c["n"].to_numpy(float), c["steps_to_eps_measured"].to_numpy(float)
            add(depth, LAWS[0], np.log(n), y)
            add(depth, LAWS[1], n, y, logs=True)
            add(depth, LAWS[2], c["kappa_log"].to_numpy(float), y)
    if len(med) >= 3 and rows:
        add("all", LAWS[2] + " pooled", med["kappa_log"].to_numpy(float),
            med["steps_to_eps_measured"].to_numpy(float))  # fmt: skip
    return pd.DataFrame(rows)


def _laws_said(fits: pd.DataFrame) -> tuple[str, str]:
    """(measured part, verdict part) of the law fits: each law's R² per depth, which
    fits best (the highest mean R² over the depths)."""
    per = fits[fits["depth"] != "all"]
    mean = per.groupby("law")["r2"].mean().reindex(list(LAWS))
    best = str(mean.idxmax())
    said = "; ".join(
        f"{law}: R² " + ", ".join(f"{r:.3f}" for r in per[per["law"] == law]["r2"]) for law in LAWS
    )
    pooled = fits[fits["depth"] == "all"]
    if len(pooled):
        p = pooled.iloc[0]
        said += f"; κ law pooled over {int(p.points)} cells: c = {p.coef:.3g}, R² {p.r2:.3f}"
    return (
        f"law fits per depth ({said})",
        f"the steps follow {best} best (mean R² {mean[best]:.3f}; "
        + ", ".join(f"{law} {r:.3f}" for law, r in mean.items() if law != best)
        + ")",
    )


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
    reached eps). Then what the steps follow instead (``law_fits``: ln n, n^e, or the
    condition number's kappa0 ln(L_0 / eps)), and the lr rule they ran under."""
    by_n, by_depth = _fap_step_fits(df)
    ok = not_diverged(df[df["model"] == "fap"])
    med = _complete_medians(ok)
    if by_n.empty and by_depth.empty:
        return [
            claim_row(
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
    res = float(df["record_every"].max()) if "record_every" in df else 0.0  # steps' grid
    shapes = _depth_shapes(med, res)
    tested = {"n": bool((by_n["exponent"] > bound).any())} if len(by_n) else {}
    if shapes:
        tested["depth"] = any(shape == "convex" for _, shape, _ in shapes)
    flat = bool(shapes) and all(shape == "flat" for _, shape, _ in shapes)
    parts = _steps_measured(by_n, by_depth, shapes, (n_min, n_max), bound)
    verdict = _steps_verdict(tested, flat, bound, res)
    laws = law_fits(ok)
    if len(laws):
        said, which = _laws_said(laws)
        parts.append(said)
        verdict += "; " + which
    rule = set(df["lr_rule"].dropna()) if "lr_rule" in df else set()
    if rule:
        parts.append(f"lr rule {', '.join(sorted(rule))}")
    return [
        claim_row(
            "Iterations to reach eps grow logarithmically in n and depth",
            f"FAP, width = {df['width_per_n'].iloc[0]:g} n, eps = {float(df['eps'].iloc[0]):g}: "
            + "; ".join(parts),
            "dynamics_depth: steps_to_eps_measured (median over seeds), dynamics.steps_fits; "
            "kappa0, loss_init (depth_claims.law_fits)",
            verdict,
        )
    ]
