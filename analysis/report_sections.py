"""Report sections: tables and figures for each experiment's tidy results."""

from __future__ import annotations

from pathlib import Path

import jax
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
        slopes.append({"depth": depth, "slope_fro": slope, "widths": f"{g['width'].min()}..{g['width'].max()}"})
    slopes = pd.DataFrame(slopes)
    write_table(slopes, out / "tables" / "kernel_distance_slope")
    figs = out / "figures"
    plots.distance_vs_width(df, "dist_fro", path=figs / "kernel_distance_vs_width")
    paths = [figs / "kernel_distance_vs_width.png"]
    # a snapshot of the kernels themselves: small n, narrowest and widest width
    cell = df.iloc[0]
    n_show = min(int(cell["n"]), 64)
    x = ntkfix.data.sphere(jax.random.PRNGKey(int(cell["data_seed"])), int(cell["n"]), int(cell["d"]))[:n_show]
    kernels, eigs = {}, {}
    depth = int(cell["depth"])
    for width in (int(df["width"].min()), int(df["width"].max())):
        spec = ntkfix.MLP(int(cell["d"]), width, depth)
        k = ntkfix.empirical_ntk(spec, spec.init(jax.random.PRNGKey(0)), x)
        kernels[f"empirical, m={width}"], eigs[f"empirical, m={width}"] = k, ntkfix.spectrum(k).eigenvalues
    k_inf = ntkfix.infinite_ntk(ntkfix.MLP(int(cell["d"]), 1, depth), x)
    kernels["infinite"], eigs["infinite"] = k_inf, ntkfix.spectrum(k_inf).eigenvalues
    plots.kernel_heatmaps(kernels, path=figs / "kernel_heatmaps", title=f"NTK on {n_show} points, depth {depth}")
    plots.spectra(eigs, path=figs / "kernel_spectra", title=f"NTK spectra, depth {depth}")
    paths += [figs / "kernel_heatmaps.png", figs / "kernel_spectra.png"]
    s = ", ".join(f"depth {r.depth}: {r.slope_fro:.3f}" for r in slopes.itertuples())
    text = (
        "Relative Frobenius distance ||Theta_m - Theta_inf||_F / ||Theta_inf||_F between the empirical NTK "
        "at initialization (ReLU = FAP there) and the infinite-width NTK, mean ± std over seeds. "
        f"Fitted log-log slope vs width: {s} (theory: -1/2)."
    )
    return Section("Finite vs infinite NTK", text, {"distance by width": table, "fitted slope": slopes}, paths)


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
