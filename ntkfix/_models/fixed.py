"""Fixed-activation-pattern (FAP) MLPs, and the one gated forward pass of ntkfix.

Gates frozen at the initial parameters ``theta_0``::

    u_l = z_l(x; theta_0)           (the ReLU net at theta_0)
    h_l = 1[u_l > 0] * z_l(x; theta)

``gated_forward`` runs an ``MLP`` with given gates (a FAP net) or with the gates of its
own pre-activations (the ReLU net); kernels, training and conversion all use it.

Reference: the FAP construction at initialization, e.g. Du et al. 2019
(arXiv:1810.02054) for the role of the initial activation pattern.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from ntkfix._models.function import GraphFixedPattern, check_param_tree, from_user
from ntkfix._models.mlp import MLP, Params

Gates = list  # one bool (n, width) array per hidden layer


def relu_gates(spec: MLP, params: Params, x: jax.Array) -> Gates:
    """The ReLU patterns 1[z_l(x; params) > 0] of every hidden layer, as bool (n, width)
    arrays, with no gradient through them."""
    zs = spec.preactivations(jax.lax.stop_gradient(params), x)
    return [z > 0 for z in zs[:-1]]


def gated_forward(spec: MLP, params: Params, x: jax.Array, gates: Gates | None = None):
    """``spec``'s network at ``params`` with hidden layer l gated by ``gates[l]``.

    h_0 = x, h_l = gates[l] * z_l(h_{l-1}; params), f = z_depth(h_{depth-1}; params).
    With ``gates=None`` each gate is 1[z_l > 0] of this very pass: the ReLU net, in one
    pass (the gates carry no gradient either way).

    Args:
      spec: the ``MLP``.
      params: its stax.serial params.
      x: (n, in_dim) inputs (not validated: internal, jit-friendly).
      gates: None, or one bool (n, width) array per hidden layer.

    Returns:
      ``(f, hs, gates)``: the (n, out_dim) output, the inputs ``hs[l]`` of every dense
      layer (``hs[0] = x``) and the bool gates used.
    """
    hs, used, h = [x], [], x
    for l in range(spec.depth):
        z = spec.layer(params, l, h)
        g = z > 0 if gates is None else gates[l]
        h = jnp.where(g, z, 0)
        used.append(g)
        hs.append(h)
    return spec.layer(params, spec.depth, h), hs, used


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True, eq=False)
class FixedPattern:
    """A fixed-activation-pattern network: gates from ``params0``, values from ``params``.

    ``FixedPattern(spec, params0)`` with an ``ntkfix.MLP`` is this class (the fast,
    structured path). With any other network - a function ``f(params, x)``, a stax
    triple - it returns a ``GraphFixedPattern``: ``f``'s graph with every ReLU-like gate
    frozen at ``params0`` (``ntkfix._models.graph``).

    ``model.apply(params, x)`` computes h_l = 1[u_l(x) > 0] * z_l(x; params) with u_l the
    pre-activations of the ReLU net at ``params0``; no gradient flows through the gates.
    At ``params == params0`` it equals the ReLU net in value and gradient.

    The model is a pytree (leaves: ``params0``), so it can cross ``jax.jit``/``vmap``.

    Examples:
      >>> import jax, ntkfix
      >>> spec = ntkfix.MLP(3, 16, 2)
      >>> p0 = spec.init(jax.random.PRNGKey(0))
      >>> model = ntkfix.FixedPattern(spec, p0)
      >>> x = jax.numpy.ones((4, 3))
      >>> bool(jax.numpy.allclose(model.apply(p0, x), spec.apply(p0, x)))
      True
    """

    spec: MLP
    params0: Params

    def __new__(cls, spec: Any, params0: Any):
        if isinstance(spec, MLP):
            return super().__new__(cls)
        base = from_user(spec)
        if base is None:
            raise TypeError(
                "spec must be an ntkfix.MLP, a function f(params, x) or a stax triple "
                f"(init_fn, apply_fn, kernel_fn), got {type(spec).__name__}"
            )
        return GraphFixedPattern(base, check_param_tree(params0, "params0"))

    def __post_init__(self):
        if not isinstance(self.spec, MLP):
            raise TypeError(f"spec must be an ntkfix.MLP, got {type(self.spec).__name__}")
        object.__setattr__(self, "params0", self.spec.check_params(self.params0, "params0"))

    def tree_flatten(self):
        return (self.params0,), self.spec

    @classmethod
    def tree_unflatten(cls, spec, children):
        obj = object.__new__(cls)
        object.__setattr__(obj, "spec", spec)
        object.__setattr__(obj, "params0", list(children[0]))
        return obj

    # ---- the Network protocol (ntkfix._models.base) -----------------------------------
    def check_params(self, params: Any, name: str = "params") -> Params:
        """``params`` validated against the layout of ``spec``."""
        return self.spec.check_params(params, name)

    def check_inputs(self, x: Any, name: str = "x") -> jax.Array:
        """``x`` as a real, finite (n, in_dim) float array, or an error naming ``name``."""
        return self.spec.check_inputs(x, name)

    def gate_params(self, params: Params) -> Params:
        """Params that define the gates: always ``params0``."""
        return self.params0

    def gates(self, x: Any) -> list[jax.Array]:
        """The 0/1 pattern of every hidden layer at ``params0``: list of (n, width) arrays."""
        x = self.check_inputs(x)
        return [g.astype(x.dtype) for g in relu_gates(self.spec, self.params0, x)]

    def apply(self, params: Params, x: Any) -> jax.Array:
        """FAP network output, shape (n, out_dim)."""
        params = self.check_params(params)
        x = self.check_inputs(x)
        return gated_forward(self.spec, params, x, relu_gates(self.spec, self.params0, x))[0]
