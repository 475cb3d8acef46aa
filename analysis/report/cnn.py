"""Report section of ``kernel_distance_cnn``: the finite FAP-CNN NTK vs the CNTK."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import plots
from analysis.fits import loglog_fit
from analysis.report.section import Section
from analysis.tables import pm_table, summarize, write_table


def cnn_slopes(df: pd.DataFrame, metric: str = "dist_fro") -> pd.DataFrame:
    """Fitted log-log slope of the seed-mean ``metric`` vs channels, per depth."""
    summ = summarize(df, ["depth", "width"], [metric])
    rows = []
    for depth, g in summ.groupby("depth"):
        slope, _ = loglog_fit(g["width"], g[f"{metric}_mean"])
        rows.append(
            {"depth": depth, "slope_fro": slope, "channels": f"{g.width.min()}..{g.width.max()}"}
        )
    return pd.DataFrame(rows)


def kernel_distance_cnn_section(df: pd.DataFrame, out: Path) -> Section:
    values = [c for c in df.columns if c.startswith("dist_")]
    by = ["depth", "width"]
    table = pm_table(summarize(df, by, values), by, values).rename(columns={"width": "channels"})
    write_table(table, out / "tables" / "kernel_distance_cnn")
    slopes = cnn_slopes(df)
    write_table(slopes, out / "tables" / "kernel_distance_cnn_slope")
    fig = out / "figures" / "kernel_distance_cnn_vs_channels"
    plots.distance_vs_width(
        df, "dist_fro", path=fig, title="Finite FAP-CNN NTK at init vs CNTK (width = channels C)"
    )
    cell = df.iloc[0]
    s = ", ".join(f"{r.depth} conv layers: {r.slope_fro:.3f}" for r in slopes.itertuples())
    text = (
        "Relative Frobenius distance ||Theta_C - Theta_CNTK||_F / ||Theta_CNTK||_F between the "
        "finite-width NTK of a stax CNN at initialization ([Conv(C, "
        f"{int(cell['kernel_size'])}x{int(cell['kernel_size'])}, SAME), Relu] x depth, "
        f"{cell['pooling']} pooling, Dense(1); FAP-CNN = ReLU CNN there) and neural-tangents' "
        f"infinite-width CNTK of the same triple, on {int(cell['n'])} digits as 8x8x1 images, "
        f"mean ± std over seeds. Fitted log-log slope vs channels: {s} (theory: -1/2)."
    )
    return Section(
        "CNN: finite FAP-CNN NTK vs CNTK",
        text,
        {"distance by channels": table, "fitted slope": slopes},
        [fig.with_suffix(".png")],
    )


def dynamics_cnn_section(df: pd.DataFrame, out: Path) -> Section:
    """``dynamics_cnn``: the dynamics tables and figures (``training.dynamics_parts``) of the
    stax CNN on digits, FAP-CNN vs ReLU CNN from the same theta_0."""
    from analysis.report.training import _fmt_range, dynamics_parts, lr_words

    titles = (
        "CNN on digits: training loss, ReLU vs FAP-CNN (width = channels C)",
        "CNN: NTK drift and linearized gap vs channels C (ReLU vs FAP-CNN)",
        "CNN: fitted per-step rates vs kernel GD and the NTK bound",
    )
    tables, paths, stats = dynamics_parts(df, out, "dynamics_cnn", titles)
    paired = stats["paired"]
    cell = df.iloc[0]
    k = int(cell["kernel_size"])
    n_div = int(df["diverged"].astype(bool).sum())

    def ratios(col: str) -> str:
        return ", ".join(
            f"{r.depth} conv layers: {getattr(r, f'{col}_ratio'):.2f} "
            f"(FAP lower in {100 * getattr(r, f'{col}_fap_lower'):.0f}% of "
            f"{getattr(r, f'{col}_pairs')} pairs)"
            for r in paired.itertuples()
        )

    text = (
        f"Full-batch GD of the stax CNN ([Conv(C, {k}x{k}, SAME), ReLU] x depth, "
        f"{cell['pooling']} pooling, Dense(1), every parameter trained) on n = {cell['n']} "
        f"digits as 8x8x1 images with their even/odd labels (loss ||f - y||²/2n, "
        f"{cell['steps']} steps, {lr_words(cell)}), channels C = {_fmt_range(df['width'])}, "
        f"{df['seed'].nunique()} seeds; the ReLU CNN and the FAP-CNN (gates of θ_0) of a seed "
        f"start from the same θ_0. {n_div} of {len(df)} runs diverged. Median FAP/ReLU ratio "
        f"of the NTK drift ||Θ_T - Θ_0||/||Θ_0||: {ratios('ntk_drift_final')}; of the train "
        f"linearized gap: {ratios('lin_gap_train_final')}. The log-log slopes against C are in "
        f"the table; the held-out linearized gap is on {cell['n_test']} other digits."
    )
    caption = (
        "Loss curves of the ReLU CNN and the FAP-CNN from the same θ_0 (mean over seeds), their "
        f"NTK drift and linearized gaps against channels C (FAP's drift lower in "
        f"{100 * stats['drift_lower']:.0f}% of the pairs), and the fitted per-step rates."
    )
    return Section("CNN: training dynamics, ReLU vs FAP-CNN", text, tables, paths, caption=caption)
