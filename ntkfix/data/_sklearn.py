"""scikit-learn's bundled data sets (digits, breast cancer): nothing is downloaded."""

from __future__ import annotations

import re
from typing import Any

import jax
import numpy as np

from ntkfix.data._options import from_keywords
from ntkfix.data._prepare import Dataset, prepare

# ---- scikit-learn's bundled data ------------------------------------------------------
_PAIR = re.compile(r"^\s*(\d)\s*(?:v|vs|-)\s*(\d)\s*$", re.IGNORECASE)
_EVEN_ODD = ("even_odd", "even vs odd", "even-odd", "parity")
_MULTI = ("multiclass", "all", "10class")


def digits_task(task: Any) -> tuple[str, tuple[int, int] | None]:
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
      **options: the fields of ``Split`` and ``Preprocessing`` (test_fraction, n_train,
        n_test, drop_duplicates, p, center, standardize, sphere, targets, dtype).
    """
    from sklearn.datasets import load_digits

    kind, pair = digits_task(task)
    knobs = from_keywords(options)
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
            **knobs,
        )
    if kind == "even_odd":
        return prepare(
            x,
            (t % 2 == 0).astype(int),
            key,
            kind="binary",
            name="digits[even_odd]",
            classes=np.array(["odd", "even"]),
            **knobs,
        )
    return prepare(
        x, t, key, kind="multiclass", name="digits[multiclass]", classes=np.arange(10), **knobs
    )


def breast_cancer(key: jax.Array, **options: Any) -> Dataset:
    """scikit-learn's breast-cancer data (569 x 30): benign -> +1, malignant -> -1.

    The 30 features span four orders of magnitude; ``standardize=True`` is advisable
    before the projection to the sphere. ``**options`` as in ``digits``.
    """
    from sklearn.datasets import load_breast_cancer

    knobs = from_keywords(options)
    bunch = load_breast_cancer()
    x, t = np.asarray(bunch.data, np.float64), np.asarray(bunch.target)  # 0 malignant, 1 benign
    return prepare(
        x,
        t,
        key,
        kind="binary",
        name="breast_cancer",
        classes=np.array(["malignant", "benign"]),
        **knobs,
    )
