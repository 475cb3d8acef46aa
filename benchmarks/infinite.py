"""The infinite-width NTK: ntkfix's closed form against neural-tangents, in one run.

    python -m benchmarks.infinite [--quick] [--ns 8000,16000] [--depth 3] [--rounds 2]

K(x, x) of a depth-``depth`` ReLU MLP (ntk parameterization, no bias), float32, n inputs
uniform on the sphere in d = 64. Methods:

- ``ntkfix``: ``ntkfix.infinite_ntk(spec, x, backend="closed_form")`` (jitted tiles,
  symmetric, polynomial arc-cosines);
- ``ntkfix_nt``: ``ntkfix.infinite_ntk(spec, x, backend="neural_tangents")`` (nt's
  kernel_fn jitted per tile by the same tiler);
- ``nt_jit``: neural-tangents' ``jax.jit(kernel_fn)(x, None, "ntk")`` on the whole kernel.

Each (method, n) runs in its own process (``--child``): one first call (compile + run),
then ``repeats`` timed calls (median), then one more call between
``machine.PeakMemory.start()`` and ``stop()`` (VmHWM over the RSS after compilation: the
output and the working set). The methods alternate within each round (order reversed
every round) so that load from other processes hits all of them alike; the report gives
per-round ratios to ``nt_jit``. Accuracy: 200 x 200 random entries against a float64
numpy recursion with ``numpy.arccos`` (independent of both libraries). Writes
``results.csv`` and ``summary.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import machine

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("ntkfix", "nt_jit", "ntkfix_nt")
MARK = "BENCH_INFINITE "
D = 64


def reference(x1, x2, spec):
    """float64 numpy NTK of the MLP ``spec`` (ntk parameterization, no bias), from the
    recursion with ``numpy.arccos``: Theta <- S_l + Sdot_{l-1} Theta, S_l = w_l^2 K_{l-1}."""
    import numpy as np

    x1, x2 = np.asarray(x1, np.float64), np.asarray(x2, np.float64)
    k12 = x1 @ x2.T / D
    k11, k22 = np.sum(x1 * x1, 1) / D, np.sum(x2 * x2, 1) / D
    theta = np.zeros_like(k12)
    for l in range(spec.depth + 1):
        w2 = spec.w_std(l) ** 2
        s12, s11, s22 = w2 * k12, w2 * k11, w2 * k22
        theta = s12 + w2 * theta
        if l == spec.depth:
            return theta
        nrm = np.sqrt(np.outer(s11, s22))
        t = np.arccos(np.clip(s12 / nrm, -1, 1))
        k12 = nrm * (np.sin(t) + (np.pi - t) * np.cos(t)) / (2 * np.pi)
        k11, k22 = s11 / 2, s22 / 2
        theta = theta * (np.pi - t) / (2 * np.pi)


def child(job: dict) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    import ntkfix

    n, depth, method = job["n"], job["depth"], job["method"]
    spec = ntkfix.MLP(D, 1, depth)
    x = ntkfix.data.sphere(jax.random.PRNGKey(1), n, D, jnp.float32)
    if method == "nt_jit":
        kernel_fn = jax.jit(spec.stax()[2], static_argnames="get")

        def call():
            return kernel_fn(x, None, "ntk")
    else:
        backend = "closed_form" if method == "ntkfix" else "neural_tangents"

        def call():
            return ntkfix.infinite_ntk(spec, x, backend=backend)

    t0 = time.perf_counter()
    K = jax.block_until_ready(call())
    first = time.perf_counter() - t0
    del K
    times = []
    load = machine.Contention()
    load.start()
    for _ in range(job["repeats"]):
        t0 = time.perf_counter()
        K = jax.block_until_ready(call())
        times.append(time.perf_counter() - t0)
        del K
    others = load.stop()
    mem = machine.PeakMemory(jax.devices()[0] if jax.default_backend() != "cpu" else None)
    mem.start()
    K = jax.block_until_ready(call())
    peak = mem.stop()
    rng = np.random.default_rng(0)
    r, c = (rng.choice(n, min(200, n), replace=False) for _ in range(2))
    ref = reference(np.asarray(x)[r], np.asarray(x)[c], spec)
    got = np.asarray(K)[np.ix_(r, c)].astype(np.float64)
    err = float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))
    return {
        "method": method,
        "n": n,
        "depth": depth,
        "seconds": statistics.median(times),
        "first_s": first,
        "peak_bytes": peak,
        "peak_kind": mem.kind,
        "others_cores": others,
        "max_rel_err": err,
        "backend": jax.default_backend(),
    }


def run_child(job: dict, timeout: float) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    cmd = [sys.executable, "-m", "benchmarks.infinite", "--child", json.dumps(job)]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env
        )
    except subprocess.TimeoutExpired:
        return dict(job, status=f"timeout after {timeout:.0f} s")
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            return dict(json.loads(line[len(MARK) :]), status="ok")
    last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return dict(job, status=f"failed (rc {proc.returncode}): {last[:200]}")


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.infinite", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--quick", action="store_true", help="n = 2000 only, one round")
    p.add_argument("--ns", type=_ints, default=(8000, 16000))
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--out", default="results/bench-infinite")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        print(MARK + json.dumps(child(json.loads(args.child))), flush=True)
        return 0
    ns, rounds = ((2000,), 1) if args.quick else (args.ns, args.rounds)
    methods = tuple(args.methods.split(","))
    info = machine.describe()
    print(f"{info['cpu']}, {info['cores']} cores, jax {info['jax']}; depth {args.depth}, d {D}")
    rows = []
    for rnd in range(rounds):
        for n in ns:
            order = methods if rnd % 2 == 0 else methods[::-1]
            for method in order:
                job = {"n": n, "depth": args.depth, "method": method, "repeats": args.repeats}
                row = dict(run_child(job, args.timeout), round=rnd)
                rows.append(row)
                if row["status"] == "ok":
                    print(
                        f"round {rnd} n={n} {method:10s} {row['seconds']:8.2f} s (first "
                        f"{row['first_s']:.2f} s), peak {row['peak_bytes'] / 2**30:.2f} GiB, "
                        f"max rel err {row['max_rel_err']:.1e}, others "
                        f"{row['others_cores'] or 0:.2f} cores",
                        flush=True,
                    )
                else:
                    print(f"round {rnd} n={n} {method}: {row['status']}", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keys = sorted({k for r in rows for k in r})
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    lines = summary(rows, ns, methods, rounds)
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def summary(rows, ns, methods, rounds) -> list[str]:
    """Markdown: per n and method the median time over rounds, peak memory, error, and
    the median over rounds of the time ratio to ``nt_jit`` measured in the same round."""
    ok = [r for r in rows if r["status"] == "ok"]
    lines = [
        "| n | method | median s | peak GiB | max rel err | nt_jit s / method s (per round) |",
        "|---|---|---|---|---|---|",
    ]
    for n in ns:
        for m in methods:
            mine = [r for r in ok if r["n"] == n and r["method"] == m]
            if not mine:
                continue
            ratios = []
            for rnd in range(rounds):
                a = [r for r in mine if r["round"] == rnd]
                b = [r for r in ok if r["n"] == n and r["method"] == "nt_jit" and r["round"] == rnd]
                if a and b:
                    ratios.append(b[0]["seconds"] / a[0]["seconds"])
            sec = statistics.median(r["seconds"] for r in mine)
            peak = max(r["peak_bytes"] or 0 for r in mine) / 2**30
            err = max(r["max_rel_err"] for r in mine)
            rat = ", ".join(f"{v:.1f}x" for v in ratios) if ratios else "-"
            lines.append(f"| {n} | {m} | {sec:.2f} | {peak:.2f} | {err:.1e} | {rat} |")
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
