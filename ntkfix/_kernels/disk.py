"""Kernels too large for memory: computed tile by tile into a .npy file, resumable.

``write_kernel`` writes the traced kernel of any ``KernelPlan``
(``ntkfix._kernels.plan``) in three steps: ``plan_job`` (arguments, paths, the record's
header, the disk and memory plan), ``resume`` (which tiles are already done, the time
estimate and its refusal) and ``write`` (the loop). Its front ends are the kernel
objects' ``to_disk`` (``ntkfix._kernels.kernel``) and ``empirical_ntk_to_disk`` /
``infinite_ntk_to_disk`` / ``infinite_nngp_to_disk``.

K(x, x) (n, n), traced over the outputs, is written into ``path`` (a .npy memory map,
``numpy.lib.format.open_memmap``) while it is computed, with the tiling of
``ntkfix._kernels.tiling`` (only tiles on and above the diagonal are computed; each is
written with its transpose). A sidecar text file ``path + ".progress"`` holds a JSON
header (shape, dtype, tile size and a fingerprint of the model, parameters and inputs)
and one line ``i j`` per finished tile, appended and flushed right after the tile's data
were written into the map (both then sit in the page cache, which survives the process
being interrupted or killed; they are synced to disk every ``SYNC_SECONDS``, or after
every tile with ``durable=True``). Calling again with the same arguments resumes:
finished tiles are skipped, and the finished result equals a one-shot run bit for bit.
Different inputs for an existing file are refused.

Before anything is written, memory and time are estimated (features of all n inputs
are kept in memory: n * sum_l (fan_in_l + k m) * itemsize bytes, plus a few tiles; disk
needs n^2 * itemsize bytes; time from a timed probe tile) and the call is refused with
the largest n that would fit when the disk or the available RAM is too small (or the
estimated time exceeds ``max_seconds``).

Several machines (``part=(index, count)``, e.g. ``(jax.process_index(),
jax.process_count())`` after ``jax.distributed.initialize``) can share one file on a
shared filesystem: part p computes the tiles t with t % count == p and keeps its own
sidecar ``path + ".part{p}of{count}.progress"``; the first part to arrive creates the
file (exclusive create), the others wait for it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from ntkfix._core.errors import KernelTooLarge
from ntkfix._core.progress import Progress
from ntkfix._core.validate import (
    check_bool,
    check_nonneg_float,
    check_positive_int,
    unknown_fields,
)
from ntkfix._kernels.budget import check_disk_kernel
from ntkfix._kernels.plan import KernelPlan
from ntkfix._kernels.sidecar import open_memmap, read_sidecar, sync
from ntkfix._kernels.tiling import Tile, TileRunner, plan

SYNC_SECONDS = 60.0  # data and records are synced to disk at least this often
DISK_BLOCK = 2048  # default tile for on-disk kernels: fewer, larger tiles and file writes
# implementations whose tile memory is O(block^2) (not O(block k P)): their on-disk
# tiles grow to DISK_BLOCK for large n
LARGE_TILES = frozenset({"structured", "closed_form"})


def _check_part(part: Any) -> tuple[int, int]:
    """``part`` as (index, count) with 0 <= index < count; None -> (0, 1)."""
    if part is None:
        return 0, 1
    ok = isinstance(part, (tuple, list)) and len(part) == 2
    ints = ok and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in part)
    if not (ints and 0 <= part[0] < part[1]):
        raise ValueError(f"part must be (index, count) with 0 <= index < count, got {part!r}")
    return int(part[0]), int(part[1])


@dataclasses.dataclass(frozen=True)
class DiskOptions:
    """How a kernel is written to disk (every ``*_to_disk`` and ``Kernel.to_disk``).

    Attributes:
      block_size: tile size (default 2048 for n >= 8192 when the implementation's tile
        memory allows it, else the kernel's in-memory block).
      progress: a tqdm bar on a terminal, otherwise a log line on stderr every 30 s.
      devices: None (all local devices), an int or a list of ``jax.Device``.
      part: ``(index, count)``: compute only this machine's share of the tiles.
      max_seconds: refuse when the estimated time exceeds it.
      on_tile: called as ``on_tile(done, total)`` after each tile is recorded (an
        exception raised there stops the run; what was recorded is kept).
      durable: flush each tile's data to disk (msync) before recording it and fsync the
        record. Without it (default, much faster) data and records are synced every
        ``SYNC_SECONDS`` and at the end: an interrupted or killed process loses nothing
        (both sit in the page cache), but after an OS crash or power loss the last
        records may point at tiles whose data did not reach the disk.
    """

    block_size: int | None = None
    progress: bool = True
    devices: Any = None
    part: tuple[int, int] | None = None
    max_seconds: float | None = None
    on_tile: Callable[[int, int], None] | None = None
    durable: bool = False

    def __post_init__(self):
        if self.block_size is not None:
            check_positive_int(self.block_size, "block_size")
        object.__setattr__(self, "part", _check_part(self.part))
        seconds = check_nonneg_float(self.max_seconds, "max_seconds", allow_none=True)
        object.__setattr__(self, "max_seconds", seconds)
        check_bool(self.durable, "durable")
        if self.on_tile is not None and not callable(self.on_tile):
            raise TypeError(
                f"on_tile must be None or a callable (done, total), got {self.on_tile!r}"
            )

    @classmethod
    def of(cls, options: dict) -> DiskOptions:
        """``DiskOptions(**options)``, naming an unknown option and the known ones."""
        unknown, known = unknown_fields(cls, options)
        if unknown:
            raise TypeError(
                f"unknown option(s) {', '.join(unknown)} for writing a kernel to disk; "
                f"known: {', '.join(known)}"
            )
        return cls(**options)


@dataclasses.dataclass(frozen=True, eq=False)
class DiskJob:
    """A planned on-disk kernel: what ``resume`` and ``write`` need."""

    runner: TileRunner
    x: jax.Array
    path: Path
    side: Path
    header: dict
    tiles: list[Tile]
    block: int
    dtype: np.dtype
    plan_line: str
    options: DiskOptions


def _paths(path: Any, count: int, index: int) -> tuple[Path, Path]:
    """(the .npy file, its progress record), checked."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"folder {path.parent} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"path {path} is a folder: give the .npy file to write")
    side = path.with_name(
        path.name + (".progress" if count == 1 else f".part{index}of{count}.progress")
    )
    if path.exists() and not side.exists() and count == 1:
        raise FileExistsError(
            f"{path} exists but has no progress file {side.name}: remove it or choose another path"
        )
    return path, side


