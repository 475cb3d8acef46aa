"""The one contract every network of ntkfix implements: ``Network``.

Kernels, training, bounds and conversion talk to a model only through these methods;
no module outside ``ntkfix._models`` asks which class a model is. A network is

- a function ``forward(params, x, gates=None) -> (n, k)`` with validators for its own
  arguments (``check_params``, ``check_inputs``, ``output_shape``);
- its ReLU-like gates: ``gate_params`` (where they are taken from: ``params`` for a ReLU
  net, ``params0`` for a fixed-pattern net) and ``fixed_gates(x)`` (a fixed-pattern net's
  frozen decisions on ``x``, computed once and passed back to ``forward``);
- its trainable subset: ``check_trainable`` (a hashable selection), ``select`` and
  ``merge`` (the trained part of the params, and back);
- its own empirical NTK: ``kernel_plan`` (the ``KernelPlan``: a ``TileSource`` with the
  rows per tile, memory and operation count) and, for training diagnostics inside a
  compiled loop, ``ntk_features``/``ntk_block``;
- its infinite-width kernels when it has them (``infinite_plan``).

The defaults below serve any network given as a function: every parameter is trained,
and the kernel is exact by structured derivatives of the traced graph
(``ntkfix._kernels.graph_structured``), Jacobian contraction or NTK-vector products,
whichever the cost model (``ntkfix._kernels.cost``) finds cheapest. ``ntkfix.MLP``
overrides them with its per-layer structured formula. A user's own network type (e.g.
a wrapper of an Equinox module) subclasses ``Network``, implements the four abstract
methods, and gets every feature of ntkfix.
"""

from __future__ import annotations

import abc
from typing import Any

import jax

from ntkfix._kernels.cost import forward_primitives, network_block, network_features, network_plan
from ntkfix._kernels.plan import KernelPlan


