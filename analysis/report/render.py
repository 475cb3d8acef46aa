"""The report's pages: report.md (tables in Markdown, figures linked) and report.html
(self-contained: figures embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
import time
from pathlib import Path

from analysis.provenance import versions
from analysis.report.claims import claims_table
from analysis.report.section import Section
from analysis.runner import atomic_write_text
from analysis.tables import to_markdown


def claims_section(sections: list[Section]) -> Section:
    """The report's first section: one row per claim of the seed, from the sections' results."""
    table = claims_table({s.experiment: s.results for s in sections if s.results is not None})
    text = (
        "What the seed claims, what this run measured, where the number comes from and the "
        "verdict, each computed from the results below (thresholds in analysis/report/claims.py, "
        "depth_claims.py and data_claims.py)."
    )
    return Section("Claims", text, {"claims": table}, [])


def _md_section(sec: Section, out: Path) -> str:
    parts = [f"## {sec.title}\n", sec.text.strip() + "\n"]
    for name, df in sec.tables.items():
        parts.append(f"**{name}**\n\n" + to_markdown(df))
    if sec.caption and sec.figures:
        parts.append(f"*Figures.* {sec.caption}\n")
    for fig in sec.figures:
        parts.append(f"![{fig.stem}]({fig.relative_to(out).as_posix()})\n")
    if sec.config_toml:
        parts.append(
            "<details><summary>config</summary>\n\n```toml\n" + sec.config_toml + "```\n"
            "</details>\n"
        )
    return "\n".join(parts)


def _html_section(sec: Section) -> str:
    paragraphs = sec.text.strip().split("\n\n")
    parts = [
        f"<h2>{html.escape(sec.title)}</h2>",
        "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs),
    ]
    for name, df in sec.tables.items():
        parts.append(
            f"<h4>{html.escape(name)}</h4><div class='scroll'>"
            + df.to_html(index=False, border=0, classes="tbl", float_format=lambda v: f"{v:.4g}")
            + "</div>"
        )
    if sec.caption and sec.figures:
        parts.append(f"<p class='caption'><em>Figures.</em> {html.escape(sec.caption)}</p>")
    for fig in sec.figures:
        data = base64.b64encode(fig.read_bytes()).decode()
        parts.append(
            f'<figure><img alt="{html.escape(fig.stem)}" src="data:image/png;base64,{data}"/>'
            f"<figcaption>{html.escape(fig.name)}</figcaption></figure>"
        )
    if sec.config_toml:
        parts.append(
            f"<details><summary>config</summary><pre>{html.escape(sec.config_toml)}</pre></details>"
        )
    return "\n".join(parts)


CSS = (
    "body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;"
    "color:#222}\n"
    ".scroll{overflow-x:auto;max-width:100%}"
    "table.tbl{border-collapse:collapse;font-size:13px;margin:.5em 0}"
    "table.tbl td,table.tbl th{padding:2px 8px;border-bottom:1px solid #ddd}\n"
    "img{max-width:100%}figure{margin:1em 0}pre{background:#f5f5f5;padding:.5em}"
)


def write_report(
    sections: list[Section], out: Path, wall_s: float, quick: bool
) -> tuple[Path, Path]:
    """Write out/report.md and the self-contained out/report.html."""
    sections = [claims_section(sections), *sections]
    meta = versions()
    head = (
        f"Generated {time.strftime('%Y-%m-%d %H:%M:%S')} in {wall_s:.0f} s "
        f"({'quick' if quick else 'default'} suite). Versions: "
        + ", ".join(f"{k}={v}" for k, v in meta.items())
    )
    md = "# ntkfix report\n\n" + head + "\n\n" + "\n".join(_md_section(s, out) for s in sections)
    body = "\n".join(_html_section(s) for s in sections)
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>ntkfix report</title>"
        f"<style>{CSS}</style></head>"
        f"<body><h1>ntkfix report</h1><p>{html.escape(head)}</p>{body}</body></html>"
    )
    md_path, html_path = out / "report.md", out / "report.html"
    atomic_write_text(md_path, md)  # mode 0644
    atomic_write_text(html_path, page)
    return md_path, html_path
