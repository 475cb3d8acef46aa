"""Datasets for NTK experiments: the ``Dataset`` record, preprocessing, splits, label noise.

The theory (Arora et al. 2019, arXiv:1901.08584; docs/design.md, section 1) assumes
unit-norm inputs. ``prepare`` runs the pipeline every loader uses, in this order (its
knobs: a ``Split`` and a ``Preprocessing``, ``ntkfix.data._options``):

1. split: a random permutation drawn from the key; the first ``n_test`` points are the
   test set (optionally the training set is then cut to ``n_train``);
2. center (default on): subtract the feature mean of the *training* inputs from
   training and test inputs;
3. standardize (default off): divide each feature by its training standard deviation
   (features with zero spread are left as they are);
4. project to the unit sphere (default on): x <- x / |x| (a zero row is an error);
5. corrupt (default p = 0): in the *training* set, exactly floor(p * n_train + 1/2) labels,
   chosen by the key, are changed: binary labels flipped (y -> -y), multi-class labels
   replaced by a different class drawn uniformly from the other k - 1.

Data quality (``ntkfix.data._quality``), checked on the raw features after the split: a
``DataQualityWarning`` when feature scales differ by more than 100x and standardize is
off (``meta["scale_spread"]``), and when test rows equal a training row exactly
(``meta["duplicates"]``; ``drop_duplicates=True`` removes them from the test set).

Targets: binary tasks give y in {-1, +1} of shape (n, 1); multi-class tasks give
one-hot rows of shape (n, k) with entries 0/1 (``targets="onehot"``, default) or
centered, 1 - 1/k and -1/k (``targets="centered"``, rows summing to 0); regression
targets are kept as (n, k) floats. Same key, same numbers.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntkfix._core.validate import check_choice, check_fraction, check_key
from ntkfix.data import _quality
from ntkfix.data._options import Preprocessing, Split

TASK_KINDS = ("binary", "multiclass", "regression")


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split, preprocessed, with its provenance.

    Attributes:
      x_train: (n_train, d) inputs.
      y_train: (n_train, k) targets (binary: k = 1, entries +-1; see module docstring).
      x_test: (n_test, d) inputs.
      y_test: (n_test, k) targets (never corrupted).
      name: a short description, e.g. "digits[3v8]".
      meta: read-only mapping: "kind" ("binary" | "multiclass" | "regression"),
        "classes" (original label of each class index; binary: (negative, positive)),
        "labels_train"/"labels_test" (class indices after/without corruption, or None),
        "corrupted" (sorted indices into the training set whose label was changed),
        "p" (corruption fraction), "train_index"/"test_index" (rows of the source data),
        "mean"/"scale" (the centering/standardizing statistics used, or None),
        "scale_spread" (largest over median feature std of the raw training features),
        "duplicates" (rows of the source data in the test split that equal a training
        row exactly; removed from the test set when "duplicates_dropped"), and
        loader-specific entries.
    """

    x_train: jax.Array
    y_train: jax.Array
    x_test: jax.Array
    y_test: jax.Array
    name: str
    meta: types.MappingProxyType = dataclasses.field(
        default_factory=lambda: types.MappingProxyType({})
    )

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.x_test.shape[0])

    @property
    def in_dim(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def out_dim(self) -> int:
        return int(self.y_train.shape[1])

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, n_train={self.n_train}, n_test={self.n_test}, "
            f"in_dim={self.in_dim}, out_dim={self.out_dim}, kind={self.meta.get('kind')!r}, "
            f"p={self.meta.get('p')})"
        )


# ---- preprocessing (pure functions on numpy arrays) ----------------------------------
def split_indices(key: jax.Array, n: int, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, test_idx): a permutation of range(n) drawn from ``key``, test first."""
    perm = np.asarray(jax.random.permutation(key, n))
    return perm[n_test:], perm[:n_test]


def center_features(
    x_train: np.ndarray, x_test: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Subtract the training mean from both sets; returns (x_train, x_test, mean)."""
    mean = x_train.mean(axis=0)
    return x_train - mean, x_test - mean, mean


def standardize_features(
    x_train: np.ndarray, x_test: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Divide each feature by its training std (1 where the std is 0)."""
    scale = x_train.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return x_train / scale, x_test / scale, scale


def project_to_sphere(x: np.ndarray, name: str = "x") -> np.ndarray:
    """Rows scaled to unit Euclidean norm; a zero row raises ValueError."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    zero = np.flatnonzero(norms[:, 0] == 0)
    if zero.size:
        raise ValueError(
            f"{name} row {int(zero[0])} has zero norm (after centering) and cannot be projected to "
            f"the unit sphere ({zero.size} such rows); drop it or pass sphere=False"
        )
    return x / norms


def corrupt_labels(
    key: jax.Array, labels: np.ndarray, n_classes: int, p: float
) -> tuple[np.ndarray, np.ndarray]:
    """Change exactly floor(p * n + 1/2) class indices, chosen by ``key``, to a different class.

    Args:
      key: a ``jax.random`` key.
      labels: (n,) integer class indices in [0, n_classes).
      n_classes: k >= 2; for k = 2 this flips the label.
      p: fraction in [0, 1].

    Returns:
      (new labels, sorted indices that changed).
    """
    p = check_fraction(p, "p")
    key = check_key(key)
    labels = np.array(labels)  # a writable host copy (also for jax arrays)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise TypeError(
            f"labels must be a 1-D integer array, got dtype {labels.dtype}, shape {labels.shape}"
        )
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"labels must lie in [0, {n_classes - 1}] (n_classes={n_classes}), got "
            f"[{labels.min()}, {labels.max()}]"
        )
    n = labels.shape[0]
    n_bad = int(np.floor(p * n + 0.5))  # round half up (not Python's banker's rounding)
    k_pick, k_shift = jax.random.split(key)
    idx = np.sort(np.asarray(jax.random.permutation(k_pick, n))[:n_bad])
    shift = np.asarray(jax.random.randint(k_shift, (n_bad,), 1, n_classes))
    out = labels.copy()
    out[idx] = (labels[idx] + shift) % n_classes
    return out, idx