class Network(abc.ABC):
    """A network f(params, x) -> (n, k): the contract (module docstring).

    Subclasses implement ``check_params``, ``check_inputs``, ``output_shape`` and
    ``forward``; everything else has a default that is exact for any network. A network
    crosses ``jax.jit`` as a pytree: a subclass that does not register itself (no
    ``tree_flatten`` of its own) is registered here as a pytree without leaves (its
    arrays are its params, passed apart).
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "tree_flatten" in cls.__dict__:
            return  # registers itself (``jax.tree_util.register_pytree_node_class``)
        if hasattr(cls, "tree_flatten"):  # a subclass of a registered network
            jax.tree_util.register_pytree_node(cls, cls.tree_flatten, cls.tree_unflatten)
        else:
            jax.tree_util.register_pytree_node(cls, lambda net: ((), net), lambda net, _: net)

    # ---- what every network must say ---------------------------------------------------
    @abc.abstractmethod
    def check_params(self, params: Any, name: str = "params") -> Any:
        """``params`` validated against the network (a clear error naming ``name``
        otherwise), returned in canonical form."""

    @abc.abstractmethod
    def check_inputs(self, x: Any, name: str = "x") -> jax.Array:
        """``x`` validated (shape, dtype, finiteness) as a float array (n, ...)."""

    @abc.abstractmethod
    def output_shape(self, params: Any, x: Any) -> tuple[int, int]:
        """(n, k) of ``forward(params, x)``, without running it (shapes only: ``x`` may be
        a ``jax.ShapeDtypeStruct``), or a ValueError saying what the network returned."""

    @abc.abstractmethod
    def forward(self, params: Any, x: jax.Array, gates: Any = None) -> jax.Array:
        """The (n, k) outputs without checks (internal, jit-friendly). ``gates``: a
        fixed-pattern net's ``fixed_gates(x)`` (None: computed in this pass)."""

    input_shape: tuple[int, ...] | None = None  # one input's shape, where the network fixes it
    is_fixed_pattern = False  # a FAP net (gates frozen at params0): ``FixedPattern``

    def init(self, key: Any, dtype: Any = None) -> Any:
        """Random initial parameters, for networks that define their own (``MLP.init``)."""
        raise TypeError(
            f"{type(self).__name__} has no init of its own: train_many of a network that is "
            "not an ntkfix.MLP needs init_fn(key) -> params"
        )

    # ---- gates ---------------------------------------------------------------------------
    def gate_params(self, params: Any) -> Any:
        """The params the ReLU gates are taken from: ``params`` itself for a ReLU net."""
        return params

    def fixed_gates(self, x: jax.Array) -> Any:
        """The frozen decisions on ``x`` of a fixed-pattern net (computed once, then passed
        to ``forward``); None for a network whose gates move with its params."""
        return None

    def apply(self, params: Any, x: Any) -> jax.Array:
        """The network's outputs (n, k), arguments validated."""
        params, x = self.check_params(params), self.check_inputs(x)
        self.output_shape(params, x)
        return self.forward(params, x)

    # ---- the trainable subset ------------------------------------------------------------
    def check_trainable(self, trainable: Any) -> Any:
        """``trainable`` as a hashable selection of parameters; here only None (all)."""
        if trainable is not None:
            raise ValueError(
                f"trainable={trainable!r} selects dense layers of an ntkfix.MLP; for other "
                "networks every parameter counts: pass trainable=None"
            )
        return None

    def select(self, params: Any, trainable: Any) -> Any:
        """The trained part of ``params`` for the selection ``trainable``."""
        return params

    def merge(self, params: Any, trainable: Any, sub: Any) -> Any:
        """``params`` with its trained part replaced by ``sub``."""
        return sub

    def check_kernel_inputs(self, params: Any, x1: Any, x2: Any, trainable: Any):
        """Validated ``(params, x1, x2 or None, selection)`` of a kernel K(x1, x2)."""
        params = self.check_params(params)
        x1 = self.check_inputs(x1, "x1" if x2 is not None else "x")  # one input: "x"
        x2 = None if x2 is None else self.check_inputs(x2, "x2")
        if x2 is not None and x2.shape[1:] != x1.shape[1:]:
            raise ValueError(
                f"x1 and x2 must have the same shape per example, got {tuple(x1.shape)} "
                f"and {tuple(x2.shape)}"
            )
        selection = self.check_trainable(trainable)
        self.output_shape(params, x1)
        return params, x1, x2, selection

    # ---- the network's own kernel --------------------------------------------------------
    def kernel_plan(
        self,
        params: Any,
        x1: Any,
        n2: int | None,
        *,
        trace: bool = True,
        trainable: Any = None,
        implementation: str = "auto",
    ) -> KernelPlan:
        """How this network's empirical NTK K(x1, x2) is computed (x2 of ``n2`` rows;
        None: K(x1, x1)); ``x1`` may be shapes only. Here: structured derivatives,
        Jacobian contraction or NTK-vector products, whichever
        ``ntkfix._kernels.cost`` finds cheapest (or the
        ``implementation`` asked for), over every parameter."""
        k = self.output_shape(params, x1)[1]
        return network_plan(self, params, x1, k, n2, trace, implementation)

    def ntk_features(self, params: Any, x: jax.Array, trainable: Any) -> Any:
        """Per-input features of the kernel at ``params`` (traceable: used inside the
        compiled training loop): here the structured kernel's (``cost.network_features``:
        per layer its inputs and cotangents, or its per-example weight gradients; every
        other parameter's per-example gradient)."""
        return network_features(self, params, x)

    def ntk_block(self, f1: Any, f2: Any, trainable: Any, trace: bool) -> jax.Array:
        """The kernel block of two feature sets: (n1, n2) traced, else (n1, n2, k, k)."""
        return network_block(f1, f2, trace)

    def infinite_plan(self, which: str, x1: Any, n2: int | None, **options) -> KernelPlan:
        """The infinite-width kernel ``which`` ("ntk" or "nngp"), for networks that have
        one (an ``MLP``, a stax triple's ``kernel_fn``)."""
        raise ValueError(
            "an infinite-width kernel needs an ntkfix.MLP or a stax triple (init_fn, "
            "apply_fn, kernel_fn); this network has no kernel_fn"
        )

    def relu_twin(self, params: Any, x: Any, **options) -> tuple[Any, Any, Any]:
        """An ordinary ReLU network equal to this FAP net on ``x`` (``ntkfix.to_relu``):
        only fixed-pattern networks have one."""
        raise TypeError(
            f"model must be an ntkfix.FixedPattern, got {type(self).__name__}{self._twin_hint}"
        )

    _twin_hint = ""  # what to do instead, for the refusal of ``relu_twin``

    def host_loop(self, params: Any, x: jax.Array) -> bool:
        """Whether training should step from the host rather than inside one compiled loop:
        XLA's CPU backend runs convolutions inside a compiled loop (``while``) ~20x slower
        than the same convolutions called from the host (jax issue #12868; a 2-conv CNN:
        5 ms per GD step from a host loop, 120 ms inside ``fori_loop``)."""
        if jax.default_backend() != "cpu":
            return False
        return "conv_general_dilated" in forward_primitives(self, params, x[:1])

    def describe(self) -> str:
        """A text naming the network completely apart from its arrays (fingerprints of
        on-disk kernels hash it with the params and inputs, so it must not change between
        processes: a class without a ``__repr__`` of its own is named by its qualified
        name, not by the default repr's memory address; give it a ``__repr__`` (or override
        ``describe``) when its configuration is not in its arrays)."""
        cls = type(self)
        if cls.__repr__ is object.__repr__:
            return f"{cls.__module__}.{cls.__qualname__}"
        return repr(self)
