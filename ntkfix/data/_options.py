"""The knobs of ``prepare``, in two frozen records: how to split, how to preprocess.

Loaders (``digits``, ``from_arrays``, ...) take the same knobs as keywords and sort them
into a ``Split`` and a ``Preprocessing`` (``from_keywords``); ``prepare`` takes the two
records. Each validates its fields when built, naming the field and what was expected.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp
import numpy as np

from ntkfix._core.validate import check_bool, check_choice, check_fraction

TARGETS = ("onehot", "centered")


def _size(value: Any, name: str, lowest: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lowest:
        raise ValueError(f"{name} must be None or an integer >= {lowest}, got {value!r}")
    return int(value)


def _indices(value: Any) -> tuple[np.ndarray, np.ndarray] | None:
    if value is None:
        return None
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(
            f"indices must be None or a pair (train indices, test indices), got {value!r}"
        )
    out = []
    for what, idx in zip(("train", "test"), value, strict=True):
        arr = np.array(idx, dtype=np.int64)  # a copy: the record is read-only
        if arr.ndim != 1:
            raise ValueError(f"indices: the {what} indices must be 1-D, got shape {arr.shape}")
        arr.setflags(write=False)
        out.append(arr)
    return out[0], out[1]


@dataclasses.dataclass(frozen=True, eq=False)
class Split:
    """How ``prepare`` splits the points into a training and a test set.

    Attributes:
      test_fraction: share of the points used for testing, in [0, 1) (rounded).
      n_train: training-set size (default: all the points not used for testing; fewer
        takes a subset).
      n_test: test-set size (overrides ``test_fraction``).
      drop_duplicates: remove from the test set the rows equal to a training row.
      indices: a fixed (train indices, test indices) instead of a random split (a data
        set's standard split); ``n_train`` then takes a random subset of the training
        indices, ``n_test`` the first test indices; ``test_fraction`` is unused.

    Sizes are checked against the data in ``prepare`` (the record does not know it).
    """

    test_fraction: float = 0.2
    n_train: int | None = None
    n_test: int | None = None
    drop_duplicates: bool = False
    indices: tuple[np.ndarray, np.ndarray] | None = None

    def __post_init__(self) -> None:
        fraction = check_fraction(self.test_fraction, "test_fraction", open_right=True)
        object.__setattr__(self, "test_fraction", fraction)
        object.__setattr__(self, "n_train", _size(self.n_train, "n_train", 1))
        object.__setattr__(self, "n_test", _size(self.n_test, "n_test", 0))
        object.__setattr__(
            self, "drop_duplicates", check_bool(self.drop_duplicates, "drop_duplicates")
        )
        object.__setattr__(self, "indices", _indices(self.indices))


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """What ``prepare`` does to the split data (its steps 2-5 and the encoding).

    Attributes:
      center: subtract the training feature mean (default on).
      standardize: divide each feature by its training standard deviation.
      sphere: project the rows to the unit sphere (default on).
      p: label-corruption fraction in [0, 1] (classification only).
      targets: "onehot" (0/1) or "centered" (one-hot minus 1/k) multi-class encoding.
      dtype: floating dtype of the arrays (default None: jax's default float when
        ``prepare`` runs).
    """

    center: bool = True
    standardize: bool = False
    sphere: bool = True
    p: float = 0.0
    targets: str = "onehot"
    dtype: Any = None

    def __post_init__(self) -> None:
        for name in ("center", "standardize", "sphere"):
            object.__setattr__(self, name, check_bool(getattr(self, name), name))
        object.__setattr__(self, "p", check_fraction(self.p, "p"))
        check_choice(self.targets, "targets", TARGETS)
        if self.dtype is not None and not jnp.issubdtype(self.dtype, jnp.floating):
            raise TypeError(f"dtype must be a floating dtype, got {jnp.dtype(self.dtype)}")


SPLIT_KNOBS = tuple(f.name for f in dataclasses.fields(Split))
PREPROCESSING_KNOBS = tuple(f.name for f in dataclasses.fields(Preprocessing))


def from_keywords(options: dict[str, Any]) -> dict[str, Split | Preprocessing]:
    """Loader keywords -> ``{"split": Split(...), "preprocessing": Preprocessing(...)}``.

    The keywords are the fields of the two records (``split=`` is taken for
    ``indices=``, its earlier name); any other keyword is a TypeError listing them.
    """
    options = dict(options)
    if "split" in options:
        if "indices" in options:
            raise TypeError("pass the fixed split once: as indices= (or its old name split=)")
        options["indices"] = options.pop("split")
    unknown = sorted(set(options) - set(SPLIT_KNOBS) - set(PREPROCESSING_KNOBS))
    if unknown:
        raise TypeError(
            f"unexpected keyword argument {unknown[0]!r}; the options are "
            f"{', '.join(SPLIT_KNOBS + PREPROCESSING_KNOBS)}"
        )
    return {
        "split": Split(**{k: v for k, v in options.items() if k in SPLIT_KNOBS}),
        "preprocessing": Preprocessing(
            **{k: v for k, v in options.items() if k in PREPROCESSING_KNOBS}
        ),
    }
