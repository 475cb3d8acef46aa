"""Dataset sources: synthetic (sphere + teacher), scikit-learn's bundled data, user files.

Every loader takes a ``jax.random`` key and the common ``**options`` of
``ntkfix._data.prepare`` (test_fraction=0.2, n_train, n_test, p=0.0 label corruption,
center=True, standardize=False, sphere=True, targets="onehot", dtype) and returns a
``Dataset``. Nothing is downloaded: scikit-learn's digits and breast-cancer data ship
inside the package.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntkfix._data import Dataset, as_classes, prepare
from ntkfix._infinite import infinite_nngp
from ntkfix._nets import MLP, Params
from ntkfix._validate import check_choice, check_key, check_nonneg_float, check_positive_int

TASKS = ("auto", "binary", "multiclass", "regression")


# ---- synthetic --------------------------------------------------------------------
def sphere(key: jax.Array, n: int, d: int, dtype: Any = None) -> jax.Array:
    """``n`` points uniform on the unit sphere S^{d-1} in R^d: (n, d), normalized Gaussians.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from ntkfix import data
      >>> x = data.sphere(jax.random.PRNGKey(0), 4, 3)
      >>> bool(jnp.allclose(jnp.linalg.norm(x, axis=1), 1.0, atol=1e-6))
      True
    """
    key = check_key(key)
    n, d = check_positive_int(n, "n"), check_positive_int(d, "d")
    dtype = jnp.result_type(float) if dtype is None else dtype
    g = jax.random.normal(key, (n, d), dtype)
    return g / jnp.linalg.norm(g, axis=1, keepdims=True)


@dataclasses.dataclass(frozen=True, eq=False)
class Teacher:
    """A random ReLU network used as a target function: x -> scale * spec.apply(params, x).

    ``scale`` = 1 / sqrt(NNGP(x, x)) at unit norm, so on the unit sphere each output has
    variance 1 over the draw of the teacher.
    """

    spec: MLP
    params: Params
    scale: float

    def __call__(self, x: Any) -> jax.Array:
        return self.scale * self.spec.apply(self.params, x)


def teacher(
    key: jax.Array, in_dim: int, *, width: int = 64, depth: int = 1, out_dim: int = 1
) -> Teacher:
    """A random ReLU ``MLP`` teacher (default ``MLP`` scales), drawn by ``key``."""
    spec = MLP(in_dim=in_dim, width=width, depth=depth, out_dim=out_dim)
    unit = np.zeros((1, spec.in_dim))
    unit[0, 0] = 1.0
    var = float(infinite_nngp(spec, unit, backend="closed_form")[0, 0])
    return Teacher(spec=spec, params=spec.init(check_key(key)), scale=1.0 / math.sqrt(var))


def synthetic(
    key: jax.Array,
    n_train: int,
    n_test: int,
    in_dim: int,
    *,
    target: str | Callable = "teacher",
    teacher_width: int = 64,
    teacher_depth: int = 1,
    noise: float = 0.0,
    binary: bool = False,
    **options: Any,
) -> Dataset:
    """Points uniform on the sphere labelled by a teacher network or a given function.

    y = f(x) + noise * N(0, 1) with f a random ReLU ``teacher`` (unit output variance)
    or a callable f((n, d) array) -> (n,) or (n, k); ``binary=True`` gives sign(y) as
    +-1 labels (sign(0) = +1), to which ``p`` label corruption then applies.
    ``center`` defaults to False here (the points are centered in distribution and
    already on the sphere, and the labels are a function of them).

    Args:
      key: a ``jax.random`` key (points, teacher, noise and split use sub-keys).
      n_train, n_test: sizes (n_test may be 0).
      in_dim: d.
      target: "teacher" or a callable.
      teacher_width, teacher_depth: the teacher's architecture.
      noise: standard deviation of the additive Gaussian label noise.
      binary: classification labels sign(y) instead of real targets.
      **options: as in ``prepare`` (n_train/n_test are set here).

    Example:
      >>> import jax
      >>> from ntkfix import data
      >>> ds = data.synthetic(jax.random.PRNGKey(0), 20, 5, 3, binary=True)
      >>> ds.x_train.shape, ds.y_train.shape
      ((20, 3), (20, 1))
    """
    key = check_key(key)
    n_tr = check_positive_int(n_train, "n_train")
    if isinstance(n_test, bool) or not isinstance(n_test, (int, np.integer)) or n_test < 0:
        raise ValueError(f"n_test must be an integer >= 0, got {n_test!r}")
    noise = check_nonneg_float(noise, "noise")
    k_x, k_teacher, k_noise, k_prep = jax.random.split(key, 4)
    x = sphere(k_x, n_tr + int(n_test), in_dim)
    meta: dict[str, Any] = {"noise": noise}
    if isinstance(target, str):
        check_choice(target, "target", ("teacher",))
        f = teacher(k_teacher, in_dim, width=teacher_width, depth=teacher_depth)
        meta["teacher"] = f
    elif callable(target):
        f = target
    else:
        raise TypeError(f"target must be 'teacher' or a callable f(x), got {type(target).__name__}")
    y = np.asarray(f(x), np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"target(x) must return shape (n,) or (n, k) for x of shape {x.shape}, got {y.shape}"
        )
    if not np.isfinite(y).all():
        raise ValueError("target(x) returned NaN or inf")
    y = y + noise * np.asarray(jax.random.normal(k_noise, y.shape), np.float64)
    name = f"synthetic[{'teacher' if isinstance(target, str) else 'function'}, d={in_dim}]"
    options = {"center": False, **options}
    x = np.asarray(x, np.float64)
    if binary:
        if y.shape[1] != 1:
            raise ValueError(f"binary=True needs a single output, target gives {y.shape[1]}")
        labels = (y[:, 0] >= 0).astype(int)
        if np.unique(labels).size < 2:
            raise ValueError("binary=True: all labels have the same sign (fewer than 2 classes)")
        return prepare(
            x,
            labels,
            k_prep,
            kind="binary",
            name=name,
            classes=np.array([-1, 1]),
            n_train=n_tr,
            n_test=int(n_test),
            extra_meta=meta,
            **options,
        )
    return prepare(
        x,
        y,
        k_prep,
        kind="regression",
        name=name,
        n_train=n_tr,
        n_test=int(n_test),
        extra_meta=meta,
        **options,
    )


# ---- scikit-learn's bundled data ------------------------------------------------------
_PAIR = re.compile(r"^\s*(\d)\s*(?:v|vs|-)\s*(\d)\s*$", re.IGNORECASE)
_EVEN_ODD = ("even_odd", "even vs odd", "even-odd", "parity")
_MULTI = ("multiclass", "all", "10class")


def _digits_task(task: Any) -> tuple[str, tuple[int, int] | None]:
    """("pair", (a, b)) | ("even_odd", None) | ("multiclass", None), or ValueError."""
    if (
        isinstance(task, (tuple, list))
        and len(task) == 2
        and all(isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in task)
    ):
        pair = (int(task[0]), int(task[1]))
    elif isinstance(task, str) and _PAIR.match(task):
        m = _PAIR.match(task)
        pair = (int(m.group(1)), int(m.group(2)))
    elif isinstance(task, str) and task.strip().lower() in _EVEN_ODD:
        return "even_odd", None
    elif isinstance(task, str) and task.strip().lower() in _MULTI:
        return "multiclass", None
    else:
        raise ValueError(
            f"unknown task {task!r}; expected two digits 'a v b' (e.g. '3v8', '3 vs 8' or (3, 8)), "
            f"'even_odd' or 'multiclass'"
        )
    if not (0 <= pair[0] <= 9 and 0 <= pair[1] <= 9) or pair[0] == pair[1]:
        raise ValueError(f"task {task!r} must name two different digits in 0..9")
    return "pair", pair


def digits(key: jax.Array, task: Any = "0v1", **options: Any) -> Dataset:
    """scikit-learn's 8x8 digits (1797 images, 64 features in 0..16, bundled with sklearn).

    Args:
      key: a ``jax.random`` key.
      task: "a v b" two digits (a -> +1, b -> -1), e.g. "0v1", "3 vs 8" or (3, 8);
        "even_odd" (even -> +1, odd -> -1); or "multiclass" (10 classes, one-hot).
      **options: as in ``prepare`` (test_fraction, n_train, n_test, p, center,
        standardize, sphere, targets, dtype).
    """
    from sklearn.datasets import load_digits

    kind, pair = _digits_task(task)
    bunch = load_digits()
    x, t = np.asarray(bunch.data, np.float64), np.asarray(bunch.target)
    if kind == "pair":
        a, b = pair
        rows = (t == a) | (t == b)
        return prepare(
            x[rows],
            (t[rows] == a).astype(int),
            key,
            kind="binary",
            name=f"digits[{a}v{b}]",
            classes=np.array([b, a]),
            **options,
        )
    if kind == "even_odd":
        return prepare(
            x,
            (t % 2 == 0).astype(int),
            key,
            kind="binary",
            name="digits[even_odd]",
            classes=np.array(["odd", "even"]),
            **options,
        )
    return prepare(
        x, t, key, kind="multiclass", name="digits[multiclass]", classes=np.arange(10), **options
    )


def breast_cancer(key: jax.Array, **options: Any) -> Dataset:
    """scikit-learn's breast-cancer data (569 x 30): benign -> +1, malignant -> -1.

    The 30 features span four orders of magnitude; ``standardize=True`` is advisable
    before the projection to the sphere. ``**options`` as in ``prepare``.
    """
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    x, t = np.asarray(bunch.data, np.float64), np.asarray(bunch.target)  # 0 malignant, 1 benign
    return prepare(
        x,
        t,
        key,
        kind="binary",
        name="breast_cancer",
        classes=np.array(["malignant", "benign"]),
        **options,
    )


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
      **options: as in ``prepare``.
    """
    check_choice(task, "task", TASKS)
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
        return prepare(xs, yr, key, kind="regression", name=name, **options)
    labels, classes = as_classes(ys, "y")
    if kind == "binary" and classes.size != 2:
        raise ValueError(
            f"task='binary' needs exactly 2 classes in y, found {classes.size}: "
            f"{classes.tolist()[:10]}"
        )
    return prepare(xs, labels, key, kind=kind, name=name, classes=classes, **options)


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
    with np.load(path, allow_pickle=False) as f:
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
