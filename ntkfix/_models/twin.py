"""The ReLU twin of a fixed-pattern graph as a network: ``ReluTwin``.

``ntkfix.to_relu`` of a ``GraphFixedPattern`` (``ntkfix._conversion.graph``) rewrites
every frozen gate G(u) z as relu(M u + z) - M relu(u); the result is this ``Function`` of
``twin_params = {"params0", "params", "M"}`` (and ``"shift"``, the gates' thresholds,
where the data puts a gate argument at 0), evaluated in that factored form by the
graph's two-stream evaluator (``GraphProgram.twin_apply``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax

from ntkfix._models.function import Function
from ntkfix._models.graph import GraphProgram


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True, eq=False)  # compared and hashed as a Function
class ReluTwin(Function):
    """The ReLU twin ``to_relu`` returns for a FAP net of any network: a ``Function`` of
    ``twin_params = {"params0", "params", "M"}`` (module docstring), plus ``stax()``.

    Attributes:
      built: the twin params it was certified with (what ``stax()``'s init returns).
    """

    built: Any = None

    def tree_flatten(self):
        return (self.built,), (self.fn, self.kernel_fn)

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*aux, built=children[0])

    def stax(self) -> tuple[Callable, Callable]:
        """The twin as neural-tangents' ``(init_fn, apply_fn)`` pair: ``init_fn(key,
        input_shape) -> (output_shape, twin_params)`` returns the certified parameters
        (``key`` is ignored: they are not random), ``apply_fn(twin_params, x, **kw)``.
        Usable wherever neural-tangents takes an ``apply_fn`` (``nt.empirical_ntk_fn``,
        ``nt.linearize``) and by ntkfix itself; there is no ``kernel_fn``."""
        fn, built = self.fn, self.built

        def init_fn(key, input_shape):
            del key
            shape = tuple(1 if s in (-1, None) else int(s) for s in input_shape)
            x = jax.ShapeDtypeStruct(shape, jax.tree_util.tree_leaves(built)[0].dtype)
            k = jax.eval_shape(fn, built, x).shape[1]
            return (input_shape[0], k), built

        def apply_fn(twin_params, x, **kwargs):
            del kwargs  # stax's rng= / mask= keywords: the twin is deterministic
            return fn(twin_params, x)

        return init_fn, apply_fn


def twin_function(fn: Callable, built: Any = None) -> ReluTwin:
    """The ReLU twin of ``fn``'s graph: params ``{"params0", "params", "M"}``."""

    def twin(tp, x):
        prog = GraphProgram.for_shapes(fn, tp["params0"], x)
        return prog.twin_apply(tp["params0"], tp["params"], tp["M"], x, tp.get("shift"))

    return ReluTwin(twin, built=built)
