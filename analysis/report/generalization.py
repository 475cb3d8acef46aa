"""Report sections of ``generalization_noise`` and ``generalization_size``
(``analysis.experiments.generalization``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import plots
from analysis.report.section import Section
from analysis.tables import pm_pivot, pm_table, summarize, write_table

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


NAME = "predictor_label"  # the display column (``label`` is the CSV label-column knob)


def _generalization_tables(df: pd.DataFrame, by: str, out: Path, stem: str) -> dict:
    """Summary tables (mean ± std over seeds) against ``by`` ("p" or "n_train"), title -> table;
    each is also written to out/tables/<stem>_<name>.{md,tex,csv}."""
    order = plots.predictor_order(df)
    index = [by] if by == "p" else ["p", by]
    kernels, nets = df[df["kind"] == "kernel"], df[df["kind"] == "net"]
    named = {
        "complexity": (
            "complexity [H∞ units]",
            pm_pivot(kernels, index, "predictor_label", "complexity_normalized", order),
        ),
        "test_error": ("test error", pm_pivot(df, index, "predictor_label", "test_error", order)),
        "finite_over_infinite": (
            "complexity of FAP NTK m / NTK ∞",
            pm_pivot(_finite_over_infinite(df, index), index, "width", "ratio"),
        ),
    }
    if len(nets):
        values = ["train_loss", "train_error", "test_error", "limit_test_error", "limit_agreement"]
        named["nets"] = (
            "trained nets (limit: GD at t=∞ with the FAP NTK, f_0 included)",
            pm_table(summarize(nets, [NAME] + index, values), [NAME] + index, values),
        )
    for name, (_, table) in named.items():
        write_table(table, out / "tables" / f"{stem}_{name}")
    return dict(named.values())


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
    caption = (
        "Complexity in H∞ units (left) and test error (right) against the label noise p, one line "
        f"per kernel and trained net: the Arora H∞ complexity goes from {h.iloc[0]:.3g} to "
        f"{h.iloc[-1]:.3g} as p goes from {h.index[0]:g} to {h.index[-1]:g}."
    )
    return Section(
        "Generalization vs label noise", text, tables, [fig.with_suffix(".png")], caption=caption
    )


def generalization_size_section(df: pd.DataFrame, out: Path) -> Section:
    tables = _generalization_tables(df, "n_train", out, "generalization_size")
    fig = out / "figures" / "generalization_size"
    plots.generalization_vs_size(df, path=fig)
    ps = ", ".join(f"{p:g}" for p in sorted(df["p"].unique()))
    text = (
        f"Sample-size sweep on {', '.join(map(str, df['dataset'].unique()))} at label noise "
        f"p = {ps}, one shared test set per seed (real datasets).\n\n" + _GEN_KERNELS
    )
    caption = (
        "Complexity (top) and test error (bottom) against the number of training points, one "
        f"column per label-noise level (p = {ps}), one line per kernel and trained net."
    )
    return Section(
        "Generalization vs sample size", text, tables, [fig.with_suffix(".png")], caption=caption
    )


def generalization_scale_section(df: pd.DataFrame, out: Path) -> Section:
    """Infinite-NTK regression vs n (``generalization_scale``): complexity [H∞ units] and
    test error per (n_train, p), and what each cell cost (kernel, solver, seconds)."""
    by_p = lambda value: pm_pivot(df, ["n_train"], "p", value).rename(  # noqa: E731
        columns=lambda c: c if c == "n_train" else f"p = {c:g}"
    )
    named = {
        "complexity": (
            "complexity [H∞ units] of the infinite NTK",
            by_p("complexity_normalized"),
        ),
        "test_error": ("test error of NTK regression", by_p("test_error")),
    }
    cost = df.groupby("n_train", sort=True).agg(
        solver=("solver_used", "first"),
        on_disk=("kernel_on_disk", "first"),
        kernel_s=("kernel_seconds", "mean"),
        solve_s=("solve_seconds", "mean"),
        condition_number=("condition_number", "mean"),
        rounding=("rounding", "max"),
    )
    named["cost"] = ("cost per cell (one solve serves every p)", cost.reset_index())
    for name, (_, table) in named.items():
        write_table(table, out / "tables" / f"generalization_scale_{name}")
    fig = out / "figures" / "generalization_scale"
    datasets = ", ".join(map(str, df["dataset"].unique()))
    plots.generalization_vs_size(df, path=fig, title=f"Infinite-NTK regression vs n: {datasets}")
    ps = ", ".join(f"{p:g}" for p in sorted(df["p"].unique()))
    ns = sorted(df["n_train"].unique())
    text = (
        f"Infinite-width NTK regression on {datasets} from "
        f"n_train = {ns[0]:,} to {ns[-1]:,} at label noise p = {ps} (one solve per cell serves "
        "every p; kernels past memory are memory-mapped and solved by float32-preconditioned "
        "float64 CG).\n\n" + _GEN_KERNELS
    )
    caption = (
        "Complexity in H∞ units (top) and test error of NTK regression (bottom) against "
        f"n_train, one column per label-noise level (p = {ps})."
    )
    return Section(
        "Generalization at scale (infinite NTK)",
        text,
        dict(named.values()),
        [fig.with_suffix(".png")],
        caption=caption,
    )
