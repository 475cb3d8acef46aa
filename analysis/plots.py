"""Figures from tidy result tables (matplotlib, one style; PNG and PDF).

Every function takes a DataFrame as produced by ``analysis.runner`` and returns the
Figure; given ``path`` (without suffix) it also saves ``path``.png and ``path``.pdf.
Importing this module chooses no backend: in a notebook the figures show inline; the
command line and the report choose the file-only "Agg" backend (``use_file_backend``).
"""

from __future__ import annotations

import matplotlib
import matplotlib.lines
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from analysis.fits import loglog_fit
from analysis.plot_style import COLORS, STYLE, save, style  # noqa: F401 (save: public here)


def use_file_backend() -> None:
    """Switch matplotlib to the non-interactive "Agg" backend (figures only go to files)."""
    matplotlib.use("Agg")


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
    with style():
        fig, ax = plt.subplots()
        for i, (key, g) in enumerate(df.groupby(by)):
            s = g.groupby("width")[metric].agg(["mean", "std"]).fillna(0.0)
            slope, icpt = loglog_fit(s.index, s["mean"])
            label = f"{by}={key}: slope {slope:.2f}"
            _band(ax, s.index.values, s["mean"].values, s["std"].values, COLORS[i % 10], label)
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
    with style():
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
    with style():
        fig, ax = plt.subplots()
        for i, (name, ev) in enumerate(eigs.items()):
            ev = np.asarray(ev)
            ax.plot(
                np.arange(1, len(ev) + 1), np.maximum(ev, 1e-300), color=COLORS[i % 10], label=name
            )
        ax.set(xscale="log", yscale="log", xlabel="index", ylabel="eigenvalue")
        ax.set_title(title or "Kernel spectra")
        ax.legend()
        save(fig, path)
    return fig


# ---- generalization (analysis.experiments.generalization) ----------------------------
def predictor_order(df: pd.DataFrame) -> list[str]:
    """Display labels in a fixed order: infinite kernels, FAP NTKs by width, then nets."""
    keys = df[["kind", "width", "predictor_label"]].drop_duplicates()
    keys = keys.assign(_net=keys["kind"] == "net", _w=keys["width"].fillna(-1.0))
    return keys.sort_values(["_net", "_w", "predictor_label"])["predictor_label"].tolist()


def _lines_by_label(ax, df: pd.DataFrame, x: str, y: str, colors: dict[str, tuple]) -> None:
    """One mean ± std (over seeds) line per ``label`` of ``y`` against ``x``."""
    for lab in [lab for lab in colors if lab in set(df["predictor_label"])]:
        g = df[df["predictor_label"] == lab]
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
    with style():
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
    with style():
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


# ---- training dynamics, width threshold, conversion ------------------------------------
MODEL_STYLE = {"fap": ("-", "FAP"), "relu": ("--", "ReLU")}


def _model_style(model: str) -> tuple[str, str]:
    return MODEL_STYLE.get(model, (":", str(model)))


