"""``ntkfix report``: run the suite's experiments, build their sections, write the report."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from analysis import experiments, plots
from analysis.report.render import write_report
from analysis.report.section import Section
from analysis.report.sections import SECTIONS
from analysis.runner import run_experiment

# The experiments of ``ntkfix report``, in order: every one with a section.
SUITE = list(SECTIONS)


def run_suite(
    out: Path, quick: bool, suite: list[str] | None = None, progress: bool = True
) -> list[Section]:
    sections = []
    for name in suite or SUITE:
        cfg = experiments.shipped_config(name, quick=quick)
        df = run_experiment(cfg, out / "raw", progress=progress)
        sec = SECTIONS[name](df, out)
        sections.append(
            dataclasses.replace(sec, config_toml=cfg.to_toml(), experiment=name, results=df)
        )
    return sections


def make_report(
    out: str | Path, quick: bool = False, suite: list[str] | None = None, progress: bool = True
):
    """Run the suite into ``out`` and write the report; returns (report.md, report.html)."""
    plots.use_file_backend()  # the report's figures are files
    out = Path(out)
    t0 = time.perf_counter()
    sections = run_suite(out, quick, suite, progress)
    return write_report(sections, out, time.perf_counter() - t0, quick)
