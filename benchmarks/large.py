"""One large empirical (or infinite-width) NTK written to disk: wall time, peak memory,
spot check.

    python -m benchmarks.large --n 50000 --width 1024 --depth 3 --path /tmp/ntk.npy
    python -m benchmarks.large --n 20000 --extrapolate 50000 ...   # a smaller run, scaled
    python -m benchmarks.large --kernel infinite --n 60000 --depth 3 --path /tmp/inf.npy
    ... --keep, kill -9 it, then the same with --resume   # resume after a kill

``--kernel infinite`` runs ``ntkfix.infinite_ntk_to_disk`` (closed form, d = 64, float32)
and spot-checks against ``ntkfix.infinite_ntk`` on the sampled rows and columns.

Runs ``ntkfix.empirical_ntk_to_disk`` (float32, inputs uniform on the sphere in
d = 32), samples the process's anonymous resident memory (RssAnon: what the run holds,
without the file pages of the memory map, which the kernel writes back and may drop)
every 0.2 s, checks 200 random entries against ``ntkfix.empirical_ntk`` on those rows
and columns, and deletes the file unless ``--keep``. With ``--extrapolate N`` the time is
also scaled to N by the FLOP count (``ntk_flops``), clearly labelled as an estimate.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

from benchmarks import machine


class _Sampler(threading.Thread):
    """Peak of /proc/self/status fields, sampled every ``every`` seconds."""

    def __init__(self, keys=("RssAnon", "VmRSS"), every: float = 0.2):
        super().__init__(daemon=True)
        self.keys, self.every, self.peak = keys, every, dict.fromkeys(keys, 0)
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            for key in self.keys:
                self.peak[key] = max(self.peak[key], (machine._status_kb(key) or 0) * 1024)
            time.sleep(self.every)

    def stop(self) -> dict:
        self._halt.set()
        self.join()
        return self.peak


def spot_check(K, spec, params, x, size: int, seed: int) -> tuple[float, float]:
    """(max relative error against ``ntkfix.empirical_ntk``, max |K - K^T|) on a random
    ``size`` x ``size`` sample of the (n, n) on-disk kernel ``K`` (size capped at n)."""
    import numpy as np

    import ntkfix

    n = K.shape[0]
    rng = np.random.default_rng(seed)
    r, c = (rng.choice(n, min(size, n), replace=False) for _ in range(2))
    ref = np.asarray(ntkfix.empirical_ntk(spec, params, x[r], x[c]))
    block = np.asarray(K[r][:, c])
    err = float(np.max(np.abs(block - ref)) / np.max(np.abs(ref)))
    return err, float(np.max(np.abs(block - K[c][:, r].T)))


def spot_check_infinite(K, spec, x, size: int, seed: int) -> float:
    """Max relative error of a random ``size`` x ``size`` sample of the on-disk infinite
    NTK ``K`` against ``ntkfix.infinite_ntk`` on those rows and columns."""
    import numpy as np

    import ntkfix

    n = K.shape[0]
    rng = np.random.default_rng(seed)
    r, c = (np.sort(rng.choice(n, min(size, n), replace=False)) for _ in range(2))
    ref = np.asarray(ntkfix.infinite_ntk(spec, x[r], x[c]))
    return float(np.max(np.abs(np.asarray(K[r][:, c]) - ref)) / np.max(np.abs(ref)))


def problem(n: int, width: int, depth: int):
    """(spec, params, x): the benchmarked network (d = 32, float32) and n inputs on the sphere."""
    import jax
    import jax.numpy as jnp

    import ntkfix

    spec = ntkfix.MLP(32, width, depth)
    params = spec.init(jax.random.PRNGKey(0), jnp.float32)
    return spec, params, ntkfix.data.sphere(jax.random.PRNGKey(1), n, 32, jnp.float32)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.large", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--kernel", choices=("empirical", "infinite"), default="empirical")
    p.add_argument("--n", type=int, default=50000)
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--block", type=int, default=None)
    p.add_argument("--path", default="/tmp/ntkfix_large_kernel.npy")
    p.add_argument("--keep", action="store_true", help="keep the kernel file")
    p.add_argument(
        "--resume",
        action="store_true",
        help="resume the run a killed or interrupted call left at --path (default: start over)",
    )
    p.add_argument("--extrapolate", type=int, default=None, help="also scale the time to this n")
    return p


def _delete(path: Path) -> None:
    """Delete the kernel file at ``path`` and its progress file (those that exist)."""
    for f in (path, path.with_name(path.name + ".progress")):
        f.unlink(missing_ok=True)


def _workload(args: argparse.Namespace):
    """(spec, params, x) of the run: ``problem`` for the empirical NTK; for the infinite
    NTK a closed-form MLP (d = 64, params None) and n float32 inputs on the sphere."""
    if args.kernel != "infinite":
        return problem(args.n, args.width, args.depth)
    import jax
    import jax.numpy as jnp

    import ntkfix

    spec = ntkfix.MLP(64, 1, args.depth)
    return spec, None, ntkfix.data.sphere(jax.random.PRNGKey(1), args.n, 64, jnp.float32)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)

    import ntkfix
    from ntkfix.host import available_memory
    from ntkfix.kernels import ntk_flops

    spec, params, x = _workload(args)
    path = Path(args.path)
    if not args.resume:
        _delete(path)
    info = machine.describe()
    print(
        f"{info['cpu']}, {info['cores']} cores, jax {info['jax']}; {args.kernel} n={args.n} "
        f"width={args.width} depth={args.depth} float32 -> {path}",
        flush=True,
    )
    sampler = _Sampler()
    base = available_memory()
    sampler.start()
    load = machine.Contention()
    load.start()
    t0 = time.perf_counter()
    if args.kernel == "infinite":
        K = ntkfix.infinite_ntk_to_disk(spec, x, path, block_size=args.block)
    else:
        K = ntkfix.empirical_ntk_to_disk(spec, params, x, path, block_size=args.block)
    wall = time.perf_counter() - t0
    others = load.stop()
    peak = sampler.stop()
    if args.kernel == "infinite":
        flops = 0
        err = spot_check_infinite(K, spec, x, 200, seed=0)
    else:
        flops = ntk_flops(spec, args.n)
        err, _ = spot_check(K, spec, params, x, 200, seed=0)
    size = os.path.getsize(path)
    print(
        f"wall {wall:.1f} s ({wall / 60:.1f} min), {flops / wall / 1e9:.1f} GFLOP/s "
        f"({flops / 1e12:.2f} TFLOP by ntk_flops; 0 for infinite); "
        f"peak RssAnon {peak['RssAnon'] / 2**30:.2f} GiB, "
        f"peak VmRSS {peak['VmRSS'] / 2**30:.2f} GiB (includes mapped file pages); file "
        f"{size / 2**30:.2f} GiB; others used {others or 0:.2f} cores on average; "
        f"MemAvailable at start {base / 2**30:.1f} GiB; spot check max rel err {err:.1e}"
    )
    if args.extrapolate and flops:
        big = ntk_flops(spec, args.extrapolate)
        print(
            f"EXTRAPOLATED (not measured) to n={args.extrapolate}: ~{wall * big / flops:.0f} s "
            f"({wall * big / flops / 60:.1f} min) at the same GFLOP/s; features in memory "
            f"~{peak['RssAnon'] * args.extrapolate / args.n / 2**30:.1f} GiB or less"
        )
    del K
    if not args.keep:
        _delete(path)
        print(f"deleted {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
