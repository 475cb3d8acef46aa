"""Run an experiment's grid cell by cell, writing each finished cell at once.

Layout of an output folder for experiment E::

    OUT/E/config.toml      the config that produced these results (its hash guards reuse)
    OUT/E/cells/ID.json    one file per finished cell (atomic write), ID = hash of the cell
    OUT/E/results.csv      the tidy table: one row per measured cell (or per sub-row)

A rerun with the same config skips finished cells, so an interrupted run (Ctrl-C, a
crash, a lost machine) loses nothing it had finished. Cells are submitted to a
``concurrent.futures.Executor`` (in-process by default).
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.config import Config, ConfigError
from analysis.provenance import stable_hash, versions
from ntkfix.host import Progress


class InlineExecutor(cf.Executor):
    """An Executor that runs each task at submission, in this process."""

    def submit(self, fn, /, *args, **kwargs):
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as e:  # noqa: BLE001 - delivered through the future
            if isinstance(e, KeyboardInterrupt):
                raise
            fut.set_exception(e)
        return fut


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results and reports are for everyone to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cell_id(experiment: str, cell: dict[str, Any]) -> str:
    return stable_hash({"experiment": experiment, "cell": cell})


def run_cell(experiment: str, cell: dict[str, Any]) -> list[dict[str, Any]]:
    """Run one cell (importable by reference, so it can travel to a remote worker)."""
    from analysis.experiments import get_experiment

    exp = get_experiment(experiment)
    t0 = time.perf_counter()
    rows = exp.run_cell(dict(cell))
    wall = time.perf_counter() - t0
    rows = [rows] if isinstance(rows, dict) else list(rows)
    meta = versions()
    return [{**cell, **row, **meta, "wall_time_s": wall} for row in rows]


def _guard_folder(exp_dir: Path, config: Config) -> None:
    marker = exp_dir / "config.toml"
    if marker.exists():
        from analysis.config import parse_config

        try:
            name, grid, params = parse_config(marker.read_text(), str(marker))
            old = Config(name, {k: tuple(v) for k, v in grid.items()}, params)
            same = old.hash == config.hash
        except ConfigError:
            same = False
        if not same:
            raise ConfigError(
                f"{exp_dir} holds results of another config; use another --out folder or remove it"
            )
    else:
        atomic_write_text(marker, config.to_toml())


def run_experiment(
    config: Config,
    out: str | Path,
    *,
    executor: cf.Executor | None = None,
    progress: bool = True,
    on_cell: Callable[[dict], None] | None = None,
) -> pd.DataFrame:
    """Run every unfinished cell of ``config`` into ``out``; return the full tidy table.

    Args:
      config: a validated ``Config``.
      out: output folder (``out/<experiment>/`` is used).
      executor: where cells run (default: in this process, one after another).
      progress: show progress (``ntkfix.host.Progress``: a bar on a terminal,
        one plain line per finished cell otherwise).
      on_cell: called with each finished cell's knobs (tests use it to interrupt).
    """
    exp_dir = Path(out) / config.experiment
    cells_dir = exp_dir / "cells"
    cells_dir.mkdir(parents=True, exist_ok=True)
    _guard_folder(exp_dir, config)
    cells = config.cells()
    ids = [cell_id(config.experiment, c) for c in cells]
    todo = [
        (i, c) for i, c in zip(ids, cells, strict=True) if not (cells_dir / f"{i}.json").exists()
    ]
    bar = Progress(len(todo), config.experiment, unit="cell", enabled=progress)
    executor = executor or InlineExecutor()
    pending: dict[cf.Future, tuple[str, dict]] = {}

    def finish(fut: cf.Future) -> None:
        i, c = pending.pop(fut)
        rows = fut.result()
        for r in rows:
            r["config_hash"] = config.hash
            r["cell_id"] = i
        atomic_write_text(cells_dir / f"{i}.json", json.dumps(rows, default=_jsonable))
        knobs = ", ".join(f"{k}={c[k]}" for k in config.grid)
        bar.update(f"{knobs} ({rows[0]['wall_time_s']:.1f}s)")
        if on_cell is not None:
            on_cell(c)

    try:
        for i, c in todo:
            pending[executor.submit(run_cell, config.experiment, c)] = (i, c)
            for fut in [f for f in pending if f.done()]:  # an inline executor finishes at once
                finish(fut)
        for fut in cf.as_completed(list(pending)):
            finish(fut)
    finally:
        bar.close()
    return collect(exp_dir, ids)


def _jsonable(v):
    try:
        return v.item()
    except AttributeError:
        return str(v)


def collect(exp_dir: Path, ids: list[str] | None = None) -> pd.DataFrame:
    """Read finished cells (in grid order when ``ids`` is given) and write results.csv."""
    cells_dir = exp_dir / "cells"
    if ids is not None:
        files = [cells_dir / f"{i}.json" for i in ids]
    else:
        files = sorted(cells_dir.glob("*.json"))
    rows = [r for f in files if f.exists() for r in json.loads(f.read_text())]
    df = pd.DataFrame(rows)
    atomic_write_text(exp_dir / "results.csv", df.to_csv(index=False))
    return df
