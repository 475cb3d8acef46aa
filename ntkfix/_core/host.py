"""What the host machine offers: available memory (Linux /proc/meminfo), byte sizes in words.

The one reader of /proc in the library; the benchmark harness uses it too. Also the
machine's measured matmul throughput, for time estimates.
"""

from __future__ import annotations

import functools
import time


def meminfo_bytes(key: str) -> int | None:
    """A field of /proc/meminfo (e.g. "MemAvailable", "MemTotal") in bytes, or None.

    None when the file cannot be read (not Linux) or has no such field.
    """
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (MemAvailable), or None if unknown."""
    return meminfo_bytes("MemAvailable")


def format_bytes(b: float) -> str:
    """``b`` bytes as "1.5 GiB" / "12.0 MiB" / "3.0 KiB" / "17 B".

    Examples:
      >>> format_bytes(3 * 2**29)
      '1.5 GiB'
    """
    for unit, k in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if b >= k:
            return f"{b / k:.1f} {unit}"
    return f"{b:.0f} B"


@functools.cache
def matmul_throughput(size: int = 1024) -> float:
    """Floating-point operations per second of one float32 (size, size) matmul on the
    default device: the best of five after compilation (measured once per process,
    ~10 ms on a 2-core CPU)."""
    import jax
    import jax.numpy as jnp

    a = jnp.ones((size, size), jnp.float32)
    f = jax.jit(lambda u: u @ u)
    f(a).block_until_ready()
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        f(a).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return 2.0 * size**3 / max(best, 1e-9)