def encode(labels: np.ndarray, n_classes: int, targets: str) -> np.ndarray:
    """Class indices -> targets: "pm1" (n, 1) in {-1, +1} (class 1 -> +1, two classes only),
    "onehot" (n, k) 0/1, or "centered" (n, k) one-hot minus 1/k."""
    if targets == "pm1":
        return (2.0 * labels - 1.0)[:, None]
    onehot = np.eye(n_classes)[labels]
    return onehot - 1.0 / n_classes if targets == "centered" else onehot


def as_classes(y: Any, name: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """(class indices, sorted distinct labels) of a 1-D label array; >= 2 classes required."""
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class labels, got shape {arr.shape}")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN labels ({int(np.isnan(arr).sum())} entries)")
    classes, labels = np.unique(arr, return_inverse=True)
    if classes.size < 2:
        raise ValueError(
            f"{name} has fewer than 2 classes (found {classes.size}: {classes.tolist()}); "
            "a classification task needs at least 2"
        )
    return labels.reshape(-1), classes


# ---- the pipeline ---------------------------------------------------------------------
def _split_sizes(n: int, split: Split) -> tuple[int, int]:
    nt = int(round(split.test_fraction * n)) if split.n_test is None else split.n_test
    if not 0 <= nt < n:
        raise ValueError(
            f"n_test must be an integer in [0, {n - 1}] for {n} points, got {split.n_test!r}"
        )
    ntr = n - nt if split.n_train is None else split.n_train
    if not 1 <= ntr <= n - nt:
        raise ValueError(
            f"n_train must be an integer in [1, {n - nt}] ({n} points, {nt} for testing), "
            f"got {split.n_train!r}"
        )
    return ntr, nt


def _split_rows(n: int, key: jax.Array, split: Split) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, test rows): a random split, or the fixed one cut to the sizes."""
    if split.indices is None:
        ntr, nt = _split_sizes(n, split)
        train_idx, test_idx = split_indices(key, n, nt)
        return train_idx[:ntr], test_idx
    train_idx, test_idx = split.indices
    for name_, size, idx in (
        ("n_train", split.n_train, train_idx),
        ("n_test", split.n_test, test_idx),
    ):
        if size is not None and not 0 < size <= len(idx):
            raise ValueError(f"{name_} must be in 1..{len(idx)} (the split's size), got {size}")
    if split.n_train is not None:
        perm = np.asarray(jax.random.permutation(key, len(train_idx)))
        train_idx = train_idx[np.sort(perm[: split.n_train])]
    if split.n_test is not None:
        test_idx = test_idx[: split.n_test]
    return train_idx, test_idx


def _check_quality(
    x: np.ndarray, rows: tuple[np.ndarray, np.ndarray], name: str, drop: bool, standardize: bool
) -> tuple[np.ndarray, dict[str, Any]]:
    """Warn on feature scales and duplicated test rows; (test rows, dropping them if
    ``drop``, and the meta entries "scale_spread", "duplicates", "duplicates_dropped")."""
    train_idx, test_idx = rows
    spread = _quality.scale_spread(x[train_idx])
    if not standardize and spread > _quality.SCALE_SPREAD_LIMIT:
        _quality.warn_scales(spread, name)
    dup = _quality.duplicate_rows(x[train_idx], x[test_idx])
    duplicates = test_idx[dup]
    if dup.size:
        _quality.warn_duplicates(dup.size, test_idx.size, name, drop)
        if drop:
            test_idx = np.delete(test_idx, dup)
    meta = dict(scale_spread=spread, duplicates=duplicates, duplicates_dropped=drop)
    return test_idx, meta


def _preprocess(xtr: np.ndarray, xte: np.ndarray, prep: Preprocessing) -> tuple:
    """Steps 2-4 (module docstring): (x_train, x_test, {"mean": ..., "scale": ...})."""
    mean = scale = None
    if prep.center:
        xtr, xte, mean = center_features(xtr, xte)
    if prep.standardize:
        xtr, xte, scale = standardize_features(xtr, xte)
    if prep.sphere:
        xtr, xte = project_to_sphere(xtr, "x_train"), project_to_sphere(xte, "x_test")
    return xtr, xte, {"mean": mean, "scale": scale}


def _check_classes(kind: str, classes: np.ndarray | None) -> int:
    """The number of classes of a classification task (ValueError if too few)."""
    n_classes = 0 if classes is None else len(classes)
    if n_classes < 2 or (kind == "binary" and n_classes != 2):
        raise ValueError(
            f"a {kind} task needs {'exactly' if kind == 'binary' else 'at least'} 2 "
            f"classes, got {n_classes}"
        )
    return n_classes


def _targets(
    y: np.ndarray,
    rows: tuple[np.ndarray, np.ndarray],
    kind: str,
    classes: np.ndarray | None,
    key: jax.Array,
    prep: Preprocessing,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Step 5 and the encoding: (y_train, y_test, their meta entries)."""
    train_idx, test_idx = rows
    if kind == "regression":
        meta = dict(classes=None, labels_train=None, labels_test=None, corrupted=np.zeros(0, int))
        return y[train_idx], y[test_idx], meta
    n_classes = _check_classes(kind, classes)
    ltr, lte = y[train_idx], y[test_idx]
    ltr, bad = corrupt_labels(key, ltr, n_classes, prep.p)
    enc = "pm1" if kind == "binary" else prep.targets
    meta = dict(classes=classes, labels_train=ltr, labels_test=lte, corrupted=bad)
    if kind == "multiclass":
        meta["targets"] = prep.targets
    return encode(ltr, n_classes, enc), encode(lte, n_classes, enc), meta


