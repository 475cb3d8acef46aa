"""Fixed-activation-pattern (FAP) networks: ``FixedPattern`` and its two kinds.

Gates frozen at the initial parameters ``theta_0``::

    u_l = z_l(x; theta_0)           (the ReLU net at theta_0)
    h_l = 1[u_l > 0] * z_l(x; theta)

``FixedPattern(network, params0)`` is the base class of every FAP net and makes the one
that fits ``network``: an ``MLPFixedPattern`` for an ``ntkfix.MLP`` (the per-layer
structured kernel) and a ``GraphFixedPattern`` for any other network - a function
``f(params, x)``, a stax triple, a Flax ``apply``, a user's own ``Network`` - whose traced
graph has every ReLU-like gate frozen at ``params0`` (``ntkfix._models.graph``). Both
are ``isinstance(..., FixedPattern)``.

Reference: the FAP construction at initialization, e.g. Du et al. 2019
(arXiv:1810.02054) for the role of the initial activation pattern.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax

from ntkfix._conversion.graph import graph_to_relu
from ntkfix._conversion.mlp import mlp_to_relu
from ntkfix._models.function import Function, check_batch, check_param_tree, from_user
from ntkfix._models.graph import GraphProgram
from ntkfix._models.mlp import MLP, Params
from ntkfix._models.network import Network
from ntkfix._models.twin import ReluTwin, twin_function


class FixedPattern(Network):
    """A fixed-activation-pattern network: gates from ``params0``, values from ``params``.

    ``FixedPattern(spec, params0)`` with an ``ntkfix.MLP`` makes an ``MLPFixedPattern``
    (the fast, structured path); with any other network - a function ``f(params, x)``,
    a stax triple, a Flax ``model.apply`` - a ``GraphFixedPattern``: ``f``'s graph with
    every ReLU-like gate frozen at ``params0``. Both are instances of this class. An
    optional third argument ``x_example`` (inputs of the network's shape) checks the
    graph when the model is built: an operation with no gate to freeze is refused then.

    ``model.apply(params, x)`` computes h_l = 1[u_l(x) > 0] * z_l(x; params) with u_l the
    pre-activations of the ReLU net at ``params0``; no gradient flows through the gates.
    At ``params == params0`` it equals the ReLU net in value and gradient.

    The model is a pytree (leaves: ``params0``), so it can cross ``jax.jit``/``vmap``.

    Examples:
      >>> import jax, ntkfix
      >>> spec = ntkfix.MLP(3, 16, 2)
      >>> p0 = spec.init(jax.random.PRNGKey(0))
      >>> model = ntkfix.FixedPattern(spec, p0)
      >>> isinstance(model, ntkfix.FixedPattern)
      True
      >>> x = jax.numpy.ones((4, 3))
      >>> bool(jax.numpy.allclose(model.apply(p0, x), spec.apply(p0, x)))
      True
    """

    params0: Any
    is_fixed_pattern = True

    def __new__(cls, *args: Any, **kwargs: Any):
        if cls is FixedPattern:  # the kind that fits the network; its __init__ follows
            network = args[0] if args else kwargs.get("spec", kwargs.get("base"))
            cls = MLPFixedPattern if isinstance(network, MLP) else GraphFixedPattern
        return object.__new__(cls)

    def gate_params(self, params: Any) -> Any:
        """Params that define the gates: always ``params0``."""
        return self.params0

    def gates(self, x: Any) -> list:
        """The frozen decisions on inputs ``x`` (computed at ``params0``)."""
        return self.fixed_gates(self.check_inputs(x))


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True, eq=False)
class MLPFixedPattern(FixedPattern):
    """The FAP net of an ``ntkfix.MLP`` (made by ``FixedPattern(spec, params0)``).

    Attributes:
      spec: the ``MLP``.
      params0: its stax.serial params theta_0 (the gates' source).
    """

    spec: MLP
    params0: Params
    x_example: dataclasses.InitVar[Any] = None

    def __post_init__(self, x_example: Any = None):
        if not isinstance(self.spec, MLP):
            raise TypeError(f"spec must be an ntkfix.MLP, got {type(self.spec).__name__}")
        object.__setattr__(self, "params0", self.spec.check_params(self.params0, "params0"))
        if x_example is not None:  # an MLP has nothing to refuse: the inputs' shape
            self.check_inputs(x_example, "x_example")

    def tree_flatten(self):
        return (self.params0,), self.spec

    @classmethod
    def tree_unflatten(cls, spec, children):
        obj = object.__new__(cls)
        object.__setattr__(obj, "spec", spec)
        object.__setattr__(obj, "params0", list(children[0]))
        return obj

    def check_params(self, params: Any, name: str = "params") -> Params:
        """``params`` validated against the layout of ``spec``."""
        return self.spec.check_params(params, name)

    def fixed_gates(self, x: jax.Array) -> list:
        """The bool (n, width) pattern of every hidden layer at ``params0``."""
        return self.spec.relu_gates(self.params0, x)

    def forward(self, params: Params, x: jax.Array, gates: list | None = None) -> jax.Array:
        """FAP output (n, out_dim) without checks; ``gates``: ``fixed_gates(x)``."""
        gates = self.fixed_gates(x) if gates is None else gates
        return self.spec.gated_forward(params, x, gates)[0]

    def gates(self, x: Any) -> list:
        """The 0/1 pattern of every hidden layer at ``params0``: list of (n, width) arrays."""
        x = self.check_inputs(x)
        return [g.astype(x.dtype) for g in self.fixed_gates(x)]

    def describe(self) -> str:
        return repr(self.spec)

    def relu_twin(self, params: Params, x: Any, **options):
        """The ReLU MLP of width 2m equal to this FAP net on ``x`` (``ntkfix.to_relu``)."""
        return mlp_to_relu(self, params, x, **options)

    # the structured kernel, the layer selection and the infinite-width kernels of the MLP
    check_inputs = MLP.check_inputs
    output_shape = MLP.output_shape
    input_shape = MLP.input_shape
    check_trainable = MLP.check_trainable
    select = MLP.select
    merge = MLP.merge
    kernel_plan = MLP.kernel_plan
    ntk_features = MLP.ntk_features
    ntk_block = MLP.ntk_block
    infinite_plan = MLP.infinite_plan
    host_loop = MLP.host_loop


def as_function(network: Any) -> Function:
    """The ``Function`` whose graph a ``GraphFixedPattern`` freezes."""
    base = from_user(network)
    if base is None or isinstance(base, FixedPattern):
        got = "a FixedPattern (already fixed)" if base is not None else type(network).__name__
        raise TypeError(
            "spec must be an ntkfix.MLP, a function f(params, x), a stax triple "
            f"(init_fn, apply_fn, kernel_fn) or an ntkfix.Network, got {got}"
        )
    return base if isinstance(base, Function) else Function(base.forward)


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True, eq=False)
class GraphFixedPattern(FixedPattern):
    """The FAP twin of any network: its graph with its gates frozen at ``params0``.

    Made by ``ntkfix.FixedPattern(f, params0)``. A pytree (leaves: ``params0``).
    ``FixedPattern(f, params0, x_example)`` traces the graph once on inputs shaped like
    ``x_example`` (abstractly: nothing is computed), so an operation with no gate to
    freeze (``UnsupportedOperation``) is refused when the model is built; without it,
    at the first call.

    Attributes:
      base: the network as a ``Function``.
      params0: its parameters theta_0 (the gates' source).
    """

    base: Function
    params0: Any
    x_example: dataclasses.InitVar[Any] = None

    def __post_init__(self, x_example: Any = None):
        object.__setattr__(self, "base", as_function(self.base))
        object.__setattr__(self, "params0", check_param_tree(self.params0, "params0"))
        if x_example is not None:  # refusals now, not at the first call
            x = self.check_inputs(x_example, "x_example")
            self.output_shape(self.params0, x)
            jax.eval_shape(self.forward, self.params0, x)

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

    def output_shape(self, params: Any, x: Any) -> tuple[int, int]:
        return self.base.output_shape(params, x)

    def fixed_gates(self, x: jax.Array) -> list:
        """The frozen decisions of inputs ``x`` (bool arrays, in evaluation order)."""
        return self.program(x).gates(self.params0, x)

    def forward(self, params: Any, x: jax.Array, gates: list | None = None) -> jax.Array:
        """The FAP output at ``params`` without checks (internal, jit-friendly)."""
        return self.program(x).apply(self.params0, params, x, gates)

    def infinite_plan(self, which: str, x1: Any, n2: int | None, **options):
        """The ReLU network's infinite-width kernel (the FAP net's at initialization)."""
        return self.base.infinite_plan(which, x1, n2, **options)

    def describe(self) -> str:
        return self.base.describe()

    def relu_twin(self, params: Any, x: Any, **options):
        """The graph with every gate rewritten as relu(M u + z) - M relu(u)
        (``ntkfix.to_relu``)."""
        return graph_to_relu(self, params, x, **options)

    def twin_network(self, twin_params: Any = None) -> ReluTwin:
        """The ReLU twin of this graph as a network of ``{"params0", "params", "M"}``."""
        return twin_function(self.base.fn, built=twin_params)
