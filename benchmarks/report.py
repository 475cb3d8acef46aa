"""Tables and figures of a benchmark run: ``results.csv``, ``summary.md``, ``bench.png``.

Ratios are neural-tangents / ntkfix on the same (model, n, width, depth): time ratio
> 1 means ntkfix is faster, memory ratio > 1 means ntkfix needs less. ``rel_diff`` is
|‖K_method‖_F - ‖K_ntkfix‖_F| / ‖K_ntkfix‖_F, a cheap check that all methods computed
the same kernel. Only the standard library and numpy are needed (the Markdown table is
``analysis.tables.markdown``); the plot needs matplotlib and is skipped (with a note)
without it.
"""

from __future__ import annotations

import csv
from pathlib import Path

from analysis.tables import markdown

COLUMNS = [
    "model",
    "n",
    "width",
    "depth",
    "in_dim",
    "method",
    "status",
    "time_s",
    "time_min_s",
    "rounds",
    "time_s_rounds",
    "compile_s",
    "peak_bytes",
    "mem_kind",
    "flops",
    "gflops",
    "roofline_gflops",
    "roofline_frac",
    "time_ratio",
    "mem_ratio",
    "rel_diff",
    "contention_cores",
    "k_fro",
    "k_trace",
    "backend",
    "device_kind",
    "n_devices",
]
LABEL = {
    "ntkfix": "ntkfix",
    "nt_sd": "NT structured",
    "nt_jc": "NT jacobian",
    "nt_nvp": "NT ntk-vp",
}


def _key(r: dict) -> tuple:
    return (r["model"], r["n"], r["width"], r["depth"])


def add_ratios(rows: list[dict]) -> None:
    """Add time_ratio, mem_ratio and rel_diff (method vs ntkfix, same cell) in place."""
    base = {_key(r): r for r in rows if r["method"] == "ntkfix" and r["status"] == "ok"}
    for r in rows:
        b = base.get(_key(r))
        if b is None or r["status"] != "ok":
            continue
        r["time_ratio"] = r["time_s"] / b["time_s"]
        if r.get("peak_bytes") and b.get("peak_bytes"):
            r["mem_ratio"] = r["peak_bytes"] / b["peak_bytes"]
        if b.get("k_fro"):
            r["rel_diff"] = abs(r["k_fro"] - b["k_fro"]) / b["k_fro"]


def write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in COLUMNS})
    return path


def _mib(b) -> str:
    return "-" if not b else f"{b / 2**20:.0f}"


def _rate(gflops: float) -> str:
    return f"{gflops / 1e3:.2f} T" if gflops >= 1e4 else f"{gflops:.0f}"


def markdown_table(rows: list[dict]) -> str:
    """One line per (model, n, width, depth): ntkfix's time, rate, roofline share and
    memory, then each neural-tangents method's time (ratio) and memory (ratio)."""
    methods = [m for m in LABEL if any(r["method"] == m for r in rows)]
    others = [m for m in methods if m != "ntkfix"]
    head = ["model", "n", "width", "depth"]
    if "ntkfix" in methods:
        head += ["ntkfix s", "GFLOP/s", "% matmul", "ntkfix MiB"]
    for m in others:
        head += [f"{LABEL[m]} s (x)", f"{LABEL[m]} MiB (x)"]
    body = []
    by = {}
    for r in rows:
        by.setdefault(_key(r), {})[r["method"]] = r
    for key, ms in by.items():
        cells = [str(v) for v in key]
        f = ms.get("ntkfix")
        if "ntkfix" in methods:
            if f and f["status"] == "ok":
                cells += [
                    f"{f['time_s']:.3f}",
                    _rate(f["gflops"]),
                    f"{100 * f['roofline_frac']:.0f}%",
                    _mib(f.get("peak_bytes")),
                ]
            else:
                cells += ["-"] * 4
        for m in others:
            r = ms.get(m)
            if r is None or r["status"] != "ok":
                cells += ["skip" if r and r["status"].startswith("skipped") else "fail", "-"]
                continue
            tr = f" ({r['time_ratio']:.1f}x)" if r.get("time_ratio") else ""
            mr = f" ({r['mem_ratio']:.1f}x)" if r.get("mem_ratio") else ""
            cells += [f"{r['time_s']:.3f}{tr}", f"{_mib(r.get('peak_bytes'))}{mr}"]
        body.append(cells)
    return markdown(head, body)


