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


# the on-disk function to use when an in-memory kernel is refused
TO_DISK = {
    "empirical_ntk": "ntkfix.empirical_ntk_to_disk(model, params, x, path)",
    "infinite_ntk": "ntkfix.infinite_ntk_to_disk(spec, x, path)",
    "infinite_nngp": "ntkfix.infinite_nngp_to_disk(spec, x, path)",
    "stax_kernel": "ntkfix.infinite_ntk_to_disk(model, x, path)",
}


def device_memory(device=None) -> int | None:
    """Bytes a new array may take on ``device`` (default: the first local device): the
    accelerator's free memory (``memory_stats``), the host's MemAvailable on a CPU."""
    import jax

    dev = jax.local_devices()[0] if device is None else device
    if dev.platform != "cpu":
        stats = dev.memory_stats() or {}
        if "bytes_limit" in stats:
            return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    return available_memory()


def largest_square(budget: float, per_entry: int, per_row: int) -> int:
    """The largest n with n^2 per_entry + 2 n per_row <= budget (0 if none)."""
    if budget <= 0:
        return 0
    a, b = per_entry, 2 * per_row
    return max(0, int((-b + math.sqrt(b * b + 4 * a * budget)) / (2 * a)))


def memory_need(
    n1: int, n2: int, per_entry: int, per_row: int, temporaries: int, block: int, n_dev: int = 1
) -> int:
    """Bytes of an in-memory (n1, n2) kernel: the output n1 n2 per_entry, the features of
    all inputs (n1 + n2) per_row, and ~3 tiles in flight per device, each with
    ``temporaries`` tile-sized arrays of block^2 per_entry bytes."""
    working = 3 * n_dev * temporaries * block * block * per_entry
    return n1 * n2 * per_entry + (n1 + n2) * per_row + working


def check_memory_kernel(
    n1: int,
    n2: int,
    per_entry: int,
    per_row: int,
    temporaries: int,
    block: int,
    name: str,
    *,
    n_dev: int = 1,
    device=None,
) -> int:
    """Raise ``KernelTooLarge`` when an in-memory (n1, n2) kernel would not fit.

    Output n1 n2 per_entry bytes, the features of all inputs (n1 + n2) per_row, and the
    working set of ~3 tiles in flight per device, each with ``temporaries`` tile-sized
    arrays of block^2 per_entry bytes, against ``MEMORY_FRACTION`` of ``device_memory``.
    The message names ``name``'s on-disk twin (``TO_DISK``) and the largest n for which
    K(x, x) fits. Returns the bytes planned.
    """
    block = min(block, max(n1, n2))
    working = 3 * n_dev * temporaries * block * block * per_entry
    need = memory_need(n1, n2, per_entry, per_row, temporaries, block, n_dev)
    avail = device_memory(device)
    if avail is None or need <= MEMORY_FRACTION * avail:
        return need
    n_max = largest_square(MEMORY_FRACTION * avail - working, per_entry, per_row)
    disk = TO_DISK.get(name, "a kernel computed in row blocks")
    raise KernelTooLarge(
        f"{name}: an ({n1}, {n2}) kernel needs ~{format_bytes(need)} of memory (output "
        f"{format_bytes(n1 * n2 * per_entry)} + features {format_bytes((n1 + n2) * per_row)} "
        f"+ tiles of {block} {format_bytes(working)}) but {format_bytes(avail)} are available "
        f"({MEMORY_FRACTION:.0%} usable); the largest n for which K(x, x) fits is {n_max}. "
        f"For larger kernels use {disk}, which writes it to a .npy file tile by tile"
    )
