"""Any network: ntkfix's empirical NTK of a plain JAX function against neural-tangents.

    python -m benchmarks.networks [--quick] [--n 256,1024] [--out results/bench-networks]

Networks (float32, K(x, x) traced, as ``make bench``'s MLP cells):

- ``cnn``: 8x8x1 inputs, two 3x3 SAME conv layers of 64 and 256 channels with ReLU,
  global average pooling, a dense readout (k = 1); P = 148,288 parameters;
- ``mlp_fn``: the MLP of ``make bench`` (in_dim 32, width 512, depth 2) written as a plain
  function with ``jax.nn.relu`` (ntkfix sees a function, not an ``MLP``);
- ``mlp_fn10``: the same with k = 10 outputs, the kernel untraced (n, n, 10, 10);
- ``residual``: a stax residual CNN on 8x8x1: conv 64, a residual block (conv 64, ReLU)
  + identity, ReLU, 2x2 average pooling, conv 128, ReLU, global average pooling, dense;
- ``flax_cnn``: a Flax ``nn.Module`` CNN (conv 64 -> conv 128 with biases, ReLU, mean
  over positions, dense), given as ``model.apply`` with its variables.

Methods: ``ntkfix`` (``ntkfix.empirical_ntk`` of the function, the implementation its
cost model picks - printed with each cell -, tiled, K(x, x) symmetric), ``ntkfix_jc`` /
``ntkfix_nvp`` / ``ntkfix_gram`` / ``ntkfix_grad`` (forced to Jacobian contraction,
NTK-vector products, structured derivatives with every layer's gram rule or its
per-example-gradient rule), ``ntkfix_mlp`` (the ``ntkfix.MLP`` of the same network: the
MLP networks only) and neural-tangents' three implementations (``nt_jc``,
``nt_nvp``, ``nt_sd``), each jitted, each (network, n, method) in its own process
(``benchmarks.cell``: median of the timed calls, millisecond calls timed in bursts,
peak memory of the warm call). The default methods are ``DEFAULT_METHODS``: ntkfix's
own choice, the ``ntkfix.MLP``, and neural-tangents' three. The
operation count credited to every method is that of the Jacobian contraction with the
symmetry of K(x, x): 2 k P n (n + 1) / 2 for the Gram matrices (the Jacobian's own cost
not counted); with the matmul throughput measured in the same run it gives the fraction
of the machine reached. Writes ``results.csv`` and ``summary.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

from benchmarks import machine
from benchmarks.cell import SLOW_S
from benchmarks.run import _child, _csv_choice, _csv_ints, _positive_float, _positive_int

NETWORKS = ("cnn", "mlp_fn", "mlp_fn10", "residual", "flax_cnn")
METHODS = (
    "ntkfix", "ntkfix_jc", "ntkfix_nvp", "ntkfix_gram", "ntkfix_grad", "ntkfix_mlp",
    "nt_jc", "nt_nvp", "nt_sd",
)  # fmt: skip
OURS = {
    "ntkfix": "auto",
    "ntkfix_jc": "jacobian",
    "ntkfix_nvp": "ntk_vector",
    "ntkfix_gram": "structured_gram",
    "ntkfix_grad": "structured_gradients",
}
DEFAULT_METHODS = ("ntkfix", "ntkfix_mlp", "nt_jc", "nt_nvp", "nt_sd")  # the forced ones on request
UNTRACED = frozenset({"mlp_fn10"})  # kernels (n, n, k, k); the others traced (n, n)
NT_IMPL = {"nt_jc": 1, "nt_nvp": 2, "nt_sd": 3}
CNN_CHANNELS = (64, 256)
MLP_SHAPE = (32, 512, 2)  # in_dim, width, depth


def _mlp_spec(network: str):
    import ntkfix

    d, m, depth = MLP_SHAPE
    return ntkfix.MLP(d, m, depth, out_dim=10 if network == "mlp_fn10" else 1)


def _residual(kp, n: int):
    import ntkfix

    stax = ntkfix.host.neural_tangents("the residual benchmark network").stax
    block = stax.serial(stax.Conv(64, (3, 3), padding="SAME"), stax.Relu())
    init, apply, _ = stax.serial(
        stax.Conv(64, (3, 3), padding="SAME"),
        stax.Relu(),
        stax.FanOut(2),
        stax.parallel(block, stax.Identity()),
        stax.FanInSum(),
        stax.Relu(),
        stax.AvgPool((2, 2), (2, 2)),
        stax.Conv(128, (3, 3), padding="SAME"),
        stax.Relu(),
        stax.GlobalAvgPool(),
        stax.Dense(1),
    )
    _, params = init(kp, (-1, 8, 8, 1))
    return apply, params


def _flax_cnn(kp):
    import flax.linen as nn
    import jax.numpy as jnp

    class CNN(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Conv(64, (3, 3))(x))
            x = nn.relu(nn.Conv(128, (3, 3))(x))
            return nn.Dense(1)(x.mean(axis=(1, 2)))

    model = CNN()
    return model.apply, model.init(kp, jnp.zeros((1, 8, 8, 1), jnp.float32))


def make(network: str, n: int, seed: int = 0):
    """(fn, params, x) of ``network`` with ``n`` inputs, float32."""
    import jax
    import jax.numpy as jnp

    kp, kx = jax.random.split(jax.random.PRNGKey(seed))
    if network in ("residual", "flax_cnn"):
        fn, params = _residual(kp, n) if network == "residual" else _flax_cnn(kp)
        params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float32), params)
        return fn, params, jax.random.normal(kx, (n, 8, 8, 1), jnp.float32)
    if network == "cnn":
        c1, c2 = CNN_CHANNELS
        k1, k2, k3 = jax.random.split(kp, 3)
        params = {
            "c1": jax.random.normal(k1, (3, 3, 1, c1), jnp.float32) / 3.0,
            "c2": jax.random.normal(k2, (3, 3, c1, c2), jnp.float32) / math.sqrt(9.0 * c1),
            "w": jax.random.normal(k3, (c2, 1), jnp.float32) / math.sqrt(c2),
        }
        dn = ("NHWC", "HWIO", "NHWC")

        def fn(p, x):
            h = jax.lax.conv_general_dilated(x, p["c1"], (1, 1), "SAME", dimension_numbers=dn)
            h = jax.nn.relu(h)
            h = jax.lax.conv_general_dilated(h, p["c2"], (1, 1), "SAME", dimension_numbers=dn)
            return jnp.mean(jax.nn.relu(h), axis=(1, 2)) @ p["w"]

        x = jax.random.normal(kx, (n, 8, 8, 1), jnp.float32)
        return fn, params, x
    if network in ("mlp_fn", "mlp_fn10"):
        d = MLP_SHAPE[0]
        spec = _mlp_spec(network)
        params = spec.init(kp, jnp.float32)

        def fn(p, x):
            h = x
            for l in range(spec.depth):
                h = jax.nn.relu(spec.layer(p, l, h))
            return spec.layer(p, spec.depth, h)

        x = jax.random.normal(kx, (n, d), jnp.float32) / math.sqrt(d)
        return fn, params, x
    raise ValueError(f"unknown network {network!r}; expected one of {NETWORKS}")


def n_params(params) -> int:
    import jax

    return sum(int(a.size) for a in jax.tree_util.tree_leaves(params))


def build_network(method: str, job: dict):
    """``call()`` returning the (n, n) kernel of ``job["name"]`` by ``method``."""
    import jax

    fn, params, x = make(job["name"], job["n"], job.get("seed", 0))
    params, x = jax.block_until_ready((params, x))
    trace = job["name"] not in UNTRACED
    if method == "ntkfix_mlp":
        import ntkfix

        if job["name"] not in ("mlp_fn", "mlp_fn10"):
            raise ValueError(f"ntkfix_mlp is for the MLP networks, not {job['name']!r}")
        spec = _mlp_spec(job["name"])
        return lambda: ntkfix.empirical_ntk(spec, params, x, trace=trace)
    if method in OURS:
        import ntkfix

        impl = OURS[method]
        return lambda: ntkfix.empirical_ntk(fn, params, x, trace=trace, implementation=impl)
    if method not in NT_IMPL:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    import ntkfix

    nt = ntkfix.host.neural_tangents(f"benchmark method {method}")
    kernel = jax.jit(
        nt.empirical_ntk_fn(
            fn, trace_axes=(-1,) if trace else (), vmap_axes=0, implementation=NT_IMPL[method]
        )
    )
    return lambda: kernel(x, None, params)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.networks", description=__doc__)
    p.add_argument("--n", type=_csv_ints, default=(256, 1024), help="input counts (256,1024)")
    p.add_argument("--networks", type=_csv_choice(NETWORKS), default=NETWORKS)
    p.add_argument(
        "--methods",
        type=_csv_choice(METHODS),
        default=DEFAULT_METHODS,
        help=f"methods (default {','.join(DEFAULT_METHODS)}; any of {','.join(METHODS)})",
    )
    p.add_argument("--repeats", type=_positive_int, default=3, help="timed calls per cell (3)")
    p.add_argument(
        "--cell-timeout", type=_positive_float, default=900.0, help="seconds per cell (900)"
    )
    p.add_argument("--quick", action="store_true", help="n = 64 only (a smoke run)")
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="seconds to wait for other processes to go quiet before each call (30)",
    )
    p.add_argument(
        "--matmul-n", type=_positive_int, default=2048, help="roofline matmul size (2048)"
    )
    p.add_argument("--out", type=Path, default=Path("results/bench-networks"))
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ns = (64,) if args.quick else args.n
    quiet = {"max_wait": 0 if args.quick else max(0.0, args.quiet_wait)}
    status, roof = _child({"kind": "roofline", "matmul_n": args.matmul_n, "repeats": 3}, 300)
    gflops_roof = roof.get("gflops") if status == "ok" else None
    print(f"matmul roofline: {gflops_roof or float('nan'):.1f} GFLOP/s ({status})", flush=True)
    rows = []
    for name in args.networks:
        for n in ns:
            _, params, _ = make(name, 1)
            P = n_params(params)
            k = 10 if name in UNTRACED else 1
            flops = P * n * (n + 1) * (k * k if name in UNTRACED else 1)  # 2 k^2 P n(n+1)/2
            print(f"[{name} n={n}] cost model: {chosen(name, n)}", flush=True)
            for method in args.methods:
                if method == "ntkfix_mlp" and name not in ("mlp_fn", "mlp_fn10"):
                    continue  # an ntkfix.MLP exists for the MLP networks only
                job = {
                    "kind": "network",
                    "method": method,
                    "network": {"name": name, "n": n},
                    "repeats": args.repeats,
                    "quiet": quiet,
                }
                prev = [r for r in rows if r["network"] == name and r["method"] == method]
                est = _extrapolated(prev, n)
                calls = 3 if est is not None and est > SLOW_S else args.repeats + 2
                if est is not None and est * calls > args.cell_timeout:
                    status, res = (
                        f"skipped: ~{est:.0f} s per call (quadratic in n from "
                        f"n={prev[-1]['n']}) x {calls} calls > "
                        f"{args.cell_timeout:.0f} s",
                        {},
                    )
                else:
                    status, res = _child(job, args.cell_timeout)
                row = {"network": name, "n": n, "params": P, "method": method, "status": status}
                if status == "ok":
                    row.update(
                        time_s=res["time_s"],
                        peak_gib=(res["peak_bytes"] or 0) / 2**30,
                        gflops=flops / res["time_s"] / 1e9,
                        k_fro=res["k_fro"],
                    )
                    if gflops_roof:
                        row["roofline_frac"] = row["gflops"] / gflops_roof
                rows.append(row)
                shown = f"{row['time_s']:.3f} s" if status == "ok" else status
                print(f"[{name} n={n}] {method}: {shown}", flush=True)
    _ratios(rows)
    write(rows, args.out, gflops_roof)
    return 0


def chosen(name: str, n: int) -> str:
    """The implementation ``ntkfix.empirical_ntk`` picks for ``name`` at ``n`` (shapes
    only), with its operation count."""
    import jax

    import ntkfix

    fn, params, x = make(name, 1)
    x = jax.ShapeDtypeStruct((n, *x.shape[1:]), x.dtype)
    kernel = ntkfix.kernels.EmpiricalKernel(fn, params, trace=name not in UNTRACED)
    est = kernel.estimate(x)
    return f"{est.implementation} ({est.flops / 1e9:.2f} GFLOP, block {est.block})"


def _extrapolated(prev: list[dict], n: int) -> float | None:
    """Seconds per call at ``n`` from the last measured smaller cell (cost ~ n^2)."""
    done = [r for r in prev if r["status"] == "ok" and r["n"] < n]
    return None if not done else done[-1]["time_s"] * (n / done[-1]["n"]) ** 2


def _ratios(rows: list[dict]) -> None:
    """Per (network, n): neural-tangents' fastest time / each method's time, and the
    relative difference of each kernel's norm to ntkfix's (an agreement check)."""
    for key in {(r["network"], r["n"]) for r in rows}:
        group = [r for r in rows if (r["network"], r["n"]) == key and r["status"] == "ok"]
        nt = [r["time_s"] for r in group if r["method"].startswith("nt_")]
        ours = [r for r in group if r["method"] == "ntkfix"]
        for r in group:
            if nt:
                r["speedup_vs_nt_best"] = min(nt) / r["time_s"]
            if ours:
                r["k_rel_diff"] = abs(r["k_fro"] - ours[0]["k_fro"]) / ours[0]["k_fro"]


COLUMNS = (
    "network", "n", "params", "method", "status", "time_s", "peak_gib", "gflops",
    "roofline_frac", "speedup_vs_nt_best", "k_rel_diff",
)  # fmt: skip


def write(rows: list[dict], out: Path, gflops_roof) -> None:
    from analysis.tables import markdown

    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    desc = machine.describe()
    head = (
        f"# Any-network NTK: ntkfix vs neural-tangents\n\n{desc.get('cpu')}, "
        f"{desc.get('cores')} cores, jax {desc.get('jax')}; matmul roofline "
        f"{gflops_roof or float('nan'):.1f} GFLOP/s; float32, K(x, x) traced "
        f"(untraced (n, n, k, k) for {', '.join(sorted(UNTRACED))}).\n\n"
    )
    table = markdown(COLUMNS, ([r.get(c, "") for c in COLUMNS] for r in rows))
    (out / "summary.md").write_text(head + table)
    print(f"wrote {out / 'results.csv'} and {out / 'summary.md'}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
