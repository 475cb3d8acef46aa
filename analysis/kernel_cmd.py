"""``ntkfix kernel``: empirical and infinite NTK of user data, saved as .npz."""

from __future__ import annotations

import zipfile
from pathlib import Path

import jax
import numpy as np

import ntkfix
from analysis.errors import UsageError

# What the library's loaders (and numpy/pandas under them) raise for a file that cannot
# be used: missing or unreadable, not .npz/.csv inside, wrong arrays or columns.
BAD_FILE = (ValueError, TypeError, OSError, EOFError, zipfile.BadZipFile)


def load_user_data(path: str, label: str | None, normalize: bool, seed: int) -> ntkfix.data.Dataset:
    """A .npz (arrays x, y) or .csv (label column ``label``) file, all rows for 'training'.

    Raises:
      UsageError: a file that is not .npz/.csv, a .csv without ``label``, or one the
        library cannot load (the loader's message).
    """
    suffix = Path(path).suffix.lower()
    opts = dict(test_fraction=0.0, center=normalize, sphere=normalize, task="regression")
    key = jax.random.PRNGKey(seed)
    if suffix not in (".npz", ".csv"):
        raise UsageError(f"--data must be a .npz or .csv file, got {path!r}")
    if suffix == ".csv" and label is None:
        raise UsageError("--label is required for a .csv file (the column that holds y)")
    try:
        if suffix == ".npz":
            return ntkfix.data.from_npz(path, key, **opts)
        return ntkfix.data.from_csv(path, label, key, **opts)
    except BAD_FILE as e:
        raise UsageError(f"cannot use --data {path}: {e}") from e


def kernel_command(args) -> Path:
    ds = load_user_data(args.data, args.label, not args.no_normalize, args.seed)
    x = ds.x_train
    try:
        spec = ntkfix.MLP(in_dim=x.shape[1], width=args.width, depth=args.depth)
    except ValueError as e:  # --width or --depth out of range
        raise UsageError(str(e)) from e
    params = spec.init(jax.random.PRNGKey(args.seed))
    emp = ntkfix.empirical_ntk(spec, params, x)
    inf = ntkfix.infinite_ntk(spec, x)
    dists = {f"dist_{m}": ntkfix.kernel_distance(emp, inf, m) for m in ntkfix.KERNEL_METRICS}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        out,
        x=np.asarray(x),
        index=np.asarray(ds.meta["train_index"]),
        empirical_ntk=np.asarray(emp),
        infinite_ntk=np.asarray(inf),
        width=args.width,
        depth=args.depth,
        seed=args.seed,
        **dists,
    )
    for k, v in dists.items():
        print(f"{k} = {v:.4g}")
    return out
