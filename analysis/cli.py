"""Command line: ``ntkfix report | run | plot | kernel``.

Mistakes in what the user passed (bad config, unreadable data, a folder holding
another config's results) print one line on stderr and exit with code 2: the
analysis' ``AnalysisError`` (``analysis.errors``) and the library's user errors
(``ntkfix._core.errors.USER_ERRORS``). Any other exception is a bug and keeps its
traceback; where user input meets a loader that raises ValueError & co. for a bad
file, that call turns them into a ``UsageError``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.errors import AnalysisError, UsageError

EXAMPLES = {
    "report": "examples:\n  ntkfix report --out results --quick\n  ntkfix report --out results",
    "run": "examples:\n  ntkfix run analysis/configs/kernel_distance_quick.toml --out results\n"
    "  ntkfix run kernel_distance --out results       (a shipped config by name)",
    "plot": "examples:\n  ntkfix plot results",
    "kernel": "Rows are kept in the file's order (x, y and the kernels' rows and columns).\n"
    "With labels: the complexity of each kernel, and for two classes Arora et al.'s bound.\n"
    "examples:\n"
    "  ntkfix kernel --data points.npz --width 1024 --depth 3 --out kernels.npz\n"
    "  ntkfix kernel --data table.csv --label y --width 512 --standardize\n"
    "  ntkfix kernel --data digits.npz --model net.py:cnn --input-shape 8,8,1",
}


def _cmd_report(args) -> int:
    from analysis.report.suite import make_report

    md, page = make_report(args.out, quick=args.quick, progress=not args.quiet)
    print(f"wrote {md} and {page}")
    return 0


def _resolve_config(arg: str):
    from analysis import experiments

    path = Path(arg)
    if path.suffix == ".toml" or path.exists():
        return experiments.load_config(path)
    quick = arg.endswith(":quick")
    return experiments.shipped_config(arg.removesuffix(":quick"), quick=quick)


def _executor(spec: str | None):
    if not spec or spec == "inline":
        return None
    if spec.startswith("dask://"):
        from analysis.executors import dask_executor

        return dask_executor(spec)
    raise UsageError(f"--executor must be 'inline' or dask://HOST:PORT, got {spec!r}")


def _cmd_run(args) -> int:
    from analysis.runner import run_experiment

    cfg = _resolve_config(args.config)
    df = run_experiment(cfg, args.out, executor=_executor(args.executor), progress=not args.quiet)
    print(f"{len(df)} rows -> {Path(args.out) / cfg.experiment / 'results.csv'}")
    return 0


def _cmd_plot(args) -> int:
    import pandas as pd

    from analysis.report.sections import SECTIONS

    root = Path(args.results)
    found = sorted(p for p in root.glob("**/results.csv") if p.parent.name in SECTIONS)
    if not found:
        raise UsageError(f"no results.csv of a known experiment under {root}")
    for csv in found:
        try:
            df = pd.read_csv(csv)
        except (ValueError, OSError) as e:  # unreadable or not a table
            raise UsageError(f"cannot read {csv}: {e}") from e
        sec = SECTIONS[csv.parent.name](df, root)
        for f in sec.figures:
            print(f"wrote {f}")
    return 0


def _cmd_kernel(args) -> int:
    from analysis.kernel_cmd import kernel_command

    path = kernel_command(args)
    print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    import ntkfix

    p = argparse.ArgumentParser(
        prog="ntkfix", description="Fixed-activation-pattern networks and their NTKs."
    )
    p.add_argument("--version", action="version", version=f"ntkfix {ntkfix.__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        fmt = argparse.RawDescriptionHelpFormatter
        return sub.add_parser(name, help=summary, epilog=EXAMPLES[name], formatter_class=fmt)

    r = command("report", "run the default suite and write report.md/.html")
    r.add_argument("--out", default="results", help="output folder (default: results)")
    r.add_argument("--quick", action="store_true", help="small grids (seconds instead of minutes)")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    r.set_defaults(fn=_cmd_report)

    r = command("run", "run one experiment from a TOML config")
    r.add_argument(
        "config",
        help="path to a TOML config, or a shipped experiment name (NAME or NAME:quick)",
    )
    r.add_argument("--out", default="results", help="output folder (default: results)")
    r.add_argument("--executor", default=None, help="inline (default) or dask://HOST:PORT")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    r.set_defaults(fn=_cmd_run)

    r = command("plot", "redraw figures and tables from a results folder")
    r.add_argument("results", help="a folder written by 'ntkfix run' or 'ntkfix report'")
    r.set_defaults(fn=_cmd_plot)

    r = command("kernel", "empirical/infinite NTK of user data, saved as .npz")
    from analysis.kernel_cmd import add_arguments

    add_arguments(r)
    r.set_defaults(fn=_cmd_kernel)
    return p


def main(argv: list[str] | None = None) -> int:
    from ntkfix.errors import USER_ERRORS

    args = build_parser().parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")  # the command line writes figures to files, never to a window
    try:
        return args.fn(args)
    except (AnalysisError, *USER_ERRORS) as e:
        print(f"ntkfix {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"ntkfix {args.command}: interrupted; finished cells are kept, rerun to resume",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
