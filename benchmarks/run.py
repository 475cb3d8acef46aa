"""Benchmark command line: ntkfix vs neural-tangents' three empirical NTK implementations.

    python -m benchmarks.run --quick            # 4 small cells, ~5 minutes on 2 cores
    python -m benchmarks.run                    # the documented default subset, ~16 minutes
    python -m benchmarks.run --full             # n, width in {256..4096}, depth {1, 3, 5}
    python -m benchmarks.run --n 2048 --width 2048 --depth 3 --models relu
    python -m benchmarks.run --n 2048 --width 2048 --depth 3 --methods ntkfix,nt_sd --rounds 5

Each (cell, model, method) runs in a fresh subprocess (``benchmarks.cell``): timing
(median of ``--repeats``, compile reported apart) and peak memory are never polluted by
another cell. One subprocess times a large float32 matmul before and after: the roofline.
A method is skipped, with the reason in the output, when its cost model
(``benchmarks.methods``) says it cannot fit in memory or in ``--cell-timeout``; a child
that dies or runs past the timeout is reported as such. Results: ``OUT/results.csv``,
``OUT/summary.md`` (the table, machine, versions), ``OUT/bench.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import machine, report
from benchmarks.cell import MARK
from benchmarks.methods import METHODS, MODELS, Cell, estimate, useful_flops

ROOT = Path(__file__).resolve().parents[1]


def _product(ns, widths, depths):
    return list(itertools.product(ns, widths, depths))


GRIDS = {
    "quick": [(256, 256, 1), (256, 256, 3), (1024, 1024, 1), (1024, 1024, 3)],
    # The documented default: every n x width at depth 3, depth 1 and 5 on the diagonal.
    "default": _product((256, 1024, 2048), (256, 1024, 2048), (3,))
    + [(1024, 1024, 1), (1024, 1024, 5), (2048, 2048, 1), (2048, 2048, 5)],
    "full": _product((256, 1024, 2048, 4096), (256, 1024, 2048, 4096), (1, 3, 5)),
}
# Fraction of the matmul roofline each method is assumed to reach (skip decisions only).
ASSUMED_EFFICIENCY = {"ntkfix": 0.5, "nt_sd": 0.25, "nt_jc": 0.25, "nt_nvp": 0.25}


def _csv_ints(text: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"expected integers >= 1, got {text!r}")
    return vals


def _positive(convert, expected: str):
    """An argparse type: ``convert(text)``, refused (``expected ...``) unless > 0 (NaN too)."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = 0
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_positive_int = _positive(int, "one integer >= 1")
_positive_float = _positive(float, "a number > 0")


def _csv_choice(choices):
    def parse(text: str) -> tuple[str, ...]:
        vals = tuple(v.strip() for v in text.split(",") if v.strip())
        bad = [v for v in vals if v not in choices]
        if bad or not vals:
            raise argparse.ArgumentTypeError(
                f"unknown {bad or text!r}; choose from {', '.join(choices)}"
            )
        return vals

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0]
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--quick", action="store_const", dest="grid", const="quick", help="4 small cells"
    )
    g.add_argument(
        "--full",
        action="store_const",
        dest="grid",
        const="full",
        help="the whole grid (hours on 2 cores)",
    )
    p.set_defaults(grid="default")
    p.add_argument("--n", type=_csv_ints, help="override the grid: comma-separated n")
    p.add_argument("--width", type=_csv_ints, help="override the grid: comma-separated widths")
    p.add_argument("--depth", type=_csv_ints, help="override the grid: comma-separated depths")
    p.add_argument(
        "--models", type=_csv_choice(MODELS), default=MODELS, help="relu,fap (default both)"
    )
    p.add_argument("--methods", type=_csv_choice(METHODS), default=METHODS, help=",".join(METHODS))
    p.add_argument(
        "--repeats", type=_positive_int, default=3, help="timed calls per cell (median reported)"
    )
    p.add_argument(
        "--rounds",
        type=_positive_int,
        default=1,
        help="run the whole list this many times, methods alternating; each row reports "
        "the round with the median time (robust ratios on a shared machine)",
    )
    p.add_argument(
        "--cell-timeout",
        type=_positive_float,
        default=300.0,
        help="seconds per (cell, method) subprocess",
    )
    p.add_argument(
        "--matmul-n", type=_positive_int, default=4096, help="size of the roofline matmul"
    )
    p.add_argument(
        "--precision", default=None, help="jax_default_matmul_precision for all children"
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=10.0,
        help="max seconds to wait for other processes to calm down before each timed call",
    )
    p.add_argument("--units", choices=("gflops", "tflops"), default="gflops")
    p.add_argument("--out", default="results/bench", help="output folder (default results/bench)")
    return p


