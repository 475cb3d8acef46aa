"""Any network the user already has: a function ``f(params, x) -> (n, k)``.

``Function`` wraps a plain JAX function, a neural-tangents stax ``apply_fn`` (or the whole
``(init_fn, apply_fn, kernel_fn)`` triple, whose ``kernel_fn`` then gives the infinite-
width kernels), a Flax ``model.apply`` with its variables as params, or an Equinox model
through ``eqx.partition``/``eqx.combine``::

    params, static = eqx.partition(model, eqx.is_array)
    f = lambda p, x: jax.vmap(eqx.combine(p, static))(x)

Its fixed-activation-pattern twin, ``ntkfix.FixedPattern(f, params0)``, is
``ntkfix._models.fixed.GraphFixedPattern``: the same graph with every ReLU-like gate
frozen at ``params0`` (``ntkfix._models.graph``).

Inputs may have any shape ``(n, ...)`` (images ``(n, H, W, C)``); outputs must be
``(n, k)``.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntkfix._core.validate import as_float_array, check_finite
from ntkfix._kernels.limits import stax_plan
from ntkfix._kernels.plan import KernelPlan
from ntkfix._models.network import Network


def check_batch(x: Any, name: str = "x") -> jax.Array:
    """A batch of inputs of any shape (n, ...), n >= 1, real and finite, as a float array."""
    arr = as_float_array(x, name)
    if arr.ndim < 1 or arr.shape[0] < 1:
        raise ValueError(
            f"{name} must be a batch of shape (n, ...) with n >= 1, got shape {tuple(arr.shape)}"
        )
    check_finite(arr, name)
    return arr


def check_param_tree(params: Any, name: str, reference: Any = None) -> Any:
    """``params`` as a pytree of floating arrays (matching ``reference``'s structure and
    shapes when given)."""
    paths, treedef = jax.tree_util.tree_flatten_with_path(params)
    leaves = [a for _, a in paths]
    where = [jax.tree_util.keystr(p) or "(root)" for p, _ in paths]
    if not leaves:
        raise ValueError(f"{name} holds no arrays: nothing to differentiate")
    for i, a in enumerate(leaves):
        dt = getattr(a, "dtype", None)
        if dt is None or not jnp.issubdtype(dt, jnp.floating):
            got = type(a).__name__ if dt is None else str(dt)
            raise TypeError(f"{name}: leaf {i} {where[i]} must be a floating array, got {got}")
    if reference is not None:
        ref_leaves, ref_def = jax.tree_util.tree_flatten(reference)
        if ref_def != treedef:
            raise ValueError(f"{name} has another structure than params0: {treedef} vs {ref_def}")
        for i, (a, b) in enumerate(zip(leaves, ref_leaves, strict=True)):
            if np.shape(a) != np.shape(b):
                raise ValueError(
                    f"{name}: leaf {i} {where[i]} has shape {np.shape(a)} but params0's has "
                    f"{np.shape(b)}"
                )
    return params


_SHAPES: collections.OrderedDict = collections.OrderedDict()  # (fn, arg shapes) -> out
_SHAPES_KEPT = 64


def _shape_key(fn: Callable, params: Any, x: Any):
    """A hashable key of ``fn`` and its arguments' structure, shapes and dtypes (None
    where ``fn`` cannot be hashed)."""
    leaves, treedef = jax.tree_util.tree_flatten((params, x))
    key = (fn, treedef, tuple((np.shape(a), str(getattr(a, "dtype", ""))) for a in leaves))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _eval_shape(fn: Callable, params: Any, x: Any):
    """``jax.eval_shape(fn, params, x)``, remembered for the last ``_SHAPES_KEPT``
    (fn, shapes) pairs: a kernel call asks twice (validation, plan), and tracing the
    function again costs more than a small kernel."""
    key = _shape_key(fn, params, x)
    if key is not None and key in _SHAPES:
        _SHAPES.move_to_end(key)
        return _SHAPES[key]
    out = jax.eval_shape(fn, params, x)
    if key is not None:
        _SHAPES[key] = out
        while len(_SHAPES) > _SHAPES_KEPT:
            _SHAPES.popitem(last=False)
    return out


def output_shape_of(fn: Callable, params: Any, x: Any, who: str = "model") -> tuple[int, int]:
    """The shape ``fn(params, x)`` returns, or a clear error (without running it)."""
    try:
        out = _eval_shape(fn, params, x)
    except Exception as e:
        raise ValueError(
            f"{who}(params, x) failed for x of shape {tuple(x.shape)}: {type(e).__name__}: {e}"
        ) from e
    shape = getattr(out, "shape", None)
    if shape is None or len(shape) != 2 or shape[0] != x.shape[0]:
        got = "a " + type(out).__name__ if shape is None else f"shape {tuple(shape)}"
        raise ValueError(
            f"{who}(params, x) must return an (n, k) array of outputs (n = {x.shape[0]}), got {got}"
        )
    return tuple(shape)


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True)
class Function(Network):
    """A network given as a function ``fn(params, x) -> (n, k)`` (see module docstring).

    Attributes:
      fn: the function.
      kernel_fn: neural-tangents' ``kernel_fn`` of the same architecture, or None.
    """

    fn: Callable
    kernel_fn: Callable | None = None

    def tree_flatten(self):
        return (), (self.fn, self.kernel_fn)

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*aux)

    def check_params(self, params: Any, name: str = "params") -> Any:
        return check_param_tree(params, name)

    def check_inputs(self, x: Any, name: str = "x") -> jax.Array:
        return check_batch(x, name)

    def output_shape(self, params: Any, x: Any) -> tuple[int, int]:
        return output_shape_of(self.fn, params, x)

    def forward(self, params: Any, x: jax.Array, gates: Any = None) -> jax.Array:
        """``fn(params, x)`` without checks (internal, jit-friendly); a ReLU net's gates
        are its own (``gates`` must be None)."""
        return self.fn(params, x)

    def infinite_plan(self, which: str, x1: Any, n2: int | None, **options) -> KernelPlan:
        """The stax ``kernel_fn``'s kernel, tile by tile (``limits.stax_plan``)."""
        if self.kernel_fn is None:
            raise ValueError(
                "an infinite-width kernel needs an ntkfix.MLP or a stax triple (init_fn, "
                "apply_fn, kernel_fn); this model is a plain function without a kernel_fn"
            )
        if options.get("trainable") is not None:
            raise ValueError(
                "trainable= needs an ntkfix.MLP: a stax kernel_fn has no layer subsets"
            )
        return stax_plan(self.kernel_fn, which, x1, n2)

    _twin_hint = " (pass FixedPattern(f, params0), the FAP twin to convert)"

    def init(self, key: Any, dtype: Any = None) -> Any:
        """``fn.init(key, dtype)`` when the function object carries one (a network class
        with ``__call__(params, x)`` and ``init``); otherwise ``train_many`` needs
        ``init_fn``."""
        init = getattr(self.fn, "init", None)
        if not callable(init):
            return super().init(key, dtype)
        return self.check_params(init(key, dtype), "fn.init(key, dtype)")

    def describe(self) -> str:
        fn = self.fn
        return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def from_user(model: Any) -> Network | None:
    """The ``Network`` of ``model``: itself for a ``Network`` (``ntkfix.MLP``, a
    ``FixedPattern``, a user's own subclass), a ``Function`` for a callable or a stax
    triple ``(init_fn, apply_fn, kernel_fn)``; None for anything else."""
    if isinstance(model, Network):
        return model
    if isinstance(model, tuple) and len(model) == 3 and all(callable(m) for m in model):
        return Function(model[1], kernel_fn=model[2])
    if callable(model) and not isinstance(model, type):
        return Function(model)
    return None
