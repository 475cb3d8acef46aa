"""Datasets for NTK experiments (public module ``ntkfix.data``).

Loaders return a frozen ``Dataset`` (x_train, y_train, x_test, y_test, name, meta):

- ``synthetic(key, n_train, n_test, in_dim, target="teacher" | f, noise=, binary=)``:
  points uniform on the sphere (``sphere``), labels from a random ReLU ``teacher`` or
  a function, plus Gaussian noise;
- ``digits(key, task)``: scikit-learn's digits, task "a v b" / "even_odd" / "multiclass";
- ``breast_cancer(key)``;
- ``mnist1d(key, task)``: MNIST-1D generated locally (the ``mnist1d`` package), its
  standard 4,000 / 1,000 split, tasks as for ``digits``;
- ``from_arrays(x, y, key)``, ``from_npz(path, key)``, ``from_csv(path, label, key)``.

Common options, keywords of every loader: how to split (the fields of ``Split``):
``test_fraction=0.2``, ``n_train``, ``n_test``, ``drop_duplicates=False``, ``indices``
(a fixed (train, test) split); how to preprocess (the fields of ``Preprocessing``):
``center=True`` (training feature mean), ``standardize=False``, ``sphere=True``
(unit-norm rows, as the NTK theory assumes), ``p=0.0`` (fraction of training labels
corrupted, exactly floor(p n_train + 1/2)), ``targets="onehot"`` (0/1) or
``"centered"`` for multi-class, ``dtype``. Binary targets are +-1 of shape (n, 1).
``prepare(x, y, key, kind=, name=, split=Split(...), preprocessing=Preprocessing(...))``
runs the pipeline on class indices or targets of your own. The building blocks
(``split_indices``, ``center_features``, ``standardize_features``, ``project_to_sphere``,
``corrupt_labels``, ``encode``) are exported too.

Examples:
  >>> import jax
  >>> from ntkfix import data
  >>> ds = data.digits(jax.random.PRNGKey(0), "0v1", p=0.1)
  >>> ds.x_train.shape, ds.y_train.shape, len(ds.meta["corrupted"])
  ((288, 64), (288, 1), 29)
"""

from ntkfix.data._files import from_arrays as from_arrays
from ntkfix.data._files import from_csv as from_csv
from ntkfix.data._files import from_npz as from_npz
from ntkfix.data._mnist1d import mnist1d as mnist1d
from ntkfix.data._options import Preprocessing as Preprocessing
from ntkfix.data._options import Split as Split
from ntkfix.data._prepare import Dataset as Dataset
from ntkfix.data._prepare import center_features as center_features
from ntkfix.data._prepare import corrupt_labels as corrupt_labels
from ntkfix.data._prepare import encode as encode
from ntkfix.data._prepare import prepare as prepare
from ntkfix.data._prepare import project_to_sphere as project_to_sphere
from ntkfix.data._prepare import split_indices as split_indices
from ntkfix.data._prepare import standardize_features as standardize_features
from ntkfix.data._sklearn import breast_cancer as breast_cancer
from ntkfix.data._sklearn import digits as digits
from ntkfix.data._sklearn import digits_task as digits_task
from ntkfix.data._synthetic import Teacher as Teacher
from ntkfix.data._synthetic import sphere as sphere
from ntkfix.data._synthetic import synthetic as synthetic
from ntkfix.data._synthetic import teacher as teacher

__all__ = [
    "Dataset",
    "Preprocessing",
    "Split",
    "Teacher",
    "breast_cancer",
    "center_features",
    "corrupt_labels",
    "digits",
    "digits_task",
    "encode",
    "from_arrays",
    "from_csv",
    "from_npz",
    "mnist1d",
    "prepare",
    "project_to_sphere",
    "sphere",
    "split_indices",
    "standardize_features",
    "synthetic",
    "teacher",
]
