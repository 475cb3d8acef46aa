"""Synthetic data: points uniform on the sphere, labels from a random ReLU teacher."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntkfix._core.validate import check_choice, check_key, check_nonneg_float, check_positive_int
from ntkfix._kernels.infinite import infinite_nngp
from ntkfix._models.mlp import MLP, Params
from ntkfix.data._options import from_keywords
from ntkfix.data._prepare import Dataset, prepare


# ---- synthetic --------------------------------------------------------------------
def sphere(key: jax.Array, n: int, d: int, dtype: Any = None) -> jax.Array:
    """``n`` points uniform on the unit sphere S^{d-1} in R^d: (n, d), normalized Gaussians.

    Examples:
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
      **options: as in ``digits`` (n_train/n_test are set here).

    Examples:
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
    knobs = from_keywords({"center": False, **options, "n_train": n_tr, "n_test": int(n_test)})
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
            extra_meta=meta,
            **knobs,
        )
    return prepare(
        x,
        y,
        k_prep,
        kind="regression",
        name=name,
        extra_meta=meta,
        **knobs,
    )
