"""Figures from tidy result tables (matplotlib, one style; PNG and PDF).

Every function takes a DataFrame as produced by ``analysis.runner`` and returns the
Figure; given ``path`` (without suffix) it also saves ``path``.png and ``path``.pdf.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # headless: figures are files (notebooks display the returned Figure)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.fits import loglog_fit  # noqa: E402

STYLE = {
    "figure.figsize": (5.2, 3.6),
    "figure.dpi": 110,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "font.size": 9,
}
COLORS = plt.get_cmap("tab10").colors


def save(fig, path: str | Path | None) -> None:
    """Save ``fig`` as ``path``.png and ``path``.pdf (no-op for None)."""
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in (".png", ".pdf"):
        fig.savefig(path.with_suffix(suffix), bbox_inches="tight")


def width_axis(ax, widths, label: str = "width m") -> None:
    """Log x axis with a plain tick at each width (no overlapping minor labels)."""
    widths = sorted({int(w) for w in widths})
    ax.set_xscale("log")
    ax.set_xticks(widths)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%d"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel(label)


def _band(ax, x, mean, std, color, label, fmt="o-"):
    ax.plot(x, mean, fmt, color=color, label=label, ms=3.5)
    ax.fill_between(x, np.maximum(mean - std, 1e-300), mean + std, color=color, alpha=0.2, lw=0)


def distance_vs_width(
    df: pd.DataFrame, metric: str = "dist_fro", by: str = "depth", path=None, title=None
):
    """Kernel distance vs width, log-log, mean ± std over seeds, fitted slope in the legend."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots()
        for i, (key, g) in enumerate(df.groupby(by)):
            s = g.groupby("width")[metric].agg(["mean", "std"]).fillna(0.0)
            slope, icpt = loglog_fit(s.index, s["mean"])
            _band(ax, s.index.values, s["mean"].values, s["std"].values, COLORS[i % 10], f"{by}={key}: slope {slope:.2f}")
            ax.plot(s.index, np.exp(icpt) * s.index.values**slope, ":", color=COLORS[i % 10], lw=1)
        w = np.array(sorted(df["width"].unique()), float)
        ref = df[metric].max() * (w / w[0]) ** -0.5
        ax.plot(w, ref, "k--", lw=0.8, label="width$^{-1/2}$")
        width_axis(ax, w)
        ax.set(yscale="log", ylabel=metric.replace("dist_", "relative distance: "))
        ax.set_title(title or "Empirical NTK at init vs infinite-width NTK")
        ax.legend()
        save(fig, path)
    return fig


def kernel_heatmaps(kernels: dict[str, np.ndarray], path=None, title=None):
    """Side-by-side heatmaps of kernels (shared color scale)."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(kernels), figsize=(3.2 * len(kernels), 3.0), squeeze=False)
        vmin = min(float(np.min(k)) for k in kernels.values())
        vmax = max(float(np.max(k)) for k in kernels.values())
        for ax, (name, k) in zip(axes[0], kernels.items(), strict=True):
            im = ax.imshow(np.asarray(k), vmin=vmin, vmax=vmax, cmap="viridis")
            ax.set_title(name)
            ax.grid(False)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
        if title:
            fig.suptitle(title)
        save(fig, path)
    return fig


def spectra(eigs: dict[str, np.ndarray], path=None, title=None):
    """Eigenvalues (descending) of several kernels on a log scale."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots()
        for i, (name, ev) in enumerate(eigs.items()):
            ev = np.asarray(ev)
            ax.plot(np.arange(1, len(ev) + 1), np.maximum(ev, 1e-300), color=COLORS[i % 10], label=name)
        ax.set(xscale="log", yscale="log", xlabel="index", ylabel="eigenvalue")
        ax.set_title(title or "Kernel spectra")
        ax.legend()
        save(fig, path)
    return fig


# ---- generalization (analysis.experiments.generalization) ----------------------------
def predictor_order(df: pd.DataFrame) -> list[str]:
    """Display labels in a fixed order: infinite kernels, FAP NTKs by width, then nets."""
    keys = df[["kind", "width", "label"]].drop_duplicates()
    keys = keys.assign(_net=keys["kind"] == "net", _w=keys["width"].fillna(-1.0))
    return keys.sort_values(["_net", "_w", "label"])["label"].tolist()


def _lines_by_label(ax, df: pd.DataFrame, x: str, y: str, colors: dict[str, tuple]) -> None:
    """One mean ± std (over seeds) line per ``label`` of ``y`` against ``x``."""
    for lab in [lab for lab in colors if lab in set(df["label"])]:
        g = df[df["label"] == lab]
        s = g.groupby(x)[y].agg(["mean", "std"]).fillna(0.0)
        # nets dashed; H-infinity dotted on top (it coincides with the NTK for depth 1 hidden-only)
        fmt = "o-"
        if (g["kind"] == "net").all():
            fmt = "s--"
        elif (g["predictor"] == "arora").all():
            fmt = "x:"
        _band(ax, s.index.values, s["mean"].values, s["std"].values, colors[lab], lab, fmt)
        ax.lines[-1].set_zorder(3 if fmt == "x:" else 2)


def _datasets(df: pd.DataFrame) -> str:
    return ", ".join(map(str, df["dataset"].unique()))


def _label_colors(df: pd.DataFrame) -> dict[str, tuple]:
    return {lab: COLORS[i % 10] for i, lab in enumerate(predictor_order(df))}


def complexity_vs_noise(df: pd.DataFrame, path=None, title=None):
    """Left: complexity sqrt(2 y^T K^-1 y / n) in H^infty units vs label noise p, one line per
    kernel; right: 0-1 test error vs p, one line per predictor (kernels and trained nets).
    Bands: ± one std over seeds."""
    colors = _label_colors(df)
    kernels = df[df["kind"] == "kernel"]
    with plt.rc_context(STYLE):
        fig, (a, b) = plt.subplots(1, 2, figsize=(10.4, 3.8))
        _lines_by_label(a, kernels, "p", "complexity_normalized", colors)
        a.set(xlabel="label noise p", ylabel="complexity  sqrt(2 yᵀK⁻¹y / n)  [H∞ units]")
        a.set_title("Complexity")
        a.legend(fontsize=7)
        _lines_by_label(b, df, "p", "test_error", colors)
        b.set(xlabel="label noise p", ylabel="test error (0-1)")
        b.set_title("Test error")
        b.legend(fontsize=7)
        fig.suptitle(title or f"Generalization vs label noise: {_datasets(df)}")
        save(fig, path)
    return fig


def generalization_vs_size(df: pd.DataFrame, path=None, title=None):
    """Complexity (top, H^infty units) and 0-1 test error (bottom) vs n_train, one column of
    panels per label-noise level p; bands: ± one std over seeds."""
    colors = _label_colors(df)
    ps = sorted(df["p"].unique())
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, len(ps), figsize=(5.2 * len(ps), 6.6), squeeze=False)
        for j, p in enumerate(ps):
            g = df[df["p"] == p]
            kernels = g[g["kind"] == "kernel"]
            _lines_by_label(axes[0, j], kernels, "n_train", "complexity_normalized", colors)
            _lines_by_label(axes[1, j], g, "n_train", "test_error", colors)
            axes[0, j].set(ylabel="complexity [H∞ units]", title=f"p = {p:g}")
            axes[1, j].set(ylabel="test error (0-1)")
            for ax in axes[:, j]:
                width_axis(ax, g["n_train"], label="n_train")
                ax.legend(fontsize=7)
        fig.suptitle(title or f"Generalization vs sample size: {_datasets(df)}")
        save(fig, path)
    return fig
