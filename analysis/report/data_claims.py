"""The report's claims on real data: the MNIST-1D sweep of the infinite NTK
(``generalization_scale``) and trained nets against their NTKs on MNIST-1D
(``generalization_trained``); claim rows as in ``claims``, thresholds named here."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.report.claim_rows import claim_row, not_diverged

# generalization_scale: the complexity tracks the test error when their Spearman
# correlation over the (n_train, p) cells is >= SCALE_TRACKS; label noise "shows" at an
# n when it raises both the complexity and the test error there, in >= NOISE_SHOWS of the n.
SCALE_TRACKS = 0.8
NOISE_SHOWS = 0.9
# generalization_trained: the trained FAP net generalizes "at least as well" as NTK
# regression with its kernel at theta_0 in a cell when its test error is at most
# AS_WELL_TOL above the kernel's; supported when that holds in >= AS_WELL_ALL of the
# cells, partly in >= AS_WELL_MOST.
AS_WELL_TOL = 0.01
AS_WELL_ALL, AS_WELL_MOST = 0.9, 0.5


def _spearman(a: pd.Series, b: pd.Series) -> float:
    return float(a.corr(b, method="spearman")) if len(a) >= 3 else float("nan")


def scale_claims(df: pd.DataFrame) -> list[dict]:
    """``generalization_scale``: does the infinite NTK's complexity track its test error as
    n grows on MNIST-1D, and does label noise raise both? Cells = (n_train, p), seeds
    averaged."""
    ntk = df[df["predictor"] == "ntk_infinite"]
    cells = ntk.groupby(["n_train", "p"])[["complexity_normalized", "test_error"]].mean()
    if len(cells) < 3:
        return []
    rho = _spearman(cells["complexity_normalized"], cells["test_error"])
    ps = sorted(cells.index.get_level_values("p").unique())
    ns = sorted(cells.index.get_level_values("n_train").unique())
    shows = []
    for n in ns:
        g = cells.loc[n]
        if len(ps) >= 2 and ps[0] in g.index and ps[-1] in g.index:
            lo, hi = g.loc[ps[0]], g.loc[ps[-1]]
            shows.append(
                bool(
                    hi["complexity_normalized"] > lo["complexity_normalized"]
                    and hi["test_error"] > lo["test_error"]
                )
            )
    share = float(np.mean(shows)) if shows else float("nan")
    clean = cells.xs(ps[0], level="p")["test_error"]
    measured = (
        f"Spearman ρ = {rho:.2f} between complexity and test error over {len(cells)} "
        f"(n, p) cells, n = {int(ns[0])}..{int(ns[-1])}; noise p = {ps[-1]:g} raises both at "
        f"{sum(shows)}/{len(shows)} n; clean test error {clean.iloc[0]:.3f} (n = "
        f"{int(clean.index[0])}) -> {clean.iloc[-1]:.3f} (n = {int(clean.index[-1])})"
    )
    tracks, noise = rho >= SCALE_TRACKS, bool(shows) and share >= NOISE_SHOWS
    if tracks and noise:
        verdict = (
            f"supported: the complexity tracks the test error (ρ ≥ {SCALE_TRACKS}) and label "
            "noise raises both at (nearly) every n"
        )
    elif tracks or noise:
        verdict = "partly: " + (
            f"the complexity tracks the test error, but noise raises both at only "
            f"{sum(shows)}/{len(shows)} n"
            if tracks
            else f"noise raises both, but ρ = {rho:.2f} < {SCALE_TRACKS} across n"
        )
    else:
        verdict = (
            f"not supported: ρ = {rho:.2f} < {SCALE_TRACKS} and noise raises both at only "
            f"{sum(shows)}/{len(shows)} n"
        )
    return [
        claim_row(
            "Test error follows the NTK complexity as n grows (MNIST-1D, infinite NTK)",
            measured,
            "generalization_scale: complexity_normalized, test_error (ntk_infinite), seeds "
            "averaged",
            verdict,
        )
    ]


KEYS = ("arch", "task", "p", "n_train", "depth", "width", "seed")


def gaps(df: pd.DataFrame) -> pd.DataFrame:
    """Per cell of ``generalization_trained`` (``KEYS`` present), the test errors of the
    predictors side by side and the gaps FAP - NTK (empirical at theta_0, infinite) and
    FAP - ReLU; cells whose nets diverged are dropped."""
    ok = not_diverged(df)
    keys = [k for k in KEYS if k in ok]
    wide = ok.pivot_table(index=keys, columns="predictor", values="test_error")
    need = {"fap_net", "ntk_empirical"}
    if not need <= set(wide.columns):
        return wide.iloc[0:0]
    wide = wide.dropna(subset=list(need))
    wide["gap_ntk"] = wide["fap_net"] - wide["ntk_empirical"]
    if "ntk_infinite" in wide:
        wide["gap_infinite"] = wide["fap_net"] - wide["ntk_infinite"]
    if "relu_net" in wide:
        wide["gap_relu"] = wide["fap_net"] - wide["relu_net"]
    return wide


def trained_claims(df: pd.DataFrame) -> list[dict]:
    """``generalization_trained``: the seed's "trained with fixed patterns, networks
    generalize at least as well as their NTK", cell by cell (test error of the trained FAP
    net minus that of NTK regression with the empirical NTK at the same theta_0)."""
    w = gaps(df)
    if not len(w):
        return []
    share = float((w["gap_ntk"] <= AS_WELL_TOL).mean())
    parts = [
        f"test error FAP net - NTK(θ_0) regression ≤ {AS_WELL_TOL:g} in {100 * share:.0f}% of "
        f"{len(w)} cells (median {w['gap_ntk'].median():+.3f}, max {w['gap_ntk'].max():+.3f})"
    ]
    if "gap_infinite" in w:
        parts.append(f"FAP - NTK ∞ median {w['gap_infinite'].median():+.3f}")
    if "gap_relu" in w:
        parts.append(f"FAP - ReLU net median {w['gap_relu'].median():+.3f}")
    ns = w.index.get_level_values("n_train")
    parts.append(f"n = {int(ns.min())}..{int(ns.max())}")
    if share >= AS_WELL_ALL:
        verdict = (
            f"supported: the trained FAP net's test error is within {AS_WELL_TOL:g} of (or "
            "below) its NTK's in (nearly) every cell"
        )
    elif share >= AS_WELL_MOST:
        verdict = f"partly: within {AS_WELL_TOL:g} of its NTK's in {100 * share:.0f}% of cells"
    else:
        verdict = (
            f"not supported: the trained FAP net is worse than its NTK by more than "
            f"{AS_WELL_TOL:g} in {100 * (1 - share):.0f}% of cells"
        )
    return [
        claim_row(
            "Trained with fixed patterns, networks generalize at least as well as their NTK "
            "(MNIST-1D)",
            "; ".join(parts),
            "generalization_trained: test_error of fap_net, ntk_empirical, ntk_infinite, "
            "relu_net per cell",
            verdict,
        )
    ]
