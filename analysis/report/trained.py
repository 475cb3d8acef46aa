"""Report section of ``generalization_trained``: trained FAP and ReLU nets against NTK
regression (empirical at theta_0, infinite) on MNIST-1D, beside the MNIST-1D paper's
published baselines."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from analysis.plot_style import COLORS, save, style
from analysis.report.data_claims import gaps
from analysis.report.section import Section
from analysis.tables import pm_table, summarize, write_table

VALUES = ["train_error", "test_error", "test_accuracy", "kernel_drift", "complexity", "bound"]


def baselines_table() -> pd.DataFrame:
    """The MNIST-1D paper's test accuracies (10 classes, 4,000 / 1,000), as published."""
    from analysis.experiments.generalization_trained import PAPER, PAPER_BASELINES

    return pd.DataFrame(
        {
            "model": list(PAPER_BASELINES),
            "test_accuracy": list(PAPER_BASELINES.values()),
            "source": PAPER,
        }  # fmt: skip
    )


def test_error_vs_n(df: pd.DataFrame, path=None):
    """Test error vs n_train for the four predictors, one panel per (task, p); mean over
    seeds."""
    from analysis.experiments.generalization_trained import LABELS, PREDICTORS

    panels = sorted(df[["task", "p"]].drop_duplicates().itertuples(index=False))
    with style():
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
        for ax, (task, p) in zip(axes[0], panels, strict=True):
            g = df[(df["task"] == task) & (df["p"] == p)]
            for i, name in enumerate(PREDICTORS):
                s = g[g["predictor"] == name].groupby("n_train")["test_error"].mean()
                fmt = "s--" if name.endswith("_net") else "o-"
                ax.plot(s.index, s.values, fmt, color=COLORS[i], label=LABELS[name])
            ax.set_xscale("log", base=2)
            ax.set(xlabel="n_train", ylabel="test error (0-1)", title=f"{task}, p = {p:g}")
            ax.legend(fontsize=7)
        fig.suptitle("MNIST-1D: trained nets vs their NTKs")
        save(fig, path)
    return fig


def generalization_trained_section(df: pd.DataFrame, out: Path) -> Section:
    ok = df[~df["diverged"].astype(bool)]
    by = ["task", "p", "n_train", "depth", "width", "predictor"]
    table = pm_table(summarize(ok, by, VALUES), by, VALUES)
    write_table(table, out / "tables" / "generalization_trained")
    base = baselines_table()
    write_table(base, out / "tables" / "mnist1d_baselines")
    fig = out / "figures" / "generalization_trained"
    test_error_vs_n(ok, path=fig)
    w = gaps(df)
    cell = df.iloc[0]
    gap = (
        f"FAP - NTK(θ_0) test error: median {w['gap_ntk'].median():+.3f}, range "
        f"{w['gap_ntk'].min():+.3f}..{w['gap_ntk'].max():+.3f} over {len(w)} cells"
        if len(w)
        else "no cell with both the FAP net and its NTK"
    )
    ten = ok[(ok["task"] == "ten_class") & (ok["p"] == 0)]
    best = (
        ", ".join(
            f"{r.predictor} {r.test_accuracy:.2f}"
            for r in ten[ten["n_train"] == ten["n_train"].max()]
            .groupby("predictor", as_index=False)["test_accuracy"]
            .mean()
            .itertuples()
        )
        if len(ten)
        else ""
    )
    ns = ", ".join(str(n) for n in sorted(df["n_train"].unique()))
    text = (
        f"MNIST-1D (standard split; n_train {ns} of its 4,000): FAP and ReLU MLPs (depth "
        f"{cell['depth']}, width {cell['width']}) from "
        f"the same θ_0 trained {cell['steps']} full-batch GD steps, against NTK regression "
        f"with the empirical NTK at θ_0 and with the infinite NTK; {len(df) - len(ok)} "
        f"diverged rows. {gap}. "
        + (f"10 classes, clean labels, largest n: test accuracy {best}. " if best else "")
        + "The paper's baselines (4,000 training digits) are printed beside them, not "
        "recomputed."
    )
    return Section(
        "Trained nets vs their NTK on MNIST-1D",
        text,
        {
            "generalization_trained (mean ± std over seeds)": table,
            "MNIST-1D published baselines (test accuracy)": base,
        },  # fmt: skip
        [fig.with_suffix(".png")],
        caption="Test error against n_train per task and label noise: the trained FAP net "
        "(dashed), the trained ReLU net (dashed), NTK regression at θ_0 and at infinite width.",
    )
