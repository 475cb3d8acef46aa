"""Small validators used at every public boundary of ntkfix.

Each raises ``ValueError`` or ``TypeError`` whose message names the argument, what
was expected and what was received, so that a user never sees a raw JAX traceback
for a mistake in their input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def is_concrete(x: Any) -> bool:
    """True when ``x`` holds values (not an abstract tracer inside jit/vmap)."""
    return not isinstance(x, jax.core.Tracer)


def unknown_fields(cls: Any, options: dict) -> tuple[list[str], list[str]]:
    """(the keys of ``options`` that are not fields of the dataclass ``cls``, sorted; its
    field names): for the options records' error messages."""
    known = [f.name for f in dataclasses.fields(cls)]
    return sorted(set(options) - set(known)), known


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as an int >= 1, or a ValueError/TypeError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer >= 1, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value}")
    return int(value)


def check_bool(value: Any, name: str) -> bool:
    """``value`` if it is a bool (numpy's included), else a TypeError naming ``name``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else a ValueError listing them."""
    if value not in choices:
        raise ValueError(
            f"unknown {name} {value!r}; expected one of {', '.join(map(repr, choices))}"
        )
    return value


def check_nonneg_float(value: Any, name: str, *, allow_none: bool = False) -> float | None:
    """A finite float >= 0 (or None when allowed)."""
    if value is None and allow_none:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def check_finite(x: Any, name: str) -> None:
    """Raise ValueError if a concrete array holds NaN or inf."""
    if is_concrete(x):
        bad = ~np.isfinite(np.asarray(x))
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{name} contains NaN or inf ({int(bad.sum())} entries, first at index {idx}); "
                "clean or impute the data first"
            )


def check_finite_tree(tree: Any, name: str) -> Any:
    """``tree`` if every concrete leaf is finite, else a ValueError naming the leaf."""
    for path, a in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if is_concrete(a) and np.asarray(a).dtype.kind in "fc":
            bad = ~np.isfinite(np.asarray(a))
            if bad.any():
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                raise ValueError(
                    f"{name}{jax.tree_util.keystr(path)} contains NaN or inf ({int(bad.sum())} "
                    f"of {bad.size} entries, first at index {idx}): a diverged training run? "
                    "Pass finite parameters"
                )
    return tree


def as_float_array(x: Any, name: str) -> jax.Array:
    """``x`` as a real floating JAX array (ints and bools are promoted)."""
    if isinstance(x, jax.Array) and not is_concrete(x):
        arr = x
    else:
        try:
            arr_np = np.asarray(x)
        except Exception as e:  # ragged lists and the like
            raise TypeError(f"{name} must be a numeric array, could not convert: {e}") from None
        if arr_np.dtype.kind not in "biuf" and not jnp.issubdtype(arr_np.dtype, jnp.floating):
            raise TypeError(
                f"{name} must hold real numbers, got dtype {arr_np.dtype}"
                + (" (complex is not supported)" if arr_np.dtype.kind == "c" else "")
            )
        arr = x if isinstance(x, jax.Array) else jnp.asarray(arr_np)
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        arr = arr.astype(jnp.result_type(float))
    return arr


def check_inputs(x: Any, name: str, in_dim: int | None = None) -> jax.Array:
    """Validate a batch of inputs: shape (n, in_dim), real, finite.

    Returns the input as a floating JAX array.
    """
    arr = as_float_array(x, name)
    if arr.ndim != 2:
        hint = " (a single example needs x[None, :])" if arr.ndim == 1 else ""
        raise ValueError(f"{name} must have shape (n, d), got shape {tuple(arr.shape)}{hint}")
    if arr.shape[0] < 1:
        raise ValueError(f"{name} must hold at least one row, got shape {tuple(arr.shape)}")
    if in_dim is not None and arr.shape[1] != in_dim:
        raise ValueError(
            f"{name} has {arr.shape[1]} features but the network expects in_dim={in_dim} "
            f"(got shape {tuple(arr.shape)})"
        )
    check_finite(arr, name)
    return arr


def check_matrix(a: Any, name: str, what: str = "matrix") -> np.ndarray:
    """A finite 2-D array as float64 numpy (float64 inputs keep their precision)."""
    arr = as_host_float64(a, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D {what}, got shape {tuple(arr.shape)}")
    check_finite(arr, name)
    return arr


def check_square_kernel(
    K: Any, name: str, *, symmetric: bool = False, rtol: float = 1e-5
) -> jax.Array:
    """A finite (n, n) kernel matrix; with ``symmetric`` also K == K^T to ``rtol``.

    A floating numpy array is checked (and returned) as it is, keeping float64 precision.
    """
    arr = K if isinstance(K, np.ndarray) and K.dtype.kind == "f" else as_float_array(K, name)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(
            f"{name} must be a square (n, n) kernel matrix, got shape {tuple(arr.shape)}"
        )
    check_finite(arr, name)
    if symmetric and is_concrete(arr):
        a = np.asarray(arr)
        scale = max(np.abs(a).max(), np.finfo(a.dtype).tiny)
        asym = np.abs(a - a.T).max()
        if asym > rtol * scale:
            raise ValueError(
                f"{name} must be symmetric: max |K - K^T| = {asym:.3g} is above "
                f"{rtol:g} x max|K| = {rtol * scale:.3g}"
            )
    return arr


def check_same_shape(a: Any, b: Any, name_a: str, name_b: str) -> None:
    """Shape mismatch error naming both arguments."""
    if tuple(np.shape(a)) != tuple(np.shape(b)):
        raise ValueError(
            f"shape mismatch: {name_a} has shape {tuple(np.shape(a))} but {name_b} has shape "
            f"{tuple(np.shape(b))}"
        )


def normalize_layers(layers: Any, n_layers: int, name: str = "trainable") -> tuple[int, ...]:
    """Canonical sorted tuple of layer indices in ``range(n_layers)``.

    ``None`` means every layer, an int one layer, negative indices count from the
    readout (-1 is the readout layer). The strings ``"all"``, ``"hidden"`` and
    ``"readout"`` are accepted as shorthands.
    """
    if layers is None or (isinstance(layers, str) and layers == "all"):
        return tuple(range(n_layers))
    if isinstance(layers, str):
        if layers == "hidden":
            return tuple(range(n_layers - 1))
        if layers == "readout":
            return (n_layers - 1,)
        raise ValueError(
            f"{name} must be None, 'all', 'hidden', 'readout' or layer indices, got {layers!r}"
        )
    items: Iterable[Any] = [layers] if isinstance(layers, (int, np.integer)) else layers
    out = set()
    try:
        items = list(items)
    except TypeError:
        raise TypeError(
            f"{name} must be None, a layer index or a sequence of indices, got {layers!r}"
        ) from None
    for i in items:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"{name} entries must be integers, got {i!r}")
        if not -n_layers <= i < n_layers:
            raise ValueError(
                f"{name} index {i} is out of range: this network has {n_layers} layers "
                f"(0..{n_layers - 1}, the readout is {n_layers - 1} or -1)"
            )
        out.add(int(i) % n_layers)
    if not out:
        raise ValueError(f"{name} selects no layer; pass None for all layers")
    return tuple(sorted(out))


