"""The ``dataset`` knob of the generalization experiments: shipped data or the user's file.

Names a config may give:

    digits_even_odd, digits_<a>v<b>   scikit-learn's digits (e.g. digits_3v5)
    breast_cancer                     scikit-learn's breast cancer (always standardized:
                                      its 30 features span four orders of magnitude)
    teacher                           points on the sphere, a random ReLU teacher's signs
    csv:PATH                          a CSV file with a header; the column ``label`` (knob,
                                      default "label") holds the two classes, all other
                                      columns are numeric features
    npz:PATH                          a .npz file with arrays x (n, d) and y (n,)

Every real dataset goes through the library's pipeline (``ntkfix.data.prepare``): the
split from the cell's key, centering, ``standardize`` (knob), projection to the sphere,
exactly round(p n_train) flipped training labels; the library warns about feature
scales and test rows duplicated in the training split, ``drop_duplicates`` (knob)
removes the latter. A relative PATH is read from the working directory.
"""

from __future__ import annotations

import functools
import os
import warnings

import jax
import jax.numpy as jnp
import numpy as np

import ntkfix
from ntkfix.data._sklearn import digits_task

TEACHER_TEST_SIZE = 1000
FILE_KINDS = ("csv", "npz")
DATASETS = (
    "'digits_even_odd', 'digits_<a>v<b>' (two different digits, e.g. 'digits_3v5'), "
    "'breast_cancer', 'teacher', 'csv:PATH' (with label = COLUMN) or 'npz:PATH' (arrays x, y)"
)


def user_file(name: str) -> tuple[str, str] | None:
    """("csv" | "npz", path) for a dataset named "csv:PATH" / "npz:PATH", else None."""
    kind, sep, path = name.partition(":")
    if not sep or kind not in FILE_KINDS:
        return None
    if not path:
        raise ValueError(f"dataset {name!r} names no file; write {kind}:PATH")
    return kind, path


def _digits(name: str) -> tuple[str, tuple[int, int] | None] | None:
    """The digits task a dataset name ``digits_<task>`` names, as the library parses it
    (``ntkfix.data._sklearn.digits_task``: ("even_odd", None) or ("pair", (a, b))), when
    <task> is spelled "even_odd" or "<a>v<b>" (one name per dataset); else None."""
    task = name.removeprefix("digits_")
    if task == name:
        return None
    try:
        kind, pair = digits_task(task)
    except ValueError:
        return None
    if kind == "even_odd":
        spelled = "even_odd"
    elif kind == "pair":
        spelled = f"{pair[0]}v{pair[1]}"
    else:  # multiclass: not a binary task
        return None
    return (kind, pair) if task == spelled else None


def _load_file(kind: str, path: str, label: str, key: jax.Array, **options) -> ntkfix.data.Dataset:
    """The library's loader for a user file, as a binary task (labels +-1)."""
    if kind == "csv":
        return ntkfix.data.from_csv(path, label, key, task="binary", **options)
    return ntkfix.data.from_npz(path, key, task="binary", **options)


@functools.cache
def _file_size(kind: str, path: str, label: str, mtime: float) -> int:
    """Rows of a user file, loaded (and so validated) once per modification time."""
    with warnings.catch_warnings():  # reported when a cell loads it
        warnings.simplefilter("ignore", ntkfix.DataQualityWarning)
        ds = _load_file(
            kind, path, label, jax.random.PRNGKey(0), test_fraction=0.0, center=False, sphere=False
        )
    return ds.n_train


def dataset_size(name: str, label: str = "label") -> int | None:
    """Points available for ``name`` (None: drawn on demand). ValueError (TypeError,
    OSError for files) for unknown names and unusable files, naming file and column."""
    if name == "teacher":
        return None
    if name == "breast_cancer":
        return 569
    file = user_file(name)
    if file is not None:
        kind, path = file
        if not os.path.isfile(path):
            raise FileNotFoundError(f"dataset {name!r}: no such file {path!r}")
        return _file_size(kind, path, label, os.path.getmtime(path))
    digits = _digits(name)
    if digits is None:
        raise ValueError(f"unknown dataset {name!r}; expected {DATASETS}")
    kind, pair = digits
    return 1797 if kind == "even_odd" else _pair_size(pair)


@functools.cache
def _pair_size(pair: tuple[int, int]) -> int:
    from sklearn.datasets import load_digits

    return int(np.isin(load_digits().target, list(pair)).sum())


def resolved_n_test(cell: dict) -> int:
    """The test-set size a cell asks for (``n_test = 0``: all the rest / TEACHER_TEST_SIZE),
    before duplicates are dropped."""
    size = dataset_size(cell["dataset"], cell["label"])  # validates the name
    if cell["n_test"] > 0:
        return cell["n_test"]
    return TEACHER_TEST_SIZE if size is None else size - cell["n_train"]


def load_dataset(cell: dict, key: jax.Array) -> ntkfix.data.Dataset:
    """The cell's ``Dataset`` (centered, unit-norm inputs, +-1 labels, p flipped)."""
    name = cell["dataset"]
    n_train = cell["n_train"]
    n_test = resolved_n_test(cell)
    common = dict(p=cell["p"], dtype=jnp.dtype(cell["dtype"]))
    if name == "teacher":
        return ntkfix.data.synthetic(
            key, n_train, n_test, cell["teacher_dim"], binary=True, **common
        )
    opts = dict(n_train=n_train, n_test=n_test, drop_duplicates=cell["drop_duplicates"], **common)
    if name == "breast_cancer":
        return ntkfix.data.breast_cancer(key, standardize=True, **opts)
    opts["standardize"] = cell["standardize"]
    file = user_file(name)
    if file is not None:
        return _load_file(*file, cell["label"], key, **opts)
    return ntkfix.data.digits(key, name.removeprefix("digits_"), **opts)
