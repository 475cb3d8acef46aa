"""Resource plans: will a kernel fit the disk and the memory of this machine?

Checked before anything is allocated or written; a refusal is a ``KernelTooLarge``
whose message gives the largest n that would fit.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from ntkfix._core.errors import KernelTooLarge
from ntkfix._core.host import available_memory, format_bytes

MEMORY_FRACTION = 0.8  # of MemAvailable that a run may plan to use


def check_disk_kernel(
    per_row: int, temporaries: int, n, block, itemsize, path: Path, allocated: int, n_dev: int
) -> str:
    """Raise KernelTooLarge when disk or memory are short; return a one-line plan.

    ``per_row``: bytes of the features of one input (``TileSource.feature_bytes(1)``);
    ``temporaries``: tile-sized temporaries per tile (2 L + 3 for the structured MLP
    kernel)."""
    total = n * n * itemsize
    free = shutil.disk_usage(path.parent).free
    if total - allocated > free:
        n_max = math.isqrt((free + allocated) // itemsize)
        raise KernelTooLarge(
            f"an n={n} kernel needs {format_bytes(total)} on disk but {path.parent} has "
            f"{format_bytes(free)} "
            f"free; the largest n that fits is {n_max}"
        )
    # per device: ~4 tiles in flight, each with its tile-sized temporaries, and the
    # features of the tiles' blocks
    working = n_dev * (4 * temporaries * block * block * itemsize + 3 * block * per_row)
    need = n * per_row * n_dev + working
    avail = available_memory()
    if avail is not None and need > MEMORY_FRACTION * avail:
        n_max = max(0, int((MEMORY_FRACTION * avail - working) // (per_row * n_dev)))
        raise KernelTooLarge(
            f"an n={n} kernel needs ~{format_bytes(need)} of memory (features of all inputs "
            f"{format_bytes(n * per_row * n_dev)} + tiles of {block}) but "
            f"{format_bytes(avail)} are available "
            f"({MEMORY_FRACTION:.0%} usable); the largest n that fits is {n_max}"
        )
    avail_text = "?" if avail is None else format_bytes(avail)
    return (
        f"disk {format_bytes(total)} (free {format_bytes(free)}), "
        f"memory ~{format_bytes(need)} (available {avail_text})"
    )
