"""What the rest of ntkfix asks of a network: the ``Network`` protocol.

Kernels, training, bounds and conversion take a ``model`` and talk to it only through
this protocol; ``check_model`` is where a model enters the library. Today two classes
implement it (``MLP``, the ReLU net, and ``FixedPattern``, its FAP twin); both expose an
``MLP`` as ``model.spec``, which the structured (Jacobian-free) kernel path reads.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import jax

from ntkfix._models.fixed import FixedPattern
from ntkfix._models.function import Function, GraphFixedPattern, from_user
from ntkfix._models.mlp import MLP


@runtime_checkable
class Network(Protocol):
    """A network f(params, x) -> (n, k) with validators for its own arguments.

    - ``apply(params, x)``: outputs (n, k);
    - ``check_params(params, name)``: params validated against the model (a clear
      error otherwise), returned in canonical form;
    - ``check_inputs(x, name)``: inputs validated (shape, dtype, finiteness) as a float
      array;
    - ``gate_params(params)``: the params its ReLU gates are taken from (``params`` for
      a ReLU net, ``params0`` for a FAP net);
    - ``spec``: the ``MLP`` giving its layer geometry.
    """

    def apply(self, params: Any, x: Any) -> jax.Array: ...

    def check_params(self, params: Any, name: str = "params") -> Any: ...

    def check_inputs(self, x: Any, name: str = "x") -> jax.Array: ...

    def gate_params(self, params: Any) -> Any: ...

    @property
    def spec(self) -> MLP: ...


Model = MLP | FixedPattern | Function | GraphFixedPattern


def is_structured(model: Any) -> bool:
    """True for the networks with a structured (Jacobian-free) kernel: ``MLP`` and
    ``FixedPattern`` of an ``MLP``."""
    return isinstance(model, (MLP, FixedPattern))


def check_model(model: Any, name: str = "model") -> Model:
    """``model`` as an ntkfix network, else a TypeError naming ``name``.

    Accepted: ``ntkfix.MLP``, ``ntkfix.FixedPattern(...)``, a function ``f(params, x)``
    returning (n, k) outputs, or a neural-tangents stax triple ``(init_fn, apply_fn,
    kernel_fn)`` (wrapped as ``Function``).
    """
    if isinstance(model, (MLP, FixedPattern, GraphFixedPattern, Function)):
        return model
    wrapped = from_user(model)
    if wrapped is None:
        raise TypeError(
            f"{name} must be an ntkfix.MLP, an ntkfix.FixedPattern, a function "
            f"f(params, x) -> (n, k) or a stax triple (init_fn, apply_fn, kernel_fn), got "
            f"{type(model).__name__}"
        )
    return wrapped