def notes(rows: list[dict]) -> list[str]:
    out = []
    for r in rows:
        if r["status"] != "ok":
            out.append(
                f"- {r['model']} n={r['n']} width={r['width']} depth={r['depth']} "
                f"{r['method']}: {r['status']}"
            )
    busy = [r for r in rows if (r.get("contention_cores") or 0) > 0.3]
    if busy:
        out.append(
            f"- {len(busy)} measurement(s) ran while other processes used > 0.3 cores "
            "(column contention_cores of results.csv): treat them as noisy."
        )
    bad = [r for r in rows if (r.get("rel_diff") or 0) > 1e-3]
    for r in bad:
        out.append(
            f"- WARNING {r['method']} {r['model']} n={r['n']}: kernel norm differs from "
            f"ntkfix by {r['rel_diff']:.1e}"
        )
    return out


def plot(path: Path, rows: list[dict]) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    ok = [r for r in rows if r["status"] == "ok"]
    keys = sorted({_key(r) for r in ok}, key=lambda k: next(r["flops"] for r in ok if _key(r) == k))
    if not keys:
        return None
    idx = {k: i for i, k in enumerate(keys)}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5))
    for m, label in LABEL.items():
        pts = sorted((idx[_key(r)], r["time_s"]) for r in ok if r["method"] == m)
        if pts:
            ax1.plot(*zip(*pts, strict=True), "o-", label=label)
    ax1.set_yscale("log")
    ax1.set_ylabel("wall time per call (s, median)")
    ax1.set_title("empirical NTK K(x, x), float32")
    ax1.legend()
    frac = sorted((idx[_key(r)], 100 * r["roofline_frac"]) for r in ok if r["method"] == "ntkfix")
    if frac:
        ax2.bar(*zip(*frac, strict=True), color="tab:blue")
    ax2.axhline(70, color="k", ls="--", lw=1, label="70% target")
    ax2.set_ylabel("ntkfix achieved / measured matmul (%)")
    ax2.set_title("share of the matmul roofline (ntk_flops, symmetric)")
    ax2.legend()
    labels = [f"{m[0]} n{n}\nw{w} d{d}" for m, n, w, d in keys]
    for ax in (ax1, ax2):
        ax.set_xticks(range(len(keys)))
        ax.set_xticklabels(labels, fontsize=6, rotation=90)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write(
    out: Path, rows: list[dict], roof: dict, info: dict, *, grid_name: str, elapsed: float
) -> list[Path]:
    """Write results.csv, summary.md and (with matplotlib) bench.png into ``out``."""
    paths = [write_csv(out / "results.csv", rows)]
    png = plot(out / "bench.png", rows)
    machine_lines = [f"- {k}: {v}" for k, v in info.items() if v != ""]
    text = [
        f"# Benchmark ({grid_name} grid, {elapsed / 60:.1f} min)",
        "",
        "## Machine",
        *machine_lines,
        f"- roofline: {roof['matmul_n']}^3 float32 matmul, {roof['gflops']:.1f} GFLOP/s "
        f"(best of {len(roof['times'])}, the better of the runs at the start and the end; "
        f"median {roof['gflops_median']:.1f})",
        "",
        "## Results",
        "",
        "Times are medians (compile excluded), ratios neural-tangents / ntkfix. GFLOP/s "
        "count `ntkfix._kernels.structured.ntk_flops` (symmetric). MiB: peak memory of one "
        "call above the process after imports and compilation.",
        "",
        markdown_table(rows),  # ends with a newline: the blank line before what follows
        *(["## Notes", "", *listed, ""] if (listed := notes(rows)) else []),
        "![benchmark](bench.png)" if png else "(no plot: matplotlib is not installed)",
    ]
    md = out / "summary.md"
    md.write_text("\n".join(text) + "\n")
    paths.append(md)
    if png:
        paths.append(png)
    return paths
