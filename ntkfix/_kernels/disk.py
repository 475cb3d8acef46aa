"""Kernels too large for memory: computed tile by tile into a .npy file, resumable.

``write_kernel`` writes any traced ``TileSource`` (``ntkfix._kernels.tiling``); the
front ends are ``empirical_ntk_to_disk`` and ``infinite_ntk_to_disk`` /
``infinite_nngp_to_disk`` (the closed form of ``ntkfix._kernels.closed_form``).

``empirical_ntk_to_disk(model, params, x, path)`` writes K(x, x) (n, n), traced over the
outputs, into ``path`` (a .npy memory map, ``numpy.lib.format.open_memmap``) while it
is computed, with the tiling of ``ntkfix._kernels.tiling`` (only tiles on and above the diagonal
are computed; each is written with its transpose). A sidecar text file
``path + ".progress"`` holds a JSON header (shape, dtype, tile size and a fingerprint
of the model, parameters and inputs) and one line ``i j`` per finished tile, appended
and flushed right after the tile's data were written into the map (both then sit in
the page cache, which survives the process being interrupted or killed; they are synced
to disk every ``SYNC_SECONDS``, or after every tile with ``durable=True``). Calling
again with the same arguments resumes: finished tiles are skipped, and the finished
result equals a one-shot run bit for bit. Different inputs for an existing file are
refused.

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
    check_inputs,
    check_nonneg_float,
    check_positive_int,
    is_concrete,
    normalize_layers,
)
from ntkfix._kernels.budget import check_disk_kernel
from ntkfix._kernels.closed_form import TEMPORARIES, closed_form_block, closed_form_source
from ntkfix._kernels.cost import network_source
from ntkfix._kernels.empirical import check_kernel_args
from ntkfix._kernels.sidecar import fingerprint, open_memmap, read_sidecar, sync
from ntkfix._kernels.structured import structured_source
from ntkfix._kernels.tiling import TileRunner, TileSource, default_block, plan
from ntkfix._models.base import Model, check_model, is_structured
from ntkfix._models.mlp import MLP, Params

SYNC_SECONDS = 60.0  # data and records are synced to disk at least this often
DISK_BLOCK = 2048  # default tile for on-disk kernels: fewer, larger tiles and file writes


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


def _check_part(part: Any) -> tuple[int, int]:
    """``part`` as (index, count) with 0 <= index < count; None -> (0, 1)."""
    if part is None:
        return 0, 1
    ok = isinstance(part, (tuple, list)) and len(part) == 2
    ints = ok and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in part)
    if not (ints and 0 <= part[0] < part[1]):
        raise ValueError(f"part must be (index, count) with 0 <= index < count, got {part!r}")
    return int(part[0]), int(part[1])


def empirical_ntk_to_disk(
    model: Model,
    params: Params,
    x: Any,
    path: str | os.PathLike,
    *,
    trainable: Any = None,
    block_size: int | None = None,
    progress: bool = True,
    devices: Any = None,
    part: tuple[int, int] | None = None,
    max_seconds: float | None = None,
    on_tile: Callable[[int, int], None] | None = None,
    durable: bool = False,
) -> np.memmap:
    """Empirical NTK K(x, x) (n, n), traced over outputs, written into the .npy file ``path``.

    Same kernel as ``ntkfix.empirical_ntk(model, params, x, trainable=...)``, bit for bit
    (same tiles), computed tile by tile into a memory map; resumable (module docstring).

    Args:
      model, params, x, trainable: as for ``empirical_ntk`` (x: (n, in_dim)).
      path: the .npy file to create (or to resume, when its progress file exists).
      block_size: tile size (default 2048 for n >= 8192, else as ``empirical_ntk``).
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

    Returns:
      the file opened read-only (``numpy.memmap``); with ``part``, only its tiles are filled.

    Raises:
      KernelTooLarge: disk, memory or time too short (the message gives the largest n).
      ValueError: ``path`` holds a run of other inputs.
    """
    model = check_model(model)
    params = model.check_params(params)
    x = model.check_inputs(x)
    if not all(is_concrete(a) for a in jax.tree_util.tree_leaves((model, params, x))):
        raise TypeError("empirical_ntk_to_disk writes files: it cannot run inside jax.jit/vmap")
    n = x.shape[0]
    dtype = np.dtype(jax.numpy.result_type(x.dtype, *jax.tree_util.tree_leaves(params)))
    if is_structured(model):
        layers = normalize_layers(trainable, model.spec.n_layers)
        source = structured_source(model, params, layers, True)
        auto, temporaries = default_block(model.spec.width, n), 2 * model.spec.depth + 3
    else:  # any other network: Jacobian contraction over all its parameters
        _, _, _, _, k = check_kernel_args(model, params, x, None, trainable)
        layers, temporaries = None, 2
        source, auto, _ = network_source(model, params, x, k, None, True)
    if block_size is None:
        block = DISK_BLOCK if n >= 4 * DISK_BLOCK and is_structured(model) else auto
    else:
        block = check_positive_int(block_size, "block_size")
    return write_kernel(
        source,
        x,
        path,
        fingerprint(model, params, x, layers, dtype),
        dtype,
        block,
        temporaries,
        progress=progress,
        devices=devices,
        part=part,
        max_seconds=max_seconds,
        on_tile=on_tile,
        durable=durable,
    )


def write_kernel(
    source: TileSource,
    x: jax.Array,
    path: str | os.PathLike,
    fp: str,
    dtype: np.dtype,
    block: int,
    temporaries: int,
    *,
    progress: bool = True,
    devices: Any = None,
    part: tuple[int, int] | None = None,
    max_seconds: float | None = None,
    on_tile: Callable[[int, int], None] | None = None,
    durable: bool = False,
) -> np.memmap:
    """K(x, x) of ``source`` (traced tiles), (n, n) ``dtype``, into the .npy file ``path``:
    the resumable writer behind every ``*_to_disk`` function (module docstring).

    ``fp``: the fingerprint of everything the kernel depends on (``sidecar.fingerprint``),
    kept in the progress record; ``temporaries``: tile-sized arrays per tile (memory
    estimate). Other arguments as for ``empirical_ntk_to_disk``.
    """
    n = x.shape[0]
    index, count = _check_part(part)
    max_seconds = check_nonneg_float(max_seconds, "max_seconds", allow_none=True)
    durable = check_bool(durable, "durable")
    if on_tile is not None and not callable(on_tile):
        raise TypeError(f"on_tile must be None or a callable (done, total), got {on_tile!r}")
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"folder {path.parent} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"path {path} is a folder: give the .npy file to write")
    side = path.with_name(
        path.name + (".progress" if count == 1 else f".part{index}of{count}.progress")
    )
    header = {
        "shape": [n, n],
        "dtype": dtype.str,
        "block": block,
        "part": [index, count],
        "fingerprint": fp,
    }
    if path.exists() and not side.exists() and count == 1:
        raise FileExistsError(
            f"{path} exists but has no progress file {side.name}: remove it or choose another path"
        )

    runner = TileRunner(source, x, None, devices=devices, feature_budget=2**62)
    tiles = [t for k, t in enumerate(plan(n, n, block, True)) if k % count == index]
    allocated = path.stat().st_blocks * 512 if path.exists() else 0
    plan_line = check_disk_kernel(
        source.feature_bytes(1),
        temporaries,
        n,
        block,
        dtype.itemsize,
        path,
        allocated,
        len(runner.devices),
    )
    if side.exists() and not path.exists():
        side.unlink()  # the kernel file was removed: its record is void
    done = read_sidecar(side, header)
    todo = [t for t in tiles if (t.i, t.j) not in done]
    bar = Progress(
        len(tiles),
        "ntkfix",
        unit="tile",
        initial=len(tiles) - len(todo),
        enabled=progress,
        every=30.0,
    )
    if todo:
        t_feat, t_tile = _probe(runner, x, block)
        est = (math.ceil(n / block) * t_feat + len(todo) * t_tile) / len(runner.devices)
        bar.log(
            f"n={n}: {len(todo)} of {len(tiles)} tiles of {block} to go on {len(runner.devices)} "
            f"device(s), ~{est:.0f} s of compute; {plan_line}"
        )
        if max_seconds is not None and est > max_seconds:
            bar.close()
            raise KernelTooLarge(
                f"estimated {est:.0f} s > max_seconds={max_seconds:g}; n ~ "
                f"{int(n * math.sqrt(max_seconds / est))} would fit"
            )
    if not side.exists():  # the record first: killed before the file exists, it is void
        side.write_text(json.dumps(header) + "\n")
    mm = open_memmap(path, (n, n), dtype, create=count > 1 or not path.exists())
    try:
        with open(side, "a") as rec:
            synced = time.perf_counter()
            for tile, blk in runner.run(todo):
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
                elif time.perf_counter() - synced > SYNC_SECONDS:
                    sync(mm, rec)
                    synced = time.perf_counter()
                bar.update()
                if on_tile is not None:
                    on_tile(bar.done, len(tiles))
            sync(mm, rec)
    except KeyboardInterrupt:
        bar.log(
            f"interrupted after {bar.done}/{len(tiles)} tiles; call again with the same "
            "arguments to resume"
        )
        raise
    finally:
        bar.close()
        del mm
    return np.load(path, mmap_mode="r")


def _infinite_to_disk(which, spec, x, path, trainable, block_size, kw) -> np.memmap:
    name = f"infinite_{which}_to_disk"
    if not isinstance(spec, MLP):
        raise TypeError(f"{name}: spec must be an ntkfix.MLP, got {type(spec).__name__}")
    x = check_inputs(x, "x", spec.in_dim)
    if not is_concrete(x):
        raise TypeError(f"{name} writes files: it cannot run inside jax.jit/vmap")
    layers = normalize_layers(trainable, spec.n_layers) if which == "ntk" else None
    n, dtype = x.shape[0], np.dtype(x.dtype)
    if block_size is None:
        block = DISK_BLOCK if n >= 4 * DISK_BLOCK else closed_form_block(n)
    else:
        block = check_positive_int(block_size, "block_size")
    all_layers = tuple(range(spec.n_layers))
    source = closed_form_source(spec, all_layers if layers is None else layers, which, dtype)
    fp = fingerprint(f"infinite {which} closed_form {spec!r}", (), x, layers, dtype)
    return write_kernel(source, x, path, fp, dtype, block, TEMPORARIES, **kw)


def infinite_ntk_to_disk(
    spec: MLP,
    x: Any,
    path: str | os.PathLike,
    *,
    trainable: Any = None,
    block_size: int | None = None,
    progress: bool = True,
    devices: Any = None,
    part: tuple[int, int] | None = None,
    max_seconds: float | None = None,
    on_tile: Callable[[int, int], None] | None = None,
    durable: bool = False,
) -> np.memmap:
    """Infinite-width NTK K(x, x) (n, n) of the ReLU MLP ``spec``, written into ``path``.

    Same kernel as ``ntkfix.infinite_ntk(spec, x, backend="closed_form",
    block_size=block_size, trainable=...)`` (same tiles, bit for bit), with the
    resumable writer of ``empirical_ntk_to_disk``: the .npy memory map, the progress
    record, resume after an interruption or kill, the estimate and refusal (disk,
    memory, ``max_seconds``); ``part`` shares the tiles between machines.

    Args:
      spec: the architecture (``ntkfix.MLP``); x: (n, in_dim) inputs.
      path: the .npy file to create (or to resume, when its progress file exists).
      trainable: dense layers whose parameters count (as ``infinite_ntk``).
      block_size: tile size (default 2048 for n >= 8192, else as ``infinite_ntk``).
      progress, devices, part, max_seconds, on_tile, durable: as
        ``empirical_ntk_to_disk``.

    Returns:
      the file opened read-only (``numpy.memmap``).

    Raises:
      KernelTooLarge: disk, memory or time too short (the message gives the largest n).
      ValueError: ``path`` holds a run of other inputs.
    """
    kw = dict(
        progress=progress,
        devices=devices,
        part=part,
        max_seconds=max_seconds,
        on_tile=on_tile,
        durable=durable,
    )
    return _infinite_to_disk("ntk", spec, x, path, trainable, block_size, kw)


def infinite_nngp_to_disk(
    spec: MLP,
    x: Any,
    path: str | os.PathLike,
    *,
    block_size: int | None = None,
    progress: bool = True,
    devices: Any = None,
    part: tuple[int, int] | None = None,
    max_seconds: float | None = None,
    on_tile: Callable[[int, int], None] | None = None,
    durable: bool = False,
) -> np.memmap:
    """Infinite-width NNGP K(x, x) (n, n) of ``spec`` into ``path``: ``infinite_nngp``'s
    closed form with the resumable writer (arguments as ``infinite_ntk_to_disk``)."""
    kw = dict(
        progress=progress,
        devices=devices,
        part=part,
        max_seconds=max_seconds,
        on_tile=on_tile,
        durable=durable,
    )
    return _infinite_to_disk("nngp", spec, x, path, None, block_size, kw)
