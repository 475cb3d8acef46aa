"""The ``dataset`` knob of the generalization experiments: shipped data or the user's file.

Names a config may give:

    digits_even_odd, digits_<a>v<b>   scikit-learn's digits (e.g. digits_3v5)
    breast_cancer                     scikit-learn's breast cancer (always standardized:
                                      its 30 features span four orders of magnitude)
    teacher                           points on the sphere, a random ReLU teacher's signs
    mnist1d_even_odd, mnist1d_<a>v<b> MNIST-1D (``ntkfix.data.mnist1d``), generated locally
                                      with ``num_samples`` (knob, default 5,000: the standard
                                      data set) examples and its own 80/20 split: n_train is
                                      drawn from the training share, n_test the first test rows
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
from ntkfix.data import digits_task

TEACHER_TEST_SIZE = 1000
FILE_KINDS = ("csv", "npz")
DATASETS = (
    "'digits_even_odd', 'digits_<a>v<b>' (two different digits, e.g. 'digits_3v5'), "
    "'mnist1d_even_odd', 'mnist1d_<a>v<b>', 'breast_cancer', 'teacher', "
    "'csv:PATH' (with label = COLUMN) or 'npz:PATH' (arrays x, y)"
)


def user_file(name: str) -> tuple[str, str] | None:
    """("csv" | "npz", path) for a dataset named "csv:PATH" / "npz:PATH", else None."""
    kind, sep, path = name.partition(":")
    if not sep or kind not in FILE_KINDS:
        return None
    if not path:
        raise ValueError(f"dataset {name!r} names no file; write {kind}:PATH")
    return kind, path


def _digits(name: str, prefix: str = "digits_") -> tuple[str, tuple[int, int] | None] | None:
    """The digits task a dataset name ``<prefix><task>`` names, as the library parses it
    (``ntkfix.data.digits_task``: ("even_odd", None) or ("pair", (a, b))), when
    <task> is spelled "even_odd" or "<a>v<b>" (one name per dataset); else None."""
    task = name.removeprefix(prefix)
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


def _mnist1d(name: str) -> str | None:
    """The MNIST-1D task ("even_odd" or "<a>v<b>") of ``mnist1d_<task>``, else None."""
    return name.removeprefix("mnist1d_") if _digits(name, "mnist1d_") else None


@functools.cache
def mnist1d_split(task: str, num_samples: int) -> tuple[int, int]:
    """(training rows, test rows) MNIST-1D's own split holds for ``task``: for even_odd
    from the generator's rule (num_samples // 10 examples per digit, the first 80% of the
    shuffled rows for training); a pair task keeps two digits' rows, counted on the data
    (generated once per process)."""
    if task == "even_odd":
        total = 10 * (num_samples // 10)
        return int(total * 0.8), total - int(total * 0.8)
    ds = ntkfix.data.mnist1d(
        jax.random.PRNGKey(0), task, num_samples=num_samples, center=False, sphere=False
    )
    return ds.n_train, ds.n_test


def _load_file(kind: str, path: str, label: str, key: jax.Array, **options) -> ntkfix.data.Dataset:
    """The library's loader for a user file, as a binary task (labels +-1)."""
    if kind == "csv":
        return ntkfix.data.from_csv(path, label, key, task="binary", **options)
    return ntkfix.data.from_npz(path, key, task="binary", **options)


@functools.cache
def _file_size(kind: str, path: str, label: str, mtime: float) -> int:
    """Rows of a user file, loaded (and so validated) once per modification time."""
    with warnings.catch_warnings():  # reported when a cell loads it
        warnings.simplefilter("ignore", ntkfix.errors.DataQualityWarning)
        ds = _load_file(
            kind, path, label, jax.random.PRNGKey(0), test_fraction=0.0, center=False, sphere=False
        )
    return ds.n_train


def dataset_size(name: str, label: str = "label", num_samples: int = 5000) -> int | None:
    """Points available for ``name`` (None: drawn on demand). ValueError (TypeError,
    OSError for files) for unknown names and unusable files, naming file and column."""
    if name == "teacher":
        return None
    task = _mnist1d(name)
    if task is not None:
        return sum(mnist1d_split(task, num_samples))
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


def check_sizes(experiment: str, cell: dict) -> None:
    """ConfigError (naming ``experiment``) when the cell's n_train and n_test do not fit
    its dataset: n_train + n_test rows in all, and for MNIST-1D, whose split is fixed,
    n_train rows of its training share and n_test of its test share."""
    from analysis.experiments import require

    name, n_train, n_test = cell["dataset"], cell["n_train"], cell["n_test"]
    task = _mnist1d(name)
    if task is not None:
        pool_train, pool_test = mnist1d_split(task, cell["num_samples"])
        require(
            n_train <= pool_train and n_test <= pool_test,
            f"{experiment}: {name} with num_samples={cell['num_samples']} has {pool_train} "
            f"training and {pool_test} test rows: n_train={n_train}, n_test={n_test} do not "
            "fit (raise num_samples; 80% of it is the training share)",
        )
        return
    size = dataset_size(name, cell["label"])
    if size is None:
        return
    require(
        n_train + max(n_test, 1) <= size,
        f"{experiment}: {name} has {size} points: n_train={n_train} + n_test={n_test} "
        f"leaves {'no' if n_test == 0 else 'too few'} points (n_test=0 means all the rest)",
    )


def resolved_n_test(cell: dict) -> int:
    """The test-set size a cell asks for (``n_test = 0``: all the rest / TEACHER_TEST_SIZE),
    before duplicates are dropped."""
    size = dataset_size(cell["dataset"], cell["label"], cell["num_samples"])  # validates it
    if cell["n_test"] > 0:
        return cell["n_test"]
    task = _mnist1d(cell["dataset"])
    if task is not None:  # the data set's own test share
        return mnist1d_split(task, cell["num_samples"])[1]
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
    task = _mnist1d(name)
    if task is not None:
        return ntkfix.data.mnist1d(key, task, num_samples=cell["num_samples"], **opts)
    return ntkfix.data.digits(key, name.removeprefix("digits_"), **opts)
