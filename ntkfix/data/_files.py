"""The user's own data: arrays, .npz and .csv files."""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np

from ntkfix._core.validate import check_choice
from ntkfix.data._options import from_keywords
from ntkfix.data._prepare import Dataset, as_classes, prepare

TASKS = ("auto", "binary", "multiclass", "regression")


# ---- user data ------------------------------------------------------------------------
def _features(x: Any, name: str = "x") -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 1:
        raise ValueError(f"{name} must have shape (n, d) with n >= 2, got shape {arr.shape}")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} contains NaN or inf ({int(bad.sum())} entries, first at row {i}, column {j})"
        )
    return arr


def _infer_task(y: np.ndarray) -> str:
    if y.ndim == 2 and y.shape[1] > 1:
        return "regression"
    flat = y.reshape(-1)
    if flat.dtype.kind == "f" and not np.all(np.isnan(flat) | (flat == np.round(flat))):
        return "regression"
    n_classes = np.unique(flat).size
    return "binary" if n_classes <= 2 else "multiclass"


def from_arrays(
    x: Any, y: Any, key: jax.Array, *, task: str = "auto", name: str = "arrays", **options: Any
) -> Dataset:
    """A ``Dataset`` from in-memory arrays.

    Args:
      x: (n, d) numeric features.
      y: (n,) labels (numbers or strings) or (n,)/(n, k) real targets.
      key: a ``jax.random`` key.
      task: "binary" (exactly 2 classes; the larger label in sorted order -> +1),
        "multiclass" (>= 2 classes, one-hot), "regression" (float targets), or "auto":
        regression if y is float with non-integer values or has several columns,
        otherwise binary for 2 distinct labels and multiclass for more.
      name: the dataset's name.
      **options: the fields of ``Split`` and ``Preprocessing`` (test_fraction, n_train,
        n_test, drop_duplicates, indices, center, standardize, sphere, p, targets, dtype).
    """
    check_choice(task, "task", TASKS)
    knobs = from_keywords(options)
    xs = _features(x)
    ys = np.asarray(y)
    if ys.shape[:1] != (xs.shape[0],):
        raise ValueError(
            f"y has {ys.shape[0] if ys.ndim else 0} rows but x has {xs.shape[0]} "
            f"(shapes {ys.shape}, {xs.shape})"
        )
    kind = _infer_task(ys) if task == "auto" else task
    if kind == "regression":
        if ys.dtype.kind not in "biuf":
            raise TypeError(f"y must hold numbers for task='regression', got dtype {ys.dtype}")
        yr = ys.astype(np.float64).reshape(xs.shape[0], -1)
        if not np.isfinite(yr).all():
            raise ValueError(f"y contains NaN or inf ({int((~np.isfinite(yr)).sum())} entries)")
        return prepare(xs, yr, key, kind="regression", name=name, **knobs)
    labels, classes = as_classes(ys, "y")
    if kind == "binary" and classes.size != 2:
        raise ValueError(
            f"task='binary' needs exactly 2 classes in y, found {classes.size}: "
            f"{classes.tolist()[:10]}"
        )
    return prepare(xs, labels, key, kind=kind, name=name, classes=classes, **knobs)


def _check_file(path: Any, name: str = "path") -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a file path, got {type(path).__name__}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{name}: no such file {os.fspath(path)!r}")
    return os.fspath(path)


def from_npz(
    path: Any, key: jax.Array, *, x: str = "x", y: str = "y", task: str = "auto", **options: Any
) -> Dataset:
    """A ``Dataset`` from a .npz file holding arrays ``x`` (n, d) and ``y`` (names configurable).

    ``task`` and ``**options`` as in ``from_arrays``. Files are read with
    ``allow_pickle=False``.
    """
    path = _check_file(path)
    try:
        f = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:  # not a .npz (numpy's message names no file)
        raise ValueError(f"{path!r} is not a readable .npz file: {e}") from e
    if not hasattr(f, "files"):  # a .npy file
        raise ValueError(f"{path!r} holds a single array, not a .npz file of arrays x, y")
    with f:
        for arg, k in (("x", x), ("y", y)):
            if k not in f.files:
                raise ValueError(
                    f"{path!r} has no array {k!r} (argument {arg}); it holds {sorted(f.files)}"
                )
        xa, ya = f[x], f[y]
    return from_arrays(xa, ya, key, task=task, name=os.path.basename(path), **options)


def from_csv(
    path: Any, label: str, key: jax.Array, *, task: str = "auto", **options: Any
) -> Dataset:
    """A ``Dataset`` from a .csv file with a header: column ``label`` holds y, all others x.

    Feature columns must be numeric (TypeError naming the others) and complete
    (ValueError naming the columns with missing values). ``task`` and ``**options`` as
    in ``from_arrays``.
    """
    import pandas as pd

    path = _check_file(path)
    frame = pd.read_csv(path)
    if label not in frame.columns:
        raise ValueError(
            f"label column {label!r} is not in {path!r}; its columns are {list(frame.columns)}"
        )
    feats = frame.drop(columns=[label])
    if feats.shape[1] == 0:
        raise ValueError(f"{path!r} has no feature columns besides the label {label!r}")
    non_numeric = [c for c in feats.columns if not pd.api.types.is_numeric_dtype(feats[c])]
    if non_numeric:
        raise TypeError(f"feature columns of {path!r} must be numeric; non-numeric: {non_numeric}")
    missing = [c for c in list(feats.columns) + [label] if frame[c].isna().any()]
    if missing:
        raise ValueError(f"{path!r} has missing values (NaN) in columns {missing}")
    return from_arrays(
        feats.to_numpy(np.float64),
        frame[label].to_numpy(),
        key,
        task=task,
        name=os.path.basename(path),
        **options,
    )
