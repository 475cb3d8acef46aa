"""An on-disk NTK killed mid-run and resumed: what is kept, and what the restart costs.

    python -m benchmarks.resume --n 50000 --width 1024 --depth 3 --kill-after 70

A child process runs ``ntkfix.empirical_ntk_to_disk`` and is killed with SIGKILL after
``--kill-after`` seconds (no chance to clean up); the number of tiles its progress file
records is printed; a second child makes the same call, which resumes. Then a random
sample of entries is checked against ``ntkfix.empirical_ntk`` and for symmetry, and the
files are deleted (unless ``--keep``).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

CHILD = (
    "import sys; from benchmarks.large import problem; import ntkfix; "
    "spec, params, x = problem(*map(int, sys.argv[2:5])); "
    "ntkfix.empirical_ntk_to_disk(spec, params, x, sys.argv[1])"
)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.resume", description=__doc__)
    p.add_argument("--n", type=int, default=50000)
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--kill-after", type=float, default=70.0)
    p.add_argument("--sample", type=int, default=300)
    p.add_argument("--path", default="/tmp/ntkfix_resume_kernel.npy")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    path = Path(args.path)
    side = path.with_name(path.name + ".progress")
    for f in (path, side):
        f.unlink(missing_ok=True)
    cmd = [sys.executable, "-c", CHILD, str(path), str(args.n), str(args.width), str(args.depth)]
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd)
    try:
        code = child.wait(args.kill_after)
        what = "finished" if code == 0 else f"failed (exit status {code})"
        print(f"the run {what} before --kill-after: nothing to resume", file=sys.stderr)
        return 1
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGKILL)
        child.wait()
    killed = time.perf_counter() - t0
    # records after the header, as ntkfix._kernels.sidecar.read_sidecar counts them
    # (not a torn line)
    lines = side.read_text().splitlines()[1:] if side.exists() else []
    done = sum(1 for line in lines if len(line.split()) == 2)
    print(f"killed (SIGKILL) after {killed:.1f} s with {done} tiles recorded", flush=True)
    t1 = time.perf_counter()
    subprocess.run(cmd, check=True)
    resumed = time.perf_counter() - t1
    print(f"resumed call finished in {resumed:.1f} s; {killed + resumed:.1f} s in all", flush=True)

    import numpy as np

    from benchmarks.large import problem, spot_check

    spec, params, x = problem(args.n, args.width, args.depth)
    K = np.load(path, mmap_mode="r")
    err, asym = spot_check(K, spec, params, x, args.sample, seed=1)
    print(
        f"{args.sample}^2 sample: max rel err vs empirical_ntk {err:.1e}, max |K - K^T| {asym:.1e}"
    )
    del K
    if not args.keep:
        for f in (path, side):
            f.unlink(missing_ok=True)
        print(f"deleted {path}")
    return 0 if err < 1e-5 and asym == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
