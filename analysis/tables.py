"""Summary tables (mean ± std over seeds) written as Markdown, LaTeX and CSV.

Markdown and LaTeX are rendered here (no tabulate/jinja2 dependency). ``markdown`` is
the one Markdown table writer of the project (the benchmark harness uses it too, on
machines without pandas: pandas is imported only inside the functions that need it).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


def summarize(df: pd.DataFrame, by: list[str], values: list[str]) -> pd.DataFrame:
    """Mean, std and count of ``values`` per group of ``by`` (seeds are averaged).

    Returns one row per group with columns ``<v>_mean``, ``<v>_std`` and ``n_seeds``.
    """
    missing = [c for c in by + values if c not in df.columns]
    if missing:
        raise KeyError(f"summarize: columns {missing} not in the table (has {list(df.columns)})")
    g = df.groupby(by, sort=True)
    out = g[values].agg(["mean", "std"])
    out.columns = [f"{v}_{s}" for v, s in out.columns]
    out["n_seeds"] = g.size()
    return out.reset_index()


def _fmt(x) -> str:
    if isinstance(x, (float, np.floating)):
        if not np.isfinite(x):
            return str(x)
        return f"{x:.4g}"
    return str(x)


def pm_table(summary: pd.DataFrame, by: list[str], values: list[str]) -> pd.DataFrame:
    """Display table with ``mean ± std`` strings for ``values``."""
    import pandas as pd

    out = summary[by].copy()
    for v in values:
        m, s = summary[f"{v}_mean"], summary[f"{v}_std"]
        out[v] = [
            f"{_fmt(a)} ± {_fmt(b)}" if pd.notna(b) else _fmt(a) for a, b in zip(m, s, strict=True)
        ]
    if "n_seeds" in summary:
        out["seeds"] = summary["n_seeds"]
    return out


def markdown(columns: Iterable, rows: Iterable[Iterable]) -> str:
    """A Markdown table: a header of ``columns``, then one line per row (numbers to 4
    significant digits, anything else as ``str``)."""
    cols = [str(c) for c in columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def to_markdown(df: pd.DataFrame) -> str:
    return markdown(df.columns, df.itertuples(index=False))


def _tex(s: str) -> str:
    for a, b in (
        ("\\", r"\textbackslash{}"),
        ("_", r"\_"),
        ("%", r"\%"),
        ("&", r"\&"),
        ("#", r"\#"),
        ("±", r"$\pm$"),
    ):
        s = s.replace(a, b)
    return s


def to_latex(df: pd.DataFrame) -> str:
    cols = [_tex(str(c)) for c in df.columns]
    lines = [
        r"\begin{tabular}{" + "l" * len(cols) + "}",
        r"\toprule",
        " & ".join(cols) + r" \\",
        r"\midrule",
    ]
    for row in df.itertuples(index=False):
        lines.append(" & ".join(_tex(_fmt(v)) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def write_table(df: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Write ``stem``.md, .tex and .csv; returns the paths."""
    from analysis.runner import atomic_write_text

    stem = Path(stem)
    paths = [stem.with_suffix(s) for s in (".md", ".tex", ".csv")]
    atomic_write_text(paths[0], to_markdown(df))
    atomic_write_text(paths[1], to_latex(df))
    atomic_write_text(paths[2], df.to_csv(index=False))
    return paths


def pm_pivot(
    df: pd.DataFrame, index: list[str], column: str, value: str, order: list | None = None
) -> pd.DataFrame:
    """Wide display table of ``value`` as ``mean ± std`` over seeds: one row per ``index``
    group, one column per distinct ``column`` entry (in ``order`` when given)."""
    summ = summarize(df, index + [column], [value])
    long = pm_table(summ, index + [column], [value])
    wide = long.pivot(index=index, columns=column, values=value)
    cols = [c for c in (order if order is not None else wide.columns) if c in wide.columns]
    out = wide[cols].reset_index()
    out.columns.name = None
    return out