def disk_block(kplan: KernelPlan, n: int, options: DiskOptions) -> int:
    """Rows per on-disk tile (``DiskOptions.block_size``)."""
    if options.block_size is not None:
        return options.block_size
    if n >= 4 * DISK_BLOCK and kplan.implementation in LARGE_TILES:
        return DISK_BLOCK
    return kplan.block


def plan_job(
    kplan: KernelPlan, x: jax.Array, path: Any, fp: str, dtype: np.dtype, options: DiskOptions
) -> DiskJob:
    """Paths, the record's header, the tiles of this part, and the disk and memory plan
    (``KernelTooLarge`` when they do not fit)."""
    n = x.shape[0]
    index, count = options.part
    path, side = _paths(path, count, index)
    block = disk_block(kplan, n, options)
    header = {
        "shape": [n, n],
        "dtype": dtype.str,
        "block": block,
        "part": [index, count],
        "fingerprint": fp,
    }
    runner = TileRunner(kplan.source, x, None, devices=options.devices, feature_budget=2**62)
    tiles = [t for k, t in enumerate(plan(n, n, block, True)) if k % count == index]
    allocated = path.stat().st_blocks * 512 if path.exists() else 0
    plan_line = check_disk_kernel(
        kplan.source.feature_bytes(1),
        kplan.temporaries,
        n,
        block,
        dtype.itemsize,
        path,
        allocated,
        len(runner.devices),
    )
    return DiskJob(runner, x, path, side, header, tiles, block, dtype, plan_line, options)


def _probe(runner: TileRunner, x: jax.Array, block: int) -> tuple[float, float]:
    """Seconds for the features of one block and for one tile (after compilation)."""
    dev = runner.devices[0]
    f = jax.block_until_ready(runner.block_features(x[:block], dev))
    t0 = time.perf_counter()
    f = jax.block_until_ready(runner.block_features(x[:block], dev))
    t_feat = time.perf_counter() - t0
    jax.block_until_ready(runner.source.tile(f, f, False))
    t0 = time.perf_counter()
    jax.block_until_ready(runner.source.tile(f, f, False))
    return t_feat, time.perf_counter() - t0