def _checked(value: Any, cls: type, name: str) -> Any:
    if value is None:
        return cls()
    if not isinstance(value, cls):
        raise TypeError(
            f"{name} must be an ntkfix.data.{cls.__name__} (or None for the defaults), "
            f"got {type(value).__name__}"
        )
    return value


def prepare(
    x: np.ndarray,
    y: np.ndarray,
    key: jax.Array,
    *,
    kind: str,
    name: str,
    classes: np.ndarray | None = None,
    split: Split | None = None,
    preprocessing: Preprocessing | None = None,
    extra_meta: dict | None = None,
) -> Dataset:
    """Split, preprocess, corrupt and encode (module docstring); returns a ``Dataset``.

    The loaders take the knobs of ``split`` and ``preprocessing`` as keywords
    (``digits(key, n_train=100, p=0.1)``); ``prepare`` takes the two records.

    Args:
      x: (n, d) float64 features (already validated: finite, numeric).
      y: (n,) class indices for "binary"/"multiclass" (with ``classes`` their original
        labels), or (n, k) float targets for "regression".
      key: a ``jax.random`` key; split into (split, corruption) keys.
      kind: "binary", "multiclass" or "regression".
      name: the dataset's name.
      classes: original labels of the class indices (binary: (negative, positive)).
      split: a ``Split``: test_fraction, n_train, n_test, drop_duplicates, a fixed
        split's indices (default ``Split()``: 20% random test points).
      preprocessing: a ``Preprocessing``: center, standardize, sphere, p, targets,
        dtype (default ``Preprocessing()``: centered, on the sphere, no corruption).
      extra_meta: entries added to ``Dataset.meta``.

    Examples:
      >>> import numpy as np, jax
      >>> from ntkfix import data
      >>> x = np.random.default_rng(0).normal(size=(10, 3))
      >>> ds = data.prepare(
      ...     x, np.arange(10) % 2, jax.random.PRNGKey(0), kind="binary", name="toy",
      ...     classes=np.array([0, 1]), split=data.Split(n_test=4),
      ...     preprocessing=data.Preprocessing(p=0.5))
      >>> ds.n_train, ds.n_test, len(ds.meta["corrupted"])
      (6, 4, 3)
    """
    key = check_key(key)
    check_choice(kind, "kind", TASK_KINDS)
    split = _checked(split, Split, "split")
    prep = _checked(preprocessing, Preprocessing, "preprocessing")
    if kind == "regression" and prep.p > 0:
        raise ValueError(f"p={prep.p} corrupts class labels, but this task is a regression task")
    k_split, k_corrupt = jax.random.split(key)
    train_idx, test_idx = _split_rows(x.shape[0], k_split, split)
    test_idx, quality = _check_quality(
        x, (train_idx, test_idx), name, split.drop_duplicates, prep.standardize
    )
    xtr, xte, stats = _preprocess(x[train_idx], x[test_idx], prep)
    ytr, yte, labels = _targets(y, (train_idx, test_idx), kind, classes, k_corrupt, prep)
    meta: dict[str, Any] = dict(kind=kind, p=prep.p, train_index=train_idx, test_index=test_idx)
    meta.update(**stats, **quality, **labels)
    meta.update(extra_meta or {})
    dtype = jnp.result_type(float) if prep.dtype is None else prep.dtype
    arr = lambda a: jnp.asarray(np.asarray(a, np.float64).astype(dtype))
    return Dataset(
        x_train=arr(xtr),
        y_train=arr(ytr),
        x_test=arr(xte),
        y_test=arr(yte),
        name=name,
        meta=types.MappingProxyType(meta),
    )