def _mean_curve(texts, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Steps and geometric mean over rows of the JSON curve ``key`` (finite rows only)."""
    import json

    curves = [
        json.loads(t) for t in texts if isinstance(t, str) and t.startswith("{") and len(t) > 2
    ]
    curves = [c for c in curves if key in c and len(c[key]) == len(curves[0][key])]
    if not curves:
        return np.array([]), np.array([])
    vals = np.maximum(np.array([c[key] for c in curves], float), 1e-300)
    return np.asarray(curves[0]["step"]), np.exp(np.mean(np.log(vals), axis=0))


def loss_curves(df: pd.DataFrame, path=None, title=None):
    """Training loss vs step (log y), one panel per depth; color = width, line = model
    (solid FAP, dashed ReLU); each line the geometric mean over seeds of the ``curves``
    column's ``train_loss``. A single run (``TrainResult``, ``History``, its ``to_frame()``
    or a dict of runs) goes to ``analysis.run_plots.training_run``."""
    from analysis import run_plots

    if run_plots.is_run(df):
        return run_plots.training_run(df, path=path, title=title)
    depths = sorted(df["depth"].unique())
    widths = sorted(df["width"].unique())
    with style():
        fig, axes = plt.subplots(
            1, len(depths), figsize=(4.2 * len(depths), 3.6), squeeze=False, sharey=True
        )
        for ax, depth in zip(axes[0], depths, strict=True):
            g = df[df["depth"] == depth]
            for (width, model), gg in g.groupby(["width", "model"]):
                steps, loss = _mean_curve(gg["curves"], "train_loss")
                if steps.size:
                    ls, name = _model_style(model)
                    ax.plot(
                        steps,
                        loss,
                        ls,
                        color=COLORS[widths.index(width) % 10],
                        lw=1.2,
                        label=f"m={width} {name}",
                    )
            if "eps" in g and g["eps"].nunique() == 1:
                ax.axhline(float(g["eps"].iloc[0]), color="k", lw=0.7, ls=":", label="eps")
            ax.set(yscale="log", xlabel="GD step", title=f"depth {depth}")
        axes[0, 0].set_ylabel("training loss  ||f - y||² / 2n")
        handles = {}  # every panel's lines, once per label (panels may hold different widths)
        for ax in axes[0]:
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(lab, h)
        axes[0, -1].legend(handles.values(), handles.keys(), fontsize=6.5, ncol=2)
        fig.suptitle(title or "Training loss, FAP (solid) vs ReLU (dashed)")
        save(fig, path)
    return fig


def by_width(df: pd.DataFrame, metrics: dict[str, str], path=None, title=None):
    """One panel per metric (column -> axis label) vs width, log-log, mean ± std over seeds;
    color = depth, line = model (solid FAP, dashed ReLU); the legend gives the fitted slope."""
    depths = sorted(df["depth"].unique())
    with style():
        fig, axes = plt.subplots(1, len(metrics), figsize=(4.4 * len(metrics), 3.8), squeeze=False)
        for ax, (metric, label) in zip(axes[0], metrics.items(), strict=True):
            for (depth, model), g in df.groupby(["depth", "model"]):
                s = (
                    g.groupby("width")[metric]
                    .agg(["mean", "std"])
                    .dropna(subset=["mean"])
                    .fillna(0.0)
                )
                s = s[s["mean"] > 0]
                if s.empty:
                    continue
                ls, name = _model_style(model)
                slope = f" ({loglog_fit(s.index, s['mean'])[0]:+.2f})" if len(s) >= 2 else ""
                _band(
                    ax,
                    s.index.values,
                    s["mean"].values,
                    s["std"].values,
                    COLORS[depths.index(depth) % 10],
                    f"L={depth} {name}{slope}",
                    "o" + ls,
                )
            width_axis(ax, df["width"])
            ax.set(yscale="log", ylabel=label)
            ax.legend(fontsize=6.5)
        fig.suptitle(title or "FAP (solid) vs ReLU (dashed) vs width; legend: fitted log-log slope")
        fig.tight_layout()
        save(fig, path)
    return fig


def rate_comparison(df: pd.DataFrame, path=None, title=None):
    """Measured per-step loss decay 1 - q (log-log) against kernel GD's on the same window
    (left) and against the NTK bound 1 - (1 - lr lambda_min / n)^2 (right); one point per
    run, color = model; on the diagonal the net converges as its NTK at init predicts."""
    with style():
        fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.9))
        for ax, ref, xlabel in (
            (axes[0], "rate_kernel_gd", "kernel GD with Θ₀, same window: 1 - q"),
            (axes[1], "rate_predicted", "NTK bound: 1 - (1 - lr λ_min/n)²"),
        ):
            for i, (model, g) in enumerate(df.groupby("model")):
                x, y = 1 - g[ref].to_numpy(float), 1 - g["rate_fitted"].to_numpy(float)
                ok = (x > 0) & (y > 0)
                ax.scatter(
                    x[ok],
                    y[ok],
                    s=10,
                    alpha=0.7,
                    color=COLORS[i % 10],
                    label=_model_style(model)[1],
                )
            both = np.concatenate(
                [1 - df[ref].to_numpy(float), 1 - df["rate_fitted"].to_numpy(float)]
            )
            both = both[both > 0]
            if both.size:
                ax.plot(
                    [both.min(), both.max()], [both.min(), both.max()], "k--", lw=0.8, label="equal"
                )
            ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel="measured: 1 - q (fit)")
            ax.legend()
        fig.suptitle(title or "Per-step loss contraction: measured vs NTK")
        save(fig, path)
    return fig


def width_threshold(df: pd.DataFrame, thr: pd.DataFrame, exps: pd.DataFrame, path=None, title=None):
    """Left: fraction of seeds reaching eps vs width, one color per n, solid FAP / dashed
    ReLU. Right: threshold width vs n (log-log), open markers where only an upper bound
    (the smallest grid width passed), with the fitted power law per model."""
    ns = sorted(df["n"].unique())
    with style():
        fig, (a, b) = plt.subplots(1, 2, figsize=(10.0, 3.9))
        for (n, model), g in df.groupby(["n", "model"]):
            g = g.sort_values("width")
            ls, name = _model_style(model)
            a.plot(
                g["width"],
                g["frac_reached"],
                "o" + ls,
                ms=3,
                color=COLORS[ns.index(n) % 10],
                label=f"n={n} {name}",
            )
        target = df["target_fraction"].iloc[0] if "target_fraction" in df else 0.9
        a.axhline(target, color="k", lw=0.7, ls=":")
        width_axis(a, df["width"])
        a.tick_params(axis="x", labelrotation=45)
        a.set(ylabel="fraction of seeds reaching eps", ylim=(-0.03, 1.03))
        a.legend(fontsize=6, ncol=2)
        for i, (model, g) in enumerate(thr.groupby("model")):
            ls, name = _model_style(model)
            color = COLORS[i % 10]
            inside, below = g[g["censored"] == ""], g[g["censored"] == "below"]
            e = exps[exps["model"] == model]
            a_exp = float(e["exponent"].iloc[0]) if len(e) else np.nan
            lab = f"{name}" + (f": width ~ n^{a_exp:.2f}" if np.isfinite(a_exp) else "")
            marker = "o" if model == "fap" else "s"
            b.plot(
                inside["n"], inside["threshold_width"], marker, color=color, alpha=0.8, label=lab
            )
            b.plot(below["n"], below["threshold_width"], "v", mfc="none", color=color)
            if np.isfinite(a_exp):
                n_fit = np.array(sorted(g["n"]), float)
                b.plot(n_fit, float(e["prefactor"].iloc[0]) * n_fit**a_exp, ls, color=color, lw=1)
        width_axis(b, ns, label="n (training points)")
        b.set(yscale="log", ylabel="threshold width")
        b.legend()
        fig.suptitle(title or "Width needed to fit random labels within T steps")
        save(fig, path)
    return fig


def _range_band(ax, df: pd.DataFrame, x: str, y: str, color, label, fmt="o-"):
    """Geometric mean over seeds with a min..max band (for positive values on a log axis)."""
    g = df[df[y] > 0].groupby(x)[y]
    if not len(g):
        return
    center = np.exp(g.apply(lambda v: np.log(v).mean()))
    lo, hi = g.min(), g.max()
    ax.plot(center.index, center.values, fmt, color=color, label=label, ms=3.5)
    ax.fill_between(center.index, lo.values, hi.values, color=color, alpha=0.15, lw=0)


def conversion_errors(df: pd.DataFrame, path=None, title=None):
    """FAP -> ReLU conversion vs width, one panel each: relative max error on the training
    points, the same on the fresh points where the identity holds (marker = precision:
    o float32, s float64), share of fresh points where it holds, the constant max_l M_l;
    color = depth, line = bias (solid: none). Log panels: geometric mean and min..max over
    seeds; the linear one: mean ± std."""
    depths = sorted(df["depth"].unique())
    panels = (  # (column, axis label, one line per precision, log scale)
        ("train_rel_error", "relative max error, training points", True, True),
        ("test_rel_error_ok", "relative max error, fresh points where exact", True, True),
        ("test_frac_equivalent", "share of fresh points where twin = FAP", False, False),
        ("M_max", "max_l M_l", False, True),
    )
    marker = {"float32": "o", "float64": "s"}
    with style():
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8))
        for (depth, bias, dtype), g in df.groupby(["depth", "b_std", "dtype"]):
            color, ls = COLORS[depths.index(depth) % 10], "-" if bias == 0 else "--"
            lab = f"L={depth}, b_std={bias:g}"
            for ax, (metric, _, per_dtype, log) in zip(axes, panels, strict=True):
                if not per_dtype and dtype != df["dtype"].iloc[0]:
                    continue  # the same for every precision: drawn once
                label = f"{lab} {dtype}" if per_dtype else lab
                fmt = marker.get(dtype, "o") + ls
                if log:
                    _range_band(ax, g, "width", metric, color, label, fmt)
                else:
                    s = g.groupby("width")[metric].agg(["mean", "std"]).fillna(0.0)
                    _band(ax, s.index.values, s["mean"].values, s["std"].values, color, label, fmt)
        for ax, (_, label, _, log) in zip(axes, panels, strict=True):
            width_axis(ax, df["width"])
            ax.set_ylabel(label)
            if log:
                ax.set_yscale("log")
        # one legend for all panels, below them: color = depth, line = bias, marker = precision
        line = matplotlib.lines.Line2D
        keys = [line([], [], color=COLORS[i % 10], label=f"L={d}") for i, d in enumerate(depths)]
        keys += [line([], [], color="k", ls="-" if b == 0 else "--", label=f"b_std={b:g}")
                 for b in sorted(df["b_std"].unique())]  # fmt: skip
        keys += [line([], [], color="k", ls="", marker=marker.get(t, "o"), label=t)
                 for t in sorted(df["dtype"].unique())]  # fmt: skip
        fig.legend(handles=keys, loc="lower center", ncol=len(keys), fontsize=10)
        fig.suptitle(title or "FAP -> ReLU (width 2m) conversion of trained FAP nets")
        fig.tight_layout(rect=(0, 0.09, 1, 1))
        save(fig, path)
    return fig
