"""MNIST-1D (Greydanus & Kobak 2020, arXiv:2011.14439), generated locally: nothing is
downloaded.

``mnist1d.data.make_dataset`` (the ``mnist1d`` package, an optional dependency:
``pip install ntkfix[mnist1d]``) builds the data procedurally from ten 1-D digit
templates (padding, translation, correlated and iid noise, shear; 40 features per
example). Its defaults give the standard data set: 5,000 examples, seed 42, the first
4,000 for training and the last 1,000 for testing; that split is kept (``split``),
so results compare with the literature. ``num_samples`` makes more (e.g. 60,000 for a
sample-size experiment); the train share stays 80%.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np

from ntkfix._core.validate import check_positive_int
from ntkfix.data._options import from_keywords
from ntkfix.data._prepare import Dataset, prepare
from ntkfix.data._sklearn import digits_task


@functools.lru_cache(maxsize=4)
def _generate(num_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, x_test, y_test) of ``make_dataset`` (read-only; the last few sizes are kept:
    generating 62,500 examples takes seconds, and a sweep loads one data set many times)."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as e:
        raise ImportError(
            "ntkfix.data.mnist1d needs the mnist1d package: pip install 'ntkfix[mnist1d]' "
            f"(or pip install mnist1d); import failed: {e}"
        ) from None
    args = get_dataset_args()
    args.num_samples, args.seed = num_samples, seed
    d = make_dataset(args)
    arrays = tuple(np.array(d[k]) for k in ("x", "y", "x_test", "y_test"))
    for a in arrays:
        a.setflags(write=False)
    return arrays


def mnist1d(
    key: jax.Array,
    task: Any = "multiclass",
    *,
    num_samples: int = 5000,
    seed: int = 42,
    **options: Any,
) -> Dataset:
    """MNIST-1D: (n, 40) signals of the digits 0..9, the standard train/test split.

    Args:
      key: a ``jax.random`` key (subsampling with ``n_train``, label corruption).
      task: as ``digits``: "a v b" (a -> +1, b -> -1), "even_odd" or "multiclass".
      num_samples: examples generated (default 5,000: 4,000 train, 1,000 test).
      seed: the generator's seed (default 42: the standard data set).
      **options: as in ``digits`` (n_train, n_test, drop_duplicates, p, center,
        standardize, sphere, targets, dtype); the split is the data set's own.
    """
    num_samples = check_positive_int(num_samples, "num_samples")
    if num_samples < 10:
        raise ValueError(f"num_samples must be at least 10, got {num_samples}")
    for knob in ("test_fraction", "indices", "split"):
        if knob in options:
            raise ValueError(f"mnist1d keeps its standard split: {knob} does not apply")
    kind, pair = digits_task(task)
    xtr, ttr, xte, tte = _generate(num_samples, int(seed))
    x = np.concatenate([xtr, xte]).astype(np.float64)
    t = np.concatenate([ttr, tte]).astype(int)
    train = np.arange(len(xtr))
    test = np.arange(len(xtr), len(x))
    meta = {"num_samples": num_samples, "seed": int(seed)}
    if kind == "pair":
        train, test = train[np.isin(t[train], pair)], test[np.isin(t[test], pair)]
    knobs = from_keywords({**options, "indices": (train, test)})
    if kind == "pair":
        a, b = pair
        return prepare(
            x,
            (t == a).astype(int),
            key,
            kind="binary",
            name=f"mnist1d[{a}v{b}]",
            classes=np.array([b, a]),
            extra_meta=meta,
            **knobs,
        )
    if kind == "even_odd":
        return prepare(
            x,
            (t % 2 == 0).astype(int),
            key,
            kind="binary",
            name="mnist1d[even_odd]",
            classes=np.array(["odd", "even"]),
            extra_meta=meta,
            **knobs,
        )
    return prepare(
        x,
        t,
        key,
        kind="multiclass",
        name="mnist1d[multiclass]",
        classes=np.arange(10),
        extra_meta=meta,
        **knobs,
    )
