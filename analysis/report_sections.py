"""Report sections: tables and figures for each experiment's tidy results."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pandas as pd

import ntkfix
from analysis import plots
from analysis.fits import loglog_fit
from analysis.report import Section, section
from analysis.tables import pm_pivot, pm_table, summarize, write_table


@section("kernel_distance")
def kernel_distance_section(df: pd.DataFrame, out: Path) -> Section:
    values = [c for c in df.columns if c.startswith("dist_")]
    by = ["depth", "width"]
    summ = summarize(df, by, values)
    table = pm_table(summ, by, values)
    write_table(table, out / "tables" / "kernel_distance")
    slopes = []
    for depth, g in summ.groupby("depth"):
        slope, _ = loglog_fit(g["width"], g["dist_fro_mean"])
        slopes.append(
            {
                "depth": depth,
                "slope_fro": slope,
                "widths": f"{g['width'].min()}..{g['width'].max()}",
            }
        )
    slopes = pd.DataFrame(slopes)
    write_table(slopes, out / "tables" / "kernel_distance_slope")
    figs = out / "figures"
    plots.distance_vs_width(df, "dist_fro", path=figs / "kernel_distance_vs_width")
    paths = [figs / "kernel_distance_vs_width.png"]
    # a snapshot of the kernels themselves: small n, narrowest and widest width
    cell = df.iloc[0]
    n_show = min(int(cell["n"]), 64)
    x = ntkfix.data.sphere(
        jax.random.PRNGKey(int(cell["data_seed"])), int(cell["n"]), int(cell["d"])
    )[:n_show]
    kernels, eigs = {}, {}
    depth = int(cell["depth"])
    for width in (int(df["width"].min()), int(df["width"].max())):
        spec = ntkfix.MLP(int(cell["d"]), width, depth)
        k = ntkfix.empirical_ntk(spec, spec.init(jax.random.PRNGKey(0)), x)
        kernels[f"empirical, m={width}"], eigs[f"empirical, m={width}"] = (
            k,
            ntkfix.spectrum(k).eigenvalues,
        )
    k_inf = ntkfix.infinite_ntk(ntkfix.MLP(int(cell["d"]), 1, depth), x)
    kernels["infinite"], eigs["infinite"] = k_inf, ntkfix.spectrum(k_inf).eigenvalues
    plots.kernel_heatmaps(
        kernels, path=figs / "kernel_heatmaps", title=f"NTK on {n_show} points, depth {depth}"
    )
    plots.spectra(eigs, path=figs / "kernel_spectra", title=f"NTK spectra, depth {depth}")
    paths += [figs / "kernel_heatmaps.png", figs / "kernel_spectra.png"]
    s = ", ".join(f"depth {r.depth}: {r.slope_fro:.3f}" for r in slopes.itertuples())
    text = (
        "Relative Frobenius distance ||Theta_m - Theta_inf||_F / ||Theta_inf||_F between the empirical NTK "
        "at initialization (ReLU = FAP there) and the infinite-width NTK, mean ± std over seeds. "
        f"Fitted log-log slope vs width: {s} (theory: -1/2)."
    )
    return Section(
        "Finite vs infinite NTK", text, {"distance by width": table, "fitted slope": slopes}, paths
    )


# ---- generalization (analysis.experiments.generalization) ----------------------------
_GEN_KERNELS = (
    "Kernels (complexity sqrt(2 y^T K^-1 y / n), shown in H∞ units: K divided by c = 2 x the "
    "infinite NTK's diagonal mean, so every kernel has diagonal ~1/2 like Arora et al.'s H∞): "
    "Arora H∞ = x.x'(π - θ)/(2π); NTK ∞ = the infinite-width NTK of the MLP's trained layers; "
    "FAP NTK m = the finite-width empirical NTK of the FAP net at initialization (= the ReLU "
    "net's there), the kernel the FAP net trains with. Test errors: 0-1 error of sign(f) on clean "
    "test labels; kernels predict by kernel regression (ridge 0, f_0 = 0); the FAP and ReLU nets "
    "are trained by full-batch GD from the same initialization."
)


def _finite_over_infinite(df: pd.DataFrame, index: list[str]) -> pd.DataFrame:
    """Complexity of each FAP NTK over the infinite NTK's in the same cell.

    Returns the columns ``index``, width, ratio (one row per FAP NTK row of ``df``)."""
    inf = df[df["predictor"] == "ntk_infinite"].set_index("cell_id")["complexity"]
    fin = df[df["predictor"] == "fap_ntk"]
    ratio = fin["complexity"].values / inf.loc[fin["cell_id"]].values
    return fin[index].assign(width=fin["width"].astype(int).values, ratio=ratio)


def _generalization_tables(df: pd.DataFrame, by: str, out: Path, stem: str) -> dict:
    """Summary tables (mean ± std over seeds) against ``by`` ("p" or "n_train"), title -> table;
    each is also written to out/tables/<stem>_<name>.{md,tex,csv}."""
    order = plots.predictor_order(df)
    index = [by] if by == "p" else ["p", by]
    kernels, nets = df[df["kind"] == "kernel"], df[df["kind"] == "net"]
    named = {
        "complexity": (
            "complexity [H∞ units]",
            pm_pivot(kernels, index, "label", "complexity_normalized", order),
        ),
        "test_error": ("test error", pm_pivot(df, index, "label", "test_error", order)),
        "finite_over_infinite": (
            "complexity of FAP NTK m / NTK ∞",
            pm_pivot(_finite_over_infinite(df, index), index, "width", "ratio"),
        ),
    }
    if len(nets):
        values = ["train_loss", "train_error", "test_error", "limit_test_error", "limit_agreement"]
        named["nets"] = (
            "trained nets (limit: GD at t=∞ with the FAP NTK, f_0 included)",
            pm_table(summarize(nets, ["label"] + index, values), ["label"] + index, values),
        )
    for name, (_, table) in named.items():
        write_table(table, out / "tables" / f"{stem}_{name}")
    return dict(named.values())


@section("generalization_noise")
def generalization_noise_section(df: pd.DataFrame, out: Path) -> Section:
    tables = _generalization_tables(df, "p", out, "generalization_noise")
    fig = out / "figures" / "generalization_noise"
    plots.complexity_vs_noise(df, path=fig)
    h = df[df["predictor"] == "arora"].groupby("p")["complexity"].mean()
    text = (
        f"Label-noise sweep on {', '.join(map(str, df['dataset'].unique()))} "
        f"(n_train = {', '.join(map(str, df['n_train'].unique()))}; p = share of training labels "
        "flipped, p = 0.5 makes them independent of the inputs). The Arora H∞ complexity goes "
        f"from {h.iloc[0]:.3g} at p = {h.index[0]:g} to {h.iloc[-1]:.3g} at p = {h.index[-1]:g} "
        f"(mean over seeds).\n\n" + _GEN_KERNELS
    )
    return Section("Generalization vs label noise", text, tables, [fig.with_suffix(".png")])


@section("generalization_size")
def generalization_size_section(df: pd.DataFrame, out: Path) -> Section:
    tables = _generalization_tables(df, "n_train", out, "generalization_size")
    fig = out / "figures" / "generalization_size"
    plots.generalization_vs_size(df, path=fig)
    ps = ", ".join(f"{p:g}" for p in sorted(df["p"].unique()))
    text = (
        f"Sample-size sweep on {', '.join(map(str, df['dataset'].unique()))} at label noise "
        f"p = {ps}, one shared test set per seed (real datasets).\n\n" + _GEN_KERNELS
    )
    return Section("Generalization vs sample size", text, tables, [fig.with_suffix(".png")])


# ---- training dynamics, width threshold, conversion -----------------------------------
def _fmt_range(values) -> str:
    v = sorted(set(values))
    return f"{v[0]}..{v[-1]}" if len(v) > 1 else str(v[0])


@section("dynamics")
def dynamics_section(df: pd.DataFrame, out: Path) -> Section:
    from analysis.experiments import dynamics

    ok = df[~df["diverged"].astype(bool)].assign(reached=lambda d: d["reached_eps"].astype(float))
    by = ["depth", "width", "model"]
    conv = [
        "loss_final", "reached", "rate_fitted", "rate_kernel_gd", "rate_predicted",
        "steps_to_eps_measured", "steps_to_eps_kernel_gd", "steps_to_eps_predicted",
    ]  # fmt: skip
    drift = [
        "ntk_drift_final", "ntk_drift_max", "lin_gap_train_final", "lin_gap_test_final",
        "lambda_min_start", "lambda_min_end", "param_change",
    ]  # fmt: skip
    t_conv = pm_table(summarize(ok, by, conv), by, conv)
    t_drift = pm_table(summarize(ok, by, drift), by, drift)
    slopes = dynamics.width_slopes(df)
    paired = dynamics.fap_vs_relu(df)
    tables = {
        "convergence (mean ± std over seeds; steps: first recorded step with loss <= eps, "
        "mean over the seeds that reach it)": t_conv,
        "NTK drift, linearized gap, lambda_min (mean ± std over seeds)": t_drift,
        "log-log slope vs width (of the seed means)": slopes,
        "FAP vs ReLU from the same theta_0 (median ratio FAP/ReLU; "
        "share of pairs with FAP lower)": paired,
    }
    for name, t in zip(
        ("dynamics_convergence", "dynamics_drift", "dynamics_slopes", "dynamics_fap_vs_relu"),
        tables.values(),
        strict=True,
    ):
        write_table(t, out / "tables" / name)
    figs = out / "figures"
    plots.loss_curves(df, path=figs / "dynamics_loss_curves")
    panels = {
        "ntk_drift_final": "NTK drift ||Θ_T - Θ_0|| / ||Θ_0||",
        "lin_gap_train_final": "linearized gap, train (RMS)",
        "lin_gap_test_final": "linearized gap, held-out (RMS)",
    }
    plots.by_width(ok, panels, path=figs / "dynamics_vs_width")
    plots.rate_comparison(ok, path=figs / "dynamics_rates")
    paths = [
        figs / f"{s}.png" for s in ("dynamics_loss_curves", "dynamics_vs_width", "dynamics_rates")
    ]
    rate_ratio = (
        ok.assign(r=(1 - ok["rate_fitted"]) / (1 - ok["rate_kernel_gd"]))
        .groupby("model")["r"]
        .median()
    )
    pairs = paired["ntk_drift_final_pairs"]
    lower = paired["ntk_drift_final_fap_lower"].fillna(0)
    drift_lower = float((lower * pairs).sum() / pairs.sum()) if pairs.sum() else float("nan")
    cell = df.iloc[0]
    n_div = int(df["diverged"].astype(bool).sum())
    text = (
        f"Full-batch GD on n = {cell['n']} points uniform on S^{cell['d'] - 1} with random ±1 "
        f"labels (loss ||f - y||²/2n, {cell['steps']} steps, lr = n / λ_max(Θ_0) per seed, "
        f"trained layers: {cell['trainable']}), widths {_fmt_range(df['width'])}, depths "
        f"{_fmt_range(df['depth'])}, {df['seed'].nunique()} seeds; the ReLU and the FAP net of a "
        f"seed start from the same θ_0 (so the same Θ_0). {n_div} of {len(df)} runs diverged."
        f"\n\nNTK drift: FAP lower than ReLU in {100 * drift_lower:.0f}% of the (depth, width, "
        "seed) pairs. Rates: q is fitted on the second half of the measured loss curve above its "
        "floor; kernel GD (the network linearized at θ_0) is fitted on the same window, and the "
        "NTK bound is the slowest mode's factor (1 - lr λ_min/n)². Median of "
        "(1 - q_measured)/(1 - q_kernel GD): "
        + ", ".join(f"{m} {v:.2f}" for m, v in rate_ratio.items())
        + " (1 = converges as its NTK at initialization predicts). The train linearized gap at the "
        "end mostly measures kernel GD's own unfinished residual; held-out points only serve the "
        "linearized gap (random labels have no test signal)."
    )
    return Section("Training dynamics: ReLU vs FAP", text, tables, paths)


@section("width_threshold")
def width_threshold_section(df: pd.DataFrame, out: Path) -> Section:
    from analysis.experiments import threshold

    thr = threshold.thresholds(df)
    exps = threshold.exponents(thr)
    frac = df.pivot_table(
        index=["model", "n"], columns="width", values="frac_reached"
    ).reset_index()
    frac.columns = [c if isinstance(c, str) else f"m={c}" for c in frac.columns]
    tables = {
        "fraction of seeds reaching eps, by width": frac,
        "threshold width": thr,
        "fitted exponent: threshold ~ n^a": exps,
    }
    for name, t in zip(
        ("width_threshold_fractions", "width_threshold", "width_threshold_exponent"),
        tables.values(),
        strict=True,
    ):
        write_table(t, out / "tables" / name)
    fig = out / "figures" / "width_threshold"
    plots.width_threshold(df, thr, exps, path=fig)
    cell = df.iloc[0]
    summary = "; ".join(
        f"{r.model}: a = {r.exponent:.2f} over n = {r.n_used}"
        if np.isfinite(r.exponent)
        else f"{r.model}: too few uncensored thresholds"
        for r in exps.itertuples()
    )
    text = (
        f"For each n the smallest width (grid {_fmt_range(df['width'])}) at which at least "
        f"{100 * cell['target_fraction']:.0f}% of {cell['n_seeds']} seeds reach training loss "
        f"{cell['eps']:g} within T = {cell['steps']} GD steps (lr = n / λ_max(Θ_0); depth "
        f"{cell['depth']}, d = {cell['d']}, random ±1 labels). Censored: 'below' = the smallest "
        "grid width already passes (an upper bound), 'above' = no width passes. Fitted exponents "
        f"(uncensored thresholds only): {summary}."
    )
    return Section(
        "Width threshold for fitting random labels", text, tables, [fig.with_suffix(".png")]
    )


@section("conversion")
def conversion_section(df: pd.DataFrame, out: Path) -> Section:
    ok = df[~df["diverged"].astype(bool)].assign(
        train_exact_share=lambda d: d["train_exact"].astype(float)
    )
    by = ["dtype", "depth", "b_std", "width"]
    values = [
        "relu_width", "M_max", "train_exact_share", "train_rel_error", "test_frac_equivalent",
        "test_rel_error_ok", "test_rel_error", "loss_final",
    ]  # fmt: skip
    table = pm_table(summarize(ok, by, values), by, values)
    write_table(table, out / "tables" / "conversion")
    fig = out / "figures" / "conversion"
    plots.conversion_errors(ok, path=fig)
    cell = df.iloc[0]
    per_dtype = "; ".join(
        f"{dtype}: largest relative error {g['train_rel_error'].max():.2g} on training points, "
        f"{g['test_rel_error_ok'].max():.2g} on fresh points where the identity holds"
        for dtype, g in ok.groupby("dtype")
    )
    n_exact = int(ok["train_exact"].astype(bool).sum())
    frac = 100 * ok["test_frac_equivalent"]
    text = (
        f"FAP nets trained {cell['steps']} GD steps on n = {cell['n']} random ±1 labels on "
        f"S^{cell['d'] - 1}, converted into ReLU nets of width 2m with M_l = "
        f"max({cell['floor']:g}, (1 + {cell['margin']:g}) × the data's minimal constant), checked "
        f"on the {cell['n']} training points and on {cell['n_test']} fresh points, in each "
        f"precision (trained parameters cast). The identity holds unit by unit on every training "
        f"point in {n_exact} of {len(ok)} conversions; what remains is rounding of p - M g, which "
        f"grows with M (max_l M_l up to {ok['M_max'].max():.3g}): {per_dtype}. On fresh points the "
        f"identity holds on {frac.mean():.1f}% of points on average (min {frac.min():.1f}%); on "
        f"the others the twin differs from the FAP net (up to {ok['test_rel_error'].max():.2g} "
        "relative)."
    )
    return Section(
        "FAP -> ReLU conversion",
        text,
        {"conversion (mean ± std over seeds)": table},
        [fig.with_suffix(".png")],
    )
