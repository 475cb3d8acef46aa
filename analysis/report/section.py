"""A part of the report: what each experiment's section function returns."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pandas as pd


@dataclasses.dataclass(frozen=True)
class Section:
    """Part of the report: ``tables`` name -> DataFrame, ``figures`` = PNG paths,
    ``caption`` one sentence saying what the figures show; ``results`` the experiment's tidy
    table (what the claims are computed from), set by ``run_suite``."""

    title: str
    text: str
    tables: dict[str, pd.DataFrame]
    figures: list[Path]
    config_toml: str = ""
    caption: str = ""
    experiment: str = ""
    results: pd.DataFrame | None = dataclasses.field(default=None, repr=False, compare=False)


# (tidy results table, output folder) -> Section; writes its tables and figures there.
SectionFn = Callable[[pd.DataFrame, Path], Section]