def cells_of(args) -> list[tuple[int, int, int]]:
    if args.n or args.width or args.depth:
        base = GRIDS[args.grid]
        ns = args.n or sorted({c[0] for c in base})
        ws = args.width or sorted({c[1] for c in base})
        ds = args.depth or sorted({c[2] for c in base})
        return _product(ns, ws, ds)
    return GRIDS[args.grid]


def _child(job: dict, timeout: float) -> tuple[str, dict]:
    """Run ``benchmarks.cell`` with ``job``; (status, result)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    cmd = [sys.executable, "-m", "benchmarks.cell", json.dumps(job)]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env
        )
    except subprocess.TimeoutExpired:
        return f"timeout after {timeout:.0f} s", {}
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            return "ok", json.loads(line[len(MARK) :])
    if proc.returncode == -9:
        return "killed (SIGKILL: out of memory?)", {}
    if proc.returncode < 0:
        return f"crashed (signal {-proc.returncode})", {}
    return f"failed: {_error_line(proc.stderr)[:200]}", {}


def _error_line(stderr: str) -> str:
    """The exception line of a child's traceback (``Type: message``, the last one: jax
    appends notes after it), else its last line."""
    lines = stderr.strip().splitlines() or ["no output"]
    errors = [ln for ln in lines if re.match(r"[A-Za-z_][\w.]*(Error|Exception|TooLarge): ", ln)]
    return errors[-1] if errors else lines[-1]


def _skip_reason(
    method: str,
    cell: Cell,
    roof_gflops: float,
    mem_bytes: float | None,
    repeats: int,
    timeout: float,
) -> str | None:
    need, flops = estimate(method, cell)
    if mem_bytes and need > 0.7 * mem_bytes:
        return (
            f"skipped: needs ~{need / 2**30:.1f} GiB > 70% of {mem_bytes / 2**30:.1f} GiB available"
        )
    per_call = flops / (ASSUMED_EFFICIENCY[method] * roof_gflops * 1e9)
    if per_call * (repeats + 2) > timeout:
        return f"skipped: ~{per_call:.0f} s per call x {repeats + 2} calls > {timeout:.0f} s limit"
    return None


def _measure(args, cell: Cell, method: str, roof: dict, mem_bytes, quiet: dict) -> dict:
    """One (cell, model, method) row: measured in a child, or skipped with the reason."""
    flops = useful_flops(cell)
    row = {
        **{k: getattr(cell, k) for k in ("model", "n", "width", "depth", "in_dim")},
        "method": method,
        "flops": flops,
        "roofline_gflops": roof["gflops"],
    }
    reason = _skip_reason(method, cell, roof["gflops"], mem_bytes, args.repeats, args.cell_timeout)
    if reason:
        row["status"] = reason
        return row
    job = {
        "kind": "cell",
        "method": method,
        "cell": dataclasses.asdict(cell),
        "repeats": args.repeats,
        "quiet": quiet,
        "precision": args.precision,
    }
    status, res = _child(job, args.cell_timeout)
    row["status"] = status
    row.update({k: v for k, v in res.items() if k != "times"})
    if status == "ok":
        row["gflops"] = flops / res["time_s"] / 1e9
        row["roofline_frac"] = row["gflops"] / roof["gflops"]
    return row


def _print_row(tag: str, row: dict, units: str) -> None:
    if row["status"] != "ok":
        print(f"{tag} {row['status']}", flush=True)
        return
    mb = row.get("peak_bytes")
    busy = (row.get("contention_cores") or 0) > 0.3
    print(
        f"{tag} {row['time_s']:8.3f} s  {_fmt_rate(row['gflops'], units):>16s} "
        f"({100 * row['roofline_frac']:.0f}% of matmul)  peak "
        f"{'-' if mb is None else f'{mb / 2**20:.0f} MiB'}  compile {row['compile_s']:.1f} s"
        + (f"  [others used {row['contention_cores']:.1f} cores]" if busy else ""),
        flush=True,
    )


def median_round(rounds: list[dict]) -> dict:
    """Of the rows of one (cell, model, method) over rounds, the one with the median time
    (the lower median for an even count), with ``rounds`` and every round's time added."""
    ok = sorted((r for r in rounds if r["status"] == "ok"), key=lambda r: r["time_s"])
    if not ok:
        return rounds[0]
    row = dict(ok[(len(ok) - 1) // 2])
    row["rounds"] = len(ok)
    row["time_s_rounds"] = " ".join(f"{r['time_s']:.4f}" for r in rounds if r["status"] == "ok")
    return row


def _roofline(args, quiet: dict) -> dict | None:
    """The matmul roofline, measured in a child; None (and a message) if it failed."""
    job = {"kind": "roofline", "matmul_n": args.matmul_n, "repeats": max(5, args.repeats)}
    status, roof = _child({**job, "quiet": quiet, "precision": args.precision}, args.cell_timeout)
    if status != "ok":
        print(f"roofline matmul {status}", file=sys.stderr)
        return None
    print(
        f"roofline: {args.matmul_n}^3 float32 matmul on {roof['backend']} ({roof['device_kind']}): "
        f"{_fmt_rate(roof['gflops'], args.units)} (best of {len(roof['times'])}), "
        f"median {_fmt_rate(roof['gflops_median'], args.units)}"
    )
    return roof


def _nt_reason() -> str | None:
    from benchmarks.methods import library

    _nt = library("_core.nt")
    return None if _nt.available() else f"neural-tangents unavailable ({_nt.unavailable_reason()})"


def _fmt_rate(gflops: float | None, units: str) -> str:
    if gflops is None:
        return "-"
    return f"{gflops / 1e3:.2f} TFLOP/s" if units == "tflops" else f"{gflops:.1f} GFLOP/s"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    quiet = {"max_wait": args.quiet_wait}
    info = machine.describe()
    print(
        f"machine: {info['cpu']}, {info['cores']} cores; jax {info['jax']}; "
        f"XLA_FLAGS={info['XLA_FLAGS']!r}"
    )
    roof = _roofline(args, quiet)
    if roof is None:
        return 1
    info.update(
        backend=roof["backend"], device_kind=roof["device_kind"], n_devices=str(roof["n_devices"])
    )
    mem_bytes = roof.get("device_bytes_limit") or machine.host().available_memory()
    methods = list(args.methods)
    nt_reason = _nt_reason() if any(m != "ntkfix" for m in methods) else None
    if nt_reason:
        dropped = [m for m in methods if m != "ntkfix"]
        methods = [m for m in methods if m == "ntkfix"]
        info["not run"] = f"{', '.join(dropped)}: {nt_reason}"
        print(f"not run: {info['not run']}")
    grid = cells_of(args)
    t_start = time.perf_counter()
    runs: dict[tuple, list[dict]] = {}
    for rnd in range(args.rounds):
        for (n, width, depth), model in itertools.product(grid, args.models):
            cell = Cell(n=n, width=width, depth=depth, model=model)
            for method in methods:
                row = _measure(args, cell, method, roof, mem_bytes, quiet)
                runs.setdefault((n, width, depth, model, method), []).append(row)
                tag = f"{model} n={n} width={width} depth={depth} {method:7s}"
                if args.rounds > 1:
                    tag = f"[round {rnd + 1}/{args.rounds}] {tag}"
                _print_row(tag, row, args.units)
    rows = [median_round(r) for r in runs.values()]
    again = _roofline(args, quiet)  # once more at the end: the better of the two counts
    if again is not None and again["gflops"] > roof["gflops"]:
        roof = again
    for row in rows:
        row["roofline_gflops"] = roof["gflops"]
        if "gflops" in row:
            row["roofline_frac"] = row["gflops"] / roof["gflops"]
    report.add_ratios(rows)
    paths = report.write(
        out, rows, roof, info, grid_name=args.grid, elapsed=time.perf_counter() - t_start
    )
    for p in paths:
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
