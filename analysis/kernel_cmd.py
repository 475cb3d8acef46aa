"""``ntkfix kernel``: empirical and infinite NTK of user data, saved as .npz."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

import ntkfix


def load_user_data(path: str, label: str | None, normalize: bool, seed: int) -> ntkfix.data.Dataset:
    """A .npz (arrays x, y) or .csv (label column ``label``) file, all rows for 'training'."""
    suffix = Path(path).suffix.lower()
    opts = dict(test_fraction=0.0, center=normalize, sphere=normalize, task="regression")
    key = jax.random.PRNGKey(seed)
    if suffix == ".npz":
        return ntkfix.data.from_npz(path, key, **opts)
    if suffix == ".csv":
        if label is None:
            raise ValueError("--label is required for a .csv file (the column that holds y)")
        return ntkfix.data.from_csv(path, label, key, **opts)
    raise ValueError(f"--data must be a .npz or .csv file, got {path!r}")


def kernel_command(args) -> Path:
    ds = load_user_data(args.data, args.label, not args.no_normalize, args.seed)
    x = ds.x_train
    spec = ntkfix.MLP(in_dim=x.shape[1], width=args.width, depth=args.depth)
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
