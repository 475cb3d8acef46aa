"""Large-n complexity: the float32-factor PCG against the float64 Cholesky, in one run.

    python -m benchmarks.solve [--quick] [--n 8000] [--direct] [--memmap PATH]

K = H^infty of Arora et al. (``infinite_ntk(arora_spec(d), x, trainable=0)``, which
equals ``ntkfix.arora_kernel`` and is tiled) on n points uniform on the sphere
in d = 32, float32, y = sign(x_0); ``ntkfix.complexity(K, y, solver=...)``. With
``--direct`` (default on for n <= 16000) the float64 Cholesky runs too and the relative
difference of y^T K^-1 y is reported. ``--memmap PATH`` writes K to a .npy file and
solves from the read-only memory map (deleted afterwards). Peak anonymous memory
(RssAnon, sampled every 0.2 s) and the process's CPU time (on a shared machine, CPU time
/ cores is the wall time an idle one would take with every core busy: a lower bound)
are reported per solver;
``--quick``: n = 2000.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks import machine
from benchmarks.large import _Sampler


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.solve", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--quick", action="store_true")
    p.add_argument("--n", type=int, default=8000)
    p.add_argument("--direct", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--memmap", default=None)
    args = p.parse_args(argv)
    import jax
    import jax.numpy as jnp
    import numpy as np

    import ntkfix

    n = 2000 if args.quick else args.n
    direct = n <= 16000 if args.direct is None else args.direct
    info = machine.describe()
    print(f"{info['cpu']}, {info['cores']} cores, jax {info['jax']}; n={n}, d=32", flush=True)
    x = ntkfix.data.sphere(jax.random.PRNGKey(0), n, 32, jnp.float32)
    t0 = time.perf_counter()
    K = np.asarray(ntkfix.infinite_ntk(ntkfix.arora_spec(32), x, trainable=0))
    y = np.sign(np.asarray(x[:, 0]) + 1e-3).astype(np.float64)
    print(f"kernel {K.dtype} {K.shape} in {time.perf_counter() - t0:.1f} s", flush=True)
    if args.memmap:
        path = Path(args.memmap)
        np.save(path, K)
        del K
        K = np.load(path, mmap_mode="r")
    results = {}
    for solver in ("float32_pcg",) + (("cholesky",) if direct else ()):
        sampler = _Sampler(keys=("RssAnon",))
        sampler.start()
        load = machine.Contention()
        load.start()
        t0, c0 = time.perf_counter(), time.process_time()
        c = ntkfix.complexity(K, y, solver=solver, return_info=True)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        others = load.stop()
        peak = sampler.stop()["RssAnon"]
        results[solver] = c
        print(
            f"{solver:12s} {wall:8.1f} s (cpu {cpu:.1f} s), peak RssAnon "
            f"{peak / 2**30:.2f} GiB, q = "
            f"{c.quadratic_form:.15g}, cond ~ {c.condition_number:.3g}, others "
            f"{others or 0:.2f} cores",
            flush=True,
        )
    if direct:
        a, b = results["float32_pcg"].quadratic_form, results["cholesky"].quadratic_form
        print(f"relative difference of y^T K^-1 y (PCG vs float64 direct): {abs(a / b - 1):.2e}")
    if args.memmap:
        del K
        Path(args.memmap).unlink()
        print(f"deleted {args.memmap}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
