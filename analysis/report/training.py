"""Report sections of the training experiments: ``dynamics``, ``width_threshold``,
``conversion``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis import plots
from analysis.report.section import Section
from analysis.tables import pm_table, summarize, write_table


def _fmt_range(values) -> str:
    v = sorted(set(values))
    return f"{v[0]}..{v[-1]}" if len(v) > 1 else str(v[0])


def dynamics_parts(df: pd.DataFrame, out: Path, name: str = "dynamics", titles=None):
    """The tables and figures of a dynamics table (``dynamics``, ``dynamics_cnn``), written
    as ``out/tables/<name>_*`` and ``out/figures/<name>_*``. ``titles``: the figures'
    titles (loss curves, vs width, rates) or None for the plots' own.

    Returns (tables, figure paths, stats): stats holds ``drift_lower`` (share of the
    (depth, width, seed) pairs with the FAP NTK drift below ReLU's), ``paired`` (the
    ``fap_vs_relu`` table), ``rate_ratio`` (per model the median (1 - q) / (1 - q_kernel GD)).
    """
    from analysis.experiments import dynamics

    titles = titles or (None, None, None)
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
    for suffix, t in zip(
        ("convergence", "drift", "slopes", "fap_vs_relu"), tables.values(), strict=True
    ):
        write_table(t, out / "tables" / f"{name}_{suffix}")
    figs = out / "figures"
    plots.loss_curves(df, path=figs / f"{name}_loss_curves", title=titles[0])
    panels = {
        "ntk_drift_final": "NTK drift ||Θ_T - Θ_0|| / ||Θ_0||",
        "lin_gap_train_final": "linearized gap, train (RMS)",
        "lin_gap_test_final": "linearized gap, held-out (RMS)",
    }
    plots.by_width(ok, panels, path=figs / f"{name}_vs_width", title=titles[1])
    plots.rate_comparison(ok, path=figs / f"{name}_rates", title=titles[2])
    paths = [figs / f"{name}_{s}.png" for s in ("loss_curves", "vs_width", "rates")]
    rate_ratio = (
        ok.assign(r=(1 - ok["rate_fitted"]) / (1 - ok["rate_kernel_gd"]))
        .groupby("model")["r"]
        .median()
    )
    pairs = paired["ntk_drift_final_pairs"]
    lower = paired["ntk_drift_final_fap_lower"].fillna(0)
    drift_lower = float((lower * pairs).sum() / pairs.sum()) if pairs.sum() else float("nan")
    stats = {"drift_lower": drift_lower, "paired": paired, "rate_ratio": rate_ratio}
    return tables, paths, stats


def lr_words(cell) -> str:
    """The step size of a dynamics cell in words (``lr = 0``: n / lambda_max per seed)."""
    return "lr = n / λ_max(Θ_0) per seed" if float(cell["lr"]) == 0 else f"lr = {cell['lr']:g}"


def dynamics_section(df: pd.DataFrame, out: Path) -> Section:
    tables, paths, stats = dynamics_parts(df, out)
    drift_lower, rate_ratio = stats["drift_lower"], stats["rate_ratio"]
    cell = df.iloc[0]
    n_div = int(df["diverged"].astype(bool).sum())
    text = (
        f"Full-batch GD on n = {cell['n']} points uniform on S^{cell['d'] - 1} with random ±1 "
        f"labels (loss ||f - y||²/2n, {cell['steps']} steps, {lr_words(cell)}, "
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
    caption = (
        "Loss curves of the ReLU and FAP nets from the same θ_0 (mean over seeds), their NTK drift "
        f"and linearized gaps against width (FAP's drift lower in {100 * drift_lower:.0f}% of "
        "the pairs), and the fitted per-step rates against kernel GD's and the NTK bound."
    )
    return Section("Training dynamics: ReLU vs FAP", text, tables, paths, caption=caption)


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
    caption = (
        "Left: the share of seeds reaching eps against width, one line per n; right: the "
        f"threshold width against n on log-log axes with the fitted exponents ({summary})."
    )
    return Section(
        "Width threshold for fitting random labels",
        text,
        tables,
        [fig.with_suffix(".png")],
        caption=caption,
    )


def _conversion_task(df: pd.DataFrame) -> tuple[str, str, str]:
    """(what was trained on what, its ReLU twin, the name of the hidden width) of a
    conversion table: the MLP on the sphere, or ``arch = "cnn"`` on digits images."""
    cell = df.iloc[0]
    if cell.get("arch", "mlp") == "cnn":
        k = int(cell["kernel_size"])
        return (
            f"FAP-CNNs ([Conv(C, {k}x{k}, SAME), ReLU] x depth, {cell['pooling']} pooling, "
            f"Dense(1); every parameter trained, lr = {cell['lr']:g}) trained {cell['steps']} GD "
            f"steps on n = {cell['n']} digits as 8x8x1 images with their even/odd labels",
            "ReLU CNNs of 2C channels (constants per "
            + {"layer": "conv layer", "channel": "channel", "unit": "(position, channel)"}[
                cell.get("constants", "layer")
            ]
            + ")",
            "held-out digits",
        )
    return (
        f"FAP nets trained {cell['steps']} GD steps on n = {cell['n']} random ±1 labels on "
        f"S^{cell['d'] - 1}",
        f"ReLU nets of width 2m (constants per {cell.get('constants', 'layer')})",
        "fresh points",
    )


def conversion_section(df: pd.DataFrame, out: Path) -> Section:
    """The conversion table and figure (``conversion`` and ``conversion_cnn``)."""
    name = "conversion_cnn" if df.iloc[0].get("arch", "mlp") == "cnn" else "conversion"
    ok = df[~df["diverged"].astype(bool)].assign(
        train_exact_share=lambda d: d["train_exact"].astype(float)
    )
    by = ["dtype", "depth", "b_std", "width"]
    values = [
        "relu_width", "M_max", "train_exact_share", "train_rel_error", "test_frac_equivalent",
        "test_rel_error_ok", "test_rel_error", "loss_final",
    ]  # fmt: skip
    table = pm_table(summarize(ok, by, values), by, values)
    if name == "conversion_cnn":
        table = table.rename(columns={"width": "channels", "relu_width": "relu_channels"})
    write_table(table, out / "tables" / name)
    fig = out / "figures" / name
    title = "FAP-CNN -> ReLU CNN (2C channels) conversion (width = channels C)"
    plots.conversion_errors(ok, path=fig, title=title if name == "conversion_cnn" else None)
    cell = df.iloc[0]
    trained, twin, fresh = _conversion_task(df)
    per_dtype = "; ".join(
        f"{dtype}: largest relative error {g['train_rel_error'].max():.2g} on training points, "
        f"{g['test_rel_error_ok'].max():.2g} on {fresh} where the identity holds"
        for dtype, g in ok.groupby("dtype")
    )
    from analysis.report.claims import TWIN_RTOL

    n_exact = int(ok["train_exact"].astype(bool).sum())
    rtol = ok["dtype"].map(TWIN_RTOL).fillna(min(TWIN_RTOL.values()))
    n_within = int((ok["train_exact"].astype(bool) & (ok["train_rel_error"] <= rtol)).sum())
    frac = 100 * ok["test_frac_equivalent"]
    text = (
        f"{trained}, converted into {twin} with M_l = max({cell['floor']:g}, "
        f"(1 + {cell['margin']:g}) × the data's minimal constant), checked on the {cell['n']} "
        f"training points and on {cell['n_test']} {fresh}, in each precision (trained "
        f"parameters cast); {len(df) - len(ok)} of {len(df)} runs diverged. The identity holds "
        f"unit by unit on every training point in {n_exact} of {len(ok)} conversions; what "
        f"remains is rounding of p - M g, which grows with M (max_l M_l up to "
        f"{ok['M_max'].max():.3g}): {per_dtype}; exact within the certificate's rtol ("
        + ", ".join(f"{k} {v:g}" for k, v in TWIN_RTOL.items())
        + f") in {n_within} of {len(ok)}. On {fresh} the identity holds on "
        f"{frac.mean():.1f}% of points on average (min {frac.min():.1f}%); on the others the "
        f"twin differs from the FAP net (up to {ok['test_rel_error'].max():.2g} relative)."
    )
    axis = "channels C" if name == "conversion_cnn" else "width"
    return Section(
        "FAP-CNN -> ReLU CNN conversion" if name == "conversion_cnn" else "FAP -> ReLU conversion",
        text,
        {"conversion (mean ± std over seeds)": table},
        [fig.with_suffix(".png")],
        caption=(
            f"Against {axis}, by depth (color), bias (line) and precision (marker): the twin's "
            f"relative error on the training points and on {fresh} where the identity holds, "
            f"the share of {fresh} where it holds (mean {frac.mean():.1f}%), and the "
            "constant max_l M_l."
        ),
    )