def check_fraction(
    value: Any, name: str, *, open_left: bool = False, open_right: bool = False
) -> float:
    """A real number in [0, 1] (ends excluded on request), or an error naming ``name``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number in [0, 1], got {value!r}") from None
    lo, hi = ("(" if open_left else "["), (")" if open_right else "]")
    above = 0 < v if open_left else 0 <= v
    below = v < 1 if open_right else v <= 1
    if not (np.isfinite(v) and above and below):
        raise ValueError(f"{name} must lie in {lo}0, 1{hi}, got {value!r}")
    return v


def check_key(key: Any, name: str = "key") -> jax.Array:
    """A ``jax.random`` key (raw uint32 (2,) or a typed key), else a TypeError naming ``name``."""
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    if isinstance(key, (jax.Array, np.ndarray)) and key.dtype == np.uint32 and key.shape == (2,):
        return jnp.asarray(key)
    if isinstance(key, (jax.Array, np.ndarray)):
        got = f"an array of dtype {key.dtype} and shape {key.shape}"
    else:
        got = repr(key)
    raise TypeError(f"{name} must be a jax.random key such as jax.random.PRNGKey(0), got {got}")


def as_host_float64(x: Any, name: str) -> np.ndarray:
    """``x`` as a float64 numpy array on the host (ints and bools promoted).

    Unlike ``as_float_array`` it never passes through jax's default dtype, so float64
    data keep their precision when ``jax_enable_x64`` is off.
    """
    if isinstance(x, jax.Array) and not is_concrete(x):
        raise TypeError(f"{name} must be a concrete array (this function does not run inside jit)")
    try:
        arr = np.asarray(x)
    except Exception as e:  # ragged lists and the like
        raise TypeError(f"{name} must be a numeric array, could not convert: {e}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold real numbers, got dtype {arr.dtype}"
            + (" (complex is not supported)" if arr.dtype.kind == "c" else "")
        )
    return arr.astype(np.float64)


def _real_array(x: Any, name: str, host: bool):
    return as_host_float64(x, name) if host else as_float_array(x, name)


def check_targets(
    y: Any,
    name: str,
    *,
    rows: int | None = None,
    against: str = "x",
    out_dim: int | None = None,
    promote: bool = True,
    host: bool = False,
):
    """Targets as an (n, k) array (the one validator for targets in ntkfix).

    Args:
      y: the targets.
      name: the argument's name, for messages.
      rows: the number of rows n they must have (None: any).
      against: what ``rows`` comes from, for the message ("x", "K", "x_train").
      out_dim: the number of columns k they must have (None: any).
      promote: accept a 1-D (n,) array as (n, 1) (with ``out_dim``, only when it is 1);
        False keeps it 1-D.
      host: return a float64 numpy array (host-side linear algebra keeps float64 even
        with jax's x64 off) instead of a floating JAX array.

    Returns:
      the validated, finite array.
    """
    arr = _real_array(y, name, host)
    if arr.ndim == 1 and promote and out_dim in (None, 1):
        arr = arr[:, None]
    if out_dim is not None and (arr.ndim != 2 or arr.shape[1] != out_dim):
        hint = " (1-D targets are only accepted for out_dim=1)" if arr.ndim == 1 else ""
        raise ValueError(
            f"{name} must have shape (n, out_dim) = (n, {out_dim}), got {tuple(arr.shape)}{hint}"
        )
    if (
        arr.ndim not in (1, 2)
        or (arr.ndim == 1 and promote)
        or (arr.ndim == 2 and not arr.shape[1])
    ):
        raise ValueError(f"{name} must have shape (n,) or (n, k), got shape {tuple(arr.shape)}")
    if rows is not None and arr.shape[0] != rows:
        raise ValueError(f"{name} has {arr.shape[0]} rows but {against} has {rows}")
    check_finite(arr, name)
    return arr


def check_outputs(a: Any, name: str, shape: tuple[int, ...], *, host: bool = False):
    """Network outputs of exactly ``shape`` (an (n,) array is accepted for (n, 1)), finite."""
    arr = _real_array(a, name, host)
    if arr.ndim == 1 and len(shape) == 2 and shape[1] == 1:
        arr = arr[:, None]
    if tuple(arr.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(arr.shape)}")
    check_finite(arr, name)
    return arr
