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
