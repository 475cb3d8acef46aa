"""The one-command report: run the suite, then write figures, tables, report.md/.html.

Each experiment contributes a ``Section`` (title, text, tables, figures) built by a
function registered in ``SECTIONS`` from its tidy results table.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from analysis import experiments
from analysis.provenance import versions
from analysis.runner import atomic_write_text, run_experiment


@dataclasses.dataclass(frozen=True)
class Section:
    """Part of the report: ``tables`` name -> DataFrame, ``figures`` = PNG paths."""

    title: str
    text: str
    tables: dict[str, pd.DataFrame]
    figures: list[Path]
    config_toml: str = ""


SectionFn = Callable[[pd.DataFrame, Path], Section]
SECTIONS: dict[str, SectionFn] = {}


def section(name: str):
    def register(fn: SectionFn) -> SectionFn:
        SECTIONS[name] = fn
        return fn

    return register


# The experiments of ``ntkfix report``, in order.
SUITE = [
    "kernel_distance",
    "dynamics",
    "width_threshold",
    "conversion",
    "generalization_noise",
    "generalization_size",
]


def run_suite(out: Path, quick: bool, suite: list[str] | None = None, progress: bool = True) -> list[Section]:
    from analysis import report_sections  # noqa: F401  (registers SECTIONS)

    sections = []
    for name in suite or SUITE:
        cfg = experiments.shipped_config(name, quick=quick)
        df = run_experiment(cfg, out / "raw", progress=progress)
        sec = SECTIONS[name](df, out)
        sections.append(dataclasses.replace(sec, config_toml=cfg.to_toml()))
    return sections


def _md_section(sec: Section, out: Path) -> str:
    from analysis.tables import to_markdown

    parts = [f"## {sec.title}\n", sec.text.strip() + "\n"]
    for name, df in sec.tables.items():
        parts.append(f"**{name}**\n\n" + to_markdown(df))
    for fig in sec.figures:
        parts.append(f"![{fig.stem}]({fig.relative_to(out).as_posix()})\n")
    parts.append("<details><summary>config</summary>\n\n```toml\n" + sec.config_toml + "```\n</details>\n")
    return "\n".join(parts)


def _html_section(sec: Section) -> str:
    parts = [f"<h2>{html.escape(sec.title)}</h2>", "".join(f"<p>{html.escape(p)}</p>" for p in sec.text.strip().split("\n\n"))]
    for name, df in sec.tables.items():
        parts.append(f"<h4>{html.escape(name)}</h4>" + df.to_html(index=False, border=0, classes="tbl", float_format=lambda v: f"{v:.4g}"))
    for fig in sec.figures:
        data = base64.b64encode(fig.read_bytes()).decode()
        parts.append(f'<figure><img alt="{html.escape(fig.stem)}" src="data:image/png;base64,{data}"/><figcaption>{html.escape(fig.name)}</figcaption></figure>')
    parts.append(f"<details><summary>config</summary><pre>{html.escape(sec.config_toml)}</pre></details>")
    return "\n".join(parts)


CSS = """body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
table.tbl{border-collapse:collapse;font-size:13px;margin:.5em 0}table.tbl td,table.tbl th{padding:2px 8px;border-bottom:1px solid #ddd}
img{max-width:100%}figure{margin:1em 0}pre{background:#f5f5f5;padding:.5em}"""


def write_report(sections: list[Section], out: Path, wall_s: float, quick: bool) -> tuple[Path, Path]:
    """Write out/report.md and the self-contained out/report.html."""
    meta = versions()
    head = (
        f"Generated {time.strftime('%Y-%m-%d %H:%M:%S')} in {wall_s:.0f} s "
        f"({'quick' if quick else 'default'} suite). Versions: "
        + ", ".join(f"{k}={v}" for k, v in meta.items())
    )
    md = "# ntkfix report\n\n" + head + "\n\n" + "\n".join(_md_section(s, out) for s in sections)
    body = "\n".join(_html_section(s) for s in sections)
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>ntkfix report</title><style>{CSS}</style></head>"
        f"<body><h1>ntkfix report</h1><p>{html.escape(head)}</p>{body}</body></html>"
    )
    md_path, html_path = out / "report.md", out / "report.html"
    atomic_write_text(md_path, md)
    atomic_write_text(html_path, page)
    return md_path, html_path


def make_report(out: str | Path, quick: bool = False, suite: list[str] | None = None, progress: bool = True):
    """Run the suite into ``out`` and write the report; returns (report.md, report.html)."""
    out = Path(out)
    t0 = time.perf_counter()
    sections = run_suite(out, quick, suite, progress)
    return write_report(sections, out, time.perf_counter() - t0, quick)
