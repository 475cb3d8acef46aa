"""Report sections of the seed's depth claims: ``width_threshold_depth`` (width needed
"linear in depth") and ``dynamics_depth`` (iterations "logarithmic in n and depth")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.plot_style import COLORS, save, style
from analysis.report.section import Section
from analysis.tables import write_table


def _lines(ax, table: pd.DataFrame, x: str, y: str, by: list[str]) -> None:
    for i, (key, g) in enumerate(table.groupby(by)):
        key = key if isinstance(key, tuple) else (key,)
        ls = "--" if "relu" in key else "-"
        label = " ".join(f"{k}={v}" for k, v in zip(by, key, strict=True))
        g = g.sort_values(x)
        ax.plot(g[x], g[y], "o" + ls, color=COLORS[i % 10], ms=3.5, label=label)


def _figure(table, x, y, by, path, xlabel, ylabel, title, logx=False):
    import matplotlib.pyplot as plt

    with style():
        fig, ax = plt.subplots()
        _lines(ax, table, x, y, by)
        ax.set(xlabel=xlabel, ylabel=ylabel, title=title, xscale="log" if logx else "linear")
        ax.legend(fontsize=6.5)
        save(fig, path)
    return path.with_suffix(".png")


def width_threshold_depth_section(df: pd.DataFrame, out: Path) -> Section:
    from analysis.experiments import threshold

    thr = threshold.thresholds(df)
    fits = threshold.depth_fits(thr)
    exps = threshold.exponents(thr)
    tables = {
        "threshold width by depth": thr,
        "fit vs depth: threshold = slope depth + intercept, ~ depth^exponent": fits,
        "fit vs n: threshold ~ n^a, per depth": exps,
    }
    names = ("threshold_depth", "threshold_depth_fit", "threshold_depth_n")
    for name, t in zip(names, tables.values(), strict=True):
        write_table(t, out / "tables" / name)
    fig = _figure(
        thr.dropna(subset=["threshold_width"]), "depth", "threshold_width", ["model", "n"],
        out / "figures" / "threshold_vs_depth", "depth L", "threshold width",
        "Width threshold vs depth (FAP solid, ReLU dashed)",
    )  # fmt: skip
    cell = df.iloc[0]
    said = "; ".join(
        f"{r.model}, n={r.n}: {r.slope:+.1f} width per layer, exponent {r.exponent:.2f} "
        f"(depths {r.depths})"
        if np.isfinite(r.slope)
        else f"{r.model}, n={r.n}: too few uncensored thresholds"
        for r in fits.itertuples()
    )
    text = (
        "The seed claims the width needed to fit n points grows linearly in depth. Smallest "
        f"grid width at which {100 * cell['target_fraction']:.0f}% of the seeds reach loss "
        f"{cell['eps']:g} within T = {cell['steps']} steps, per depth and n; fitted against "
        f"depth over uncensored thresholds: {said}. (Exponent 1: linear growth.)"
    )
    return Section("Depth: the width threshold", text, tables, [fig])


def dynamics_depth_section(df: pd.DataFrame, out: Path) -> Section:
    from analysis.experiments import dynamics

    ok = df[~df["diverged"].astype(bool)]
    med = (
        ok.groupby(["model", "depth", "n"])
        .agg(width=("width", "first"), steps=("steps_to_eps_measured", "median"),
             reached=("reached_eps", "mean"))
        .reset_index()
    )  # fmt: skip
    fits = dynamics.steps_fits(df)
    tables = {"median steps to eps": med, "fits: steps = a log x + b, steps ~ x^e": fits}
    write_table(med, out / "tables" / "steps_depth")
    write_table(fits, out / "tables" / "steps_depth_fit")
    fig = _figure(
        med.dropna(subset=["steps"]), "n", "steps", ["model", "depth"],
        out / "figures" / "steps_vs_n_depth", f"n (width = {df['width_per_n'].iloc[0]:g} n)",
        "steps to eps (median over seeds)", "Steps to eps vs n (FAP solid, ReLU dashed)",
        logx=True,
    )  # fmt: skip
    by_n = fits[fits["axis"] == "n"]
    said = "; ".join(
        f"{r.model}, depth {r.at}: {r.slope_log:+.0f} steps per e-fold of n, n^{r.exponent:.2f}"
        for r in by_n.itertuples()
        if np.isfinite(r.slope_log)
    )
    cell = df.iloc[0]
    text = (
        "The seed claims the iterations to reach eps grow logarithmically in n and depth. "
        f"Steps to loss {cell['eps']:g} at width = {cell['width_per_n']:g} n, lr = n / "
        f"λ_max(Θ_0), median over seeds (cells where every seed reached eps). Against n: "
        f"{said or 'too few points'}. The depth fits are in the table."
    )
    return Section("Depth: steps to eps vs n and depth", text, tables, [fig])
