"""The machine a benchmark ran on, and the probes the timings rely on.

- ``describe()``: CPU model (/proc/cpuinfo), cores, memory, package versions, XLA_FLAGS.
- ``host()``: the library's ``ntkfix._core.host`` (memory from /proc/meminfo), also on a
  bare machine where ntkfix's package import fails.
- ``Contention``: CPU time used by *other* processes while we measure, in cores:
  (busy jiffies of the machine - jiffies of this process) / (elapsed * CLK_TCK), from
  /proc/stat and /proc/self/stat. ``wait_for_quiet`` waits (bounded) until it is low.
- ``PeakMemory``: peak resident memory of one call. On Linux the high-water mark
  (VmHWM) is reset by writing 5 to /proc/self/clear_refs after returning freed heap
  memory to the OS (malloc_trim), so peak = VmHWM after the call - VmRSS before it. On
  an accelerator it is the device's peak_bytes_in_use minus bytes in use before.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
import time
import types

from analysis.provenance import package_version


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def cpu_model() -> str:
    text = _read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        if line.lower().startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    text = _read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = line.split(":", 1)[1].split()
            return sorted(f for f in flags if f.startswith(("avx", "fma", "amx")))
    return []


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def host() -> types.ModuleType:
    """``ntkfix._core.host``, also on a bare GPU machine (``methods.library``)."""
    from benchmarks.methods import library

    return library("_core.host")


def describe() -> dict[str, str]:
    """Machine and versions, as flat string fields."""
    total = host().meminfo_bytes("MemTotal")
    return {
        "cpu": cpu_model(),
        "cores": str(cores()),
        "cpu_flags": " ".join(cpu_flags()),
        "memory_gb": f"{total / 2**30:.1f}" if total else "?",
        "python": platform.python_version(),
        "jax": package_version("jax"),
        "jaxlib": package_version("jaxlib"),
        "numpy": package_version("numpy"),
        "neural_tangents": package_version("neural-tangents"),
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        "platform": sys.platform,
    }


# ---- contention -------------------------------------------------------------------------
def _machine_busy() -> int | None:
    text = _read("/proc/stat")
    if not text:
        return None
    v = [
        int(a) for a in text.splitlines()[0].split()[1:9]
    ]  # user nice system idle iowait irq softirq steal
    return sum(v) - v[3] - v[4]


def _self_busy() -> int | None:
    text = _read("/proc/self/stat")
    if not text:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (all threads)


class Contention:
    """Average cores used by other processes between ``start()`` and ``stop()`` (None off Linux)."""

    def start(self) -> None:
        self._t, self._m, self._s = time.perf_counter(), _machine_busy(), _self_busy()

    def stop(self) -> float | None:
        m, s = _machine_busy(), _self_busy()
        dt = time.perf_counter() - self._t
        if None in (m, s, self._m, self._s) or dt <= 0:
            return None
        tick = os.sysconf("SC_CLK_TCK")
        return max(0.0, ((m - self._m) - (s - self._s)) / (dt * tick))


def wait_for_quiet(
    threshold: float = 0.3, max_wait: float = 30.0, sample: float = 0.5
) -> float | None:
    """Sleep until other processes use fewer than ``threshold`` cores (at most ``max_wait`` s).

    Returns the last measured contention (cores), or None where it cannot be measured.
    """
    if max_wait <= 0:
        return None
    deadline = time.perf_counter() + max_wait
    while True:
        c = Contention()
        c.start()
        time.sleep(sample)
        load = c.stop()
        if load is None or load < threshold or time.perf_counter() >= deadline:
            return load


# ---- memory -----------------------------------------------------------------------------
def _status_kb(key: str) -> int | None:
    for line in (_read("/proc/self/status") or "").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def _trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakMemory:
    """Peak memory of the code between ``start()`` and ``stop()``, in bytes.

    ``kind`` says how it was measured: "VmHWM" (host, reset per call), "VmHWM-process"
    (host, the reset is not allowed: peak of the whole process over the RSS at start),
    "device" (accelerator allocator statistics) or "none".
    """

    def __init__(self, device=None):
        self.device = device
        stats = getattr(device, "memory_stats", lambda: None)() if device is not None else None
        self.device_stats = bool(stats) and "peak_bytes_in_use" in stats

    def start(self) -> None:
        import gc

        gc.collect()
        if self.device_stats:
            self.base = self.device.memory_stats()["bytes_in_use"]
            self.kind = "device"
            return
        _trim()
        rss = _status_kb("VmRSS")
        self.base = None if rss is None else rss * 1024
        self.kind = "none" if rss is None else "VmHWM"
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            self.kind = "VmHWM-process" if rss is not None else "none"

    def stop(self) -> int | None:
        if self.kind == "device":
            return self.device.memory_stats()["peak_bytes_in_use"] - self.base
        hwm = _status_kb("VmHWM")
        if hwm is None or self.base is None:
            return None
        return max(0, hwm * 1024 - self.base)
