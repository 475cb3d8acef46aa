"""Any network the user already has: a function ``f(params, x) -> (n, k)``.

``Function`` wraps a plain JAX function, a neural-tangents stax ``apply_fn`` (or the whole
``(init_fn, apply_fn, kernel_fn)`` triple, whose ``kernel_fn`` then gives the infinite-
width kernels), a Flax ``model.apply`` with its variables as params, or an Equinox model
through ``eqx.partition``/``eqx.combine``::

    params, static = eqx.partition(model, eqx.is_array)
    f = lambda p, x: jax.vmap(eqx.combine(p, static))(x)

``GraphFixedPattern`` is its fixed-activation-pattern twin (``ntkfix.FixedPattern(f,
params0)``): the same graph with every ReLU-like gate frozen at ``params0``
(``ntkfix._models.graph``).

Inputs may have any shape ``(n, ...)`` (images ``(n, H, W, C)``); outputs must be
``(n, k)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntkfix._core.validate import as_float_array, check_finite
from ntkfix._models.graph import GraphProgram


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


def _output_shape(fn: Callable, params: Any, x: jax.Array, who: str) -> tuple[int, ...]:
    """The shape ``fn(params, x)`` returns, or a clear error (without running it)."""
    try:
        out = jax.eval_shape(fn, params, x)
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
class Function:
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

    def output_shape(self, params: Any, x: jax.Array) -> tuple[int, ...]:
        return _output_shape(self.fn, params, x, "model")

    def apply(self, params: Any, x: Any) -> jax.Array:
        """``fn(params, x)``, validated."""
        params, x = self.check_params(params), self.check_inputs(x)
        self.output_shape(params, x)
        return self.fn(params, x)

    def forward(self, params: Any, x: jax.Array) -> jax.Array:
        """``fn(params, x)`` without checks (internal, jit-friendly)."""
        return self.fn(params, x)


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True, eq=False)
class GraphFixedPattern:
    """The FAP twin of a ``Function``: ``fn``'s graph with its gates frozen at ``params0``.

    Made by ``ntkfix.FixedPattern(fn, params0)``. A pytree (leaves: ``params0``).
    """

    base: Function
    params0: Any

    def tree_flatten(self):
        return (self.params0,), self.base

    @classmethod
    def tree_unflatten(cls, base, children):
        obj = object.__new__(cls)
        object.__setattr__(obj, "base", base)
        object.__setattr__(obj, "params0", children[0])
        return obj

    @property
    def kernel_fn(self):
        return self.base.kernel_fn

    def program(self, x: jax.Array) -> GraphProgram:
        """The traced graph for inputs shaped like ``x`` (traced once per shape)."""
        return GraphProgram.for_shapes(self.base.fn, self.params0, x)

    def check_params(self, params: Any, name: str = "params") -> Any:
        return check_param_tree(params, name, reference=self.params0)

    def check_inputs(self, x: Any, name: str = "x") -> jax.Array:
        return check_batch(x, name)

    def output_shape(self, params: Any, x: jax.Array) -> tuple[int, ...]:
        return _output_shape(self.base.fn, params, x, "model")

    def gates(self, x: Any) -> list:
        """The frozen decisions of inputs ``x`` (bool arrays, in evaluation order)."""
        x = self.check_inputs(x)
        return self.program(x).gates(self.params0, x)

    def forward(self, params: Any, x: jax.Array, gates: list | None = None) -> jax.Array:
        """The FAP output at ``params`` without checks (internal, jit-friendly)."""
        return self.program(x).apply(self.params0, params, x, gates)

    def apply(self, params: Any, x: Any) -> jax.Array:
        """FAP network output, shape (n, k)."""
        params, x = self.check_params(params), self.check_inputs(x)
        self.output_shape(params, x)
        return self.forward(params, x)


def from_user(model: Any) -> Function | None:
    """A ``Function`` for a callable or a stax triple ``(init_fn, apply_fn, kernel_fn)``;
    None for anything else."""
    if isinstance(model, Function):
        return model
    if isinstance(model, tuple) and len(model) == 3 and all(callable(m) for m in model):
        return Function(model[1], kernel_fn=model[2])
    if callable(model) and not isinstance(model, type):
        return Function(model)
    return None
