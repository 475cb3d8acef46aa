"""The file format of an on-disk kernel: a .npy memory map and its progress record.

``path`` is a .npy file (``numpy.lib.format.open_memmap``); ``path + ".progress"`` (or
``.part{p}of{count}.progress``) holds a JSON header line (shape, dtype, tile size, part
and a ``fingerprint`` of model, parameters and inputs) and one line ``i j`` per finished
tile. A torn last line (a kill while writing it) is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import jax
import numpy as np


def fingerprint(model, params, x, layers, dtype) -> str:
    """A hash of everything the kernel depends on (32 hex digits).

    ``model`` is a network (named by ``Network.describe``; its own arrays, e.g. a FAP
    net's params0, are hashed with ``params`` and ``x``), or a string that names the
    kernel completely (an infinite-width kernel: which, spec, backend); then only
    ``params`` and ``x`` are hashed with it."""
    text = isinstance(model, str)
    name = model if text else model.describe()
    h = hashlib.sha256(repr((name, type(model).__name__, layers, str(dtype))).encode())
    for a in jax.tree_util.tree_leaves((params, x) if text else (model, params, x)):
        arr = np.ascontiguousarray(np.asarray(a))
        h.update(str((arr.shape, arr.dtype)).encode())
        h.update(arr.tobytes())
    return h.hexdigest()[:32]


def sync(mm: np.memmap, rec) -> None:
    """Kernel data, then the records of finished tiles, to disk (in that order)."""
    mm.flush()
    rec.flush()
    os.fsync(rec.fileno())


def read_sidecar(side: Path, header: dict) -> set[tuple[int, int]]:
    """Finished tiles recorded in ``side`` (empty when it does not exist)."""
    if not side.exists():
        return set()
    lines = side.read_text().split("\n")
    try:
        old = json.loads(lines[0])
    except json.JSONDecodeError:
        raise ValueError(
            f"{side} is not a progress file of ntkfix; remove it to start over"
        ) from None
    if old != header:
        diff = sorted(k for k in set(old) | set(header) if old.get(k) != header.get(k))
        raise ValueError(
            f"{side} records a run with another {', '.join(diff)}; use another path, or remove "
            f"the kernel file and its progress file to start over"
        )
    done = set()
    for line in lines[1:]:
        parts = line.split()
        if len(parts) == 2 and all(p.isdigit() for p in parts):  # a torn last line is ignored
            done.add((int(parts[0]), int(parts[1])))
    return done


def open_memmap(path: Path, shape, dtype, create: bool, wait_s: float = 600.0):
    """The (n, n) map at ``path``: created (exclusively) when ``create``, else opened,
    waiting up to ``wait_s`` for another part that is still creating it."""
    if create:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            pass
        else:
            os.close(fd)
            return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    deadline = time.perf_counter() + wait_s
    while True:  # another part may be creating it
        try:
            mm = np.lib.format.open_memmap(path, mode="r+")
        except (OSError, EOFError, ValueError) as e:  # ValueError: header still being written
            if time.perf_counter() > deadline:
                raise FileNotFoundError(f"{path} did not become readable: {e}") from e
            time.sleep(1.0)
            continue
        if mm.shape != shape or mm.dtype != dtype:
            raise ValueError(
                f"{path} holds a {mm.dtype} array of shape {mm.shape}, expected {dtype} {shape}"
            )
        return mm