def resume(job: DiskJob) -> tuple[list[Tile], Progress]:
    """The tiles still to compute (those in the record are done) and the progress bar;
    with work left, the estimate is logged and ``max_seconds`` enforced."""
    if job.side.exists() and not job.path.exists():
        job.side.unlink()  # the kernel file was removed: its record is void
    done = read_sidecar(job.side, job.header)
    todo = [t for t in job.tiles if (t.i, t.j) not in done]
    total, n_dev = len(job.tiles), len(job.runner.devices)
    bar = Progress(
        total,
        "ntkfix",
        unit="tile",
        initial=total - len(todo),
        enabled=job.options.progress,
        every=30.0,
    )
    if todo:
        n, block = job.x.shape[0], job.block
        t_feat, t_tile = _probe(job.runner, job.x, block)
        est = (math.ceil(n / block) * t_feat + len(todo) * t_tile) / n_dev
        bar.log(
            f"n={n}: {len(todo)} of {total} tiles of {block} to go on {n_dev} "
            f"device(s), ~{est:.0f} s of compute; {job.plan_line}"
        )
        limit = job.options.max_seconds
        if limit is not None and est > limit:
            bar.close()
            raise KernelTooLarge(
                f"estimated {est:.0f} s > max_seconds={limit:g}; n ~ "
                f"{int(n * math.sqrt(limit / est))} would fit"
            )
    return todo, bar


def _record_tile(mm, rec, tile: Tile, blk, durable: bool) -> None:
    """A tile's data (and its transpose) into the map, then its line in the record."""
    a = np.asarray(blk)
    mm[tile.r0 : tile.r1, tile.c0 : tile.c1] = a
    if not tile.diag:
        mm[tile.c0 : tile.c1, tile.r0 : tile.r1] = a.T
    if durable:  # the data, then its record, each on disk before going on
        mm.flush()
    rec.write(f"{tile.i} {tile.j}\n")
    rec.flush()
    if durable:
        os.fsync(rec.fileno())


def write(job: DiskJob, todo: list[Tile], bar: Progress) -> None:
    """Compute ``todo`` and write each tile into the map, recording it once written."""
    opts, total = job.options, len(job.tiles)
    if not job.side.exists():  # the record first: killed before the file exists, it is void
        job.side.write_text(json.dumps(job.header) + "\n")
    n, count = job.x.shape[0], opts.part[1]
    mm = open_memmap(job.path, (n, n), job.dtype, create=count > 1 or not job.path.exists())
    try:
        with open(job.side, "a") as rec:
            synced = time.perf_counter()
            for tile, blk in job.runner.run(todo):
                _record_tile(mm, rec, tile, blk, opts.durable)
                if not opts.durable and time.perf_counter() - synced > SYNC_SECONDS:
                    sync(mm, rec)
                    synced = time.perf_counter()
                bar.update()
                if opts.on_tile is not None:
                    opts.on_tile(bar.done, total)
            sync(mm, rec)
    except KeyboardInterrupt:
        bar.log(
            f"interrupted after {bar.done}/{total} tiles; call again with the same "
            "arguments to resume"
        )
        raise
    finally:
        bar.close()
        del mm


def write_kernel(
    kplan: KernelPlan, x: jax.Array, path: Any, fp: str, dtype: np.dtype, options: DiskOptions
) -> np.memmap:
    """K(x, x) of ``kplan`` (traced tiles), (n, n) ``dtype``, into the .npy file ``path``:
    the resumable writer behind every ``to_disk`` (module docstring).

    ``fp``: the fingerprint of everything the kernel depends on (``sidecar.fingerprint``),
    kept in the progress record.

    Returns:
      the file opened read-only (``numpy.memmap``); with ``part``, only its tiles are filled.

    Raises:
      KernelTooLarge: disk, memory or time too short (the message gives the largest n).
      ValueError: ``path`` holds a run of other inputs.
    """
    job = plan_job(kplan, x, path, fp, dtype, options)
    todo, bar = resume(job)
    write(job, todo, bar)
    return np.load(job.path, mmap_mode="r")
