"""ReLU MLPs in neural-tangents' conventions: the ``MLP`` spec (geometry, init, apply).

A network of ``depth`` hidden layers has ``depth + 1`` dense layers, indexed
``0 .. depth`` (the last one is the readout). Dense layer ``l`` computes

    ntk parameterization:       z_l = (W_std_l / sqrt(fan_in_l)) * h_{l-1} @ W_l + b_std * b_l,
                                W_l, b_l ~ N(0, 1)
    standard parameterization:  z_l = h_{l-1} @ W_l + b_l,
                                W_l ~ N(0, W_std_l^2 / fan_in_l), b_l ~ N(0, b_std^2)

exactly as ``neural_tangents.stax.Dense(..., parameterization=...)``; hidden layers
are followed by ReLU. Parameters are the pytree ``stax.serial`` produces:
``[(W_0, b_0), (), (W_1, b_1), (), ..., (W_depth, b_depth)]`` with ``W_l`` of shape
``(fan_in, fan_out)``, ``b_l`` of shape ``(1, fan_out)`` or ``None`` when
``b_std is None``, and ``()`` for each ReLU.

``MLP`` implements the ``Network`` contract (``ntkfix._models.network``) with the
per-layer structured kernel of ``ntkfix._kernels.structured``. The FAP twin (gates
frozen at ``theta_0``) is ``ntkfix._models.fixed.FixedPattern``.

References: Jacot et al. 2018 (arXiv:1806.07572); Novak et al. 2020, neural-tangents
(arXiv:1912.02803).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntkfix._core.validate import (
    check_choice,
    check_inputs,
    check_key,
    check_nonneg_float,
    check_positive_int,
    normalize_layers,
)
from ntkfix._kernels import limits, structured
from ntkfix._kernels.plan import KernelPlan
from ntkfix._kernels.tiling import default_block
from ntkfix._models.network import Network

Params = list  # [(W, b), (), (W, b), ..., (W, b)]
Gates = list  # one bool (n, width) array per hidden layer

PARAMETERIZATIONS = ("ntk", "standard")


def check_mlp(spec: Any, name: str = "spec") -> MLP:
    """``spec`` if it is an ``ntkfix.MLP``, else a TypeError naming ``name``."""
    if not isinstance(spec, MLP):
        raise TypeError(f"{name} must be an ntkfix.MLP, got {type(spec).__name__}")
    return spec


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True)
class MLP(Network):
    """Spec of a fully connected ReLU network (frozen, hashable: usable as a jit static).

    Args:
      in_dim: input dimension d.
      width: hidden width m (>= 1).
      depth: number of hidden layers L (>= 1).
      out_dim: number of outputs k.
      W_std: weight scale of the hidden layers (sqrt(2) keeps ReLU activations' scale).
      b_std: bias scale, or None for no biases (as in ``stax.Dense``); applies to all layers.
      out_W_std: weight scale of the readout layer.
      parameterization: "ntk" or "standard", as in ``stax.Dense``.

    Defaults next to neural-tangents': ``stax.Dense`` defaults to ``W_std=1.0``, ntkfix's
    hidden layers to ``sqrt(2)`` (readout 1.0 in both; no bias and the ntk
    parameterization in both). Parameters of a stax model fit an MLP of the same shapes
    whatever the scales, so for a model built from default ``stax.Dense`` layers use
    ``MLP.like_stax(...)`` (or pass the model itself: ``empirical_ntk(stax_triple, ...)``);
    otherwise the kernels differ by the ratio of the scales.

    Examples:
      >>> import jax, ntkfix
      >>> spec = ntkfix.MLP(in_dim=3, width=16, depth=2)
      >>> params = spec.init(jax.random.PRNGKey(0))
      >>> spec.apply(params, jax.numpy.ones((5, 3))).shape
      (5, 1)
    """

    in_dim: int
    width: int
    depth: int
    out_dim: int = 1
    W_std: float = 2**0.5
    b_std: float | None = None
    out_W_std: float = 1.0
    parameterization: str = "ntk"

    def __post_init__(self):
        check_positive_int(self.in_dim, "in_dim")
        check_positive_int(self.width, "width")
        check_positive_int(self.depth, "depth")
        check_positive_int(self.out_dim, "out_dim")
        object.__setattr__(self, "W_std", check_nonneg_float(self.W_std, "W_std"))
        object.__setattr__(self, "out_W_std", check_nonneg_float(self.out_W_std, "out_W_std"))
        object.__setattr__(self, "b_std", check_nonneg_float(self.b_std, "b_std", allow_none=True))
        check_choice(self.parameterization, "parameterization", PARAMETERIZATIONS)

    @classmethod
    def like_stax(
        cls,
        in_dim: int,
        width: int,
        depth: int,
        out_dim: int = 1,
        *,
        W_std: float = 1.0,
        b_std: float | None = None,
        parameterization: str = "ntk",
    ) -> MLP:
        """The MLP of ``stax.serial(Dense(width, W_std, b_std), Relu(), ..., Dense(out_dim,
        W_std, b_std))``, with ``stax.Dense``'s defaults (every layer, the readout
        included, at ``W_std``).

        Examples:
          >>> MLP.like_stax(13, 512, 2).W_std, MLP(13, 512, 2).W_std
          (1.0, 1.4142135623730951)
        """
        return cls(
            in_dim, width, depth, out_dim, W_std, b_std, W_std, parameterization=parameterization
        )

    # A spec holds no arrays: as a pytree it has no leaves, so it can cross jit/vmap.
    def tree_flatten(self):
        return (), self

    @classmethod
    def tree_unflatten(cls, aux, children):
        return aux

    # ---- layer geometry -------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        """Number of dense layers, ``depth + 1`` (index ``depth`` is the readout)."""
        return self.depth + 1

    @property
    def has_bias(self) -> bool:
        return self.b_std is not None

    def fan_in(self, l: int) -> int:
        return self.in_dim if l == 0 else self.width

    def fan_out(self, l: int) -> int:
        return self.out_dim if l == self.depth else self.width

    def w_std(self, l: int) -> float:
        return self.out_W_std if l == self.depth else self.W_std

    def weight_scale(self, l: int) -> float:
        """Multiplier a_l of ``h @ W_l`` in the forward pass (1 in standard param.)."""
        if self.parameterization == "ntk":
            return self.w_std(l) / math.sqrt(self.fan_in(l))
        return 1.0

    def bias_scale(self) -> float:
        """Multiplier of ``b_l`` in the forward pass (0 without bias)."""
        if not self.has_bias:
            return 0.0
        return self.b_std if self.parameterization == "ntk" else 1.0

    @property
    def stored_widths(self) -> tuple[int, ...]:
        return tuple(self.fan_out(l) for l in range(self.n_layers))

    def n_params(self) -> int:
        """Number of trainable scalars."""
        return sum(
            self.fan_in(l) * self.fan_out(l) + (self.fan_out(l) if self.has_bias else 0)
            for l in range(self.n_layers)
        )

    # ---- parameters -----------------------------------------------------------------
    def init(self, key: jax.Array, dtype: Any = None) -> Params:
        """Random parameters, identical to ``spec.stax()[0](key, (-1, in_dim))[1]``.

        Args:
          key: a ``jax.random`` key.
          dtype: floating dtype (default: jax's default float).

        Returns:
          the ``stax.serial`` params list.
        """
        dtype = jnp.result_type(float) if dtype is None else dtype
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"dtype must be a floating dtype, got {jnp.dtype(dtype)}")
        params: list = []
        rng = check_key(key)
        for l in range(self.n_layers):
            rng, layer_rng = jax.random.split(rng)
            k_w, k_b = jax.random.split(layer_rng)
            W = jax.random.normal(k_w, (self.fan_in(l), self.fan_out(l)), dtype)
            b = None
            if self.has_bias:
                b = jax.random.normal(k_b, (1, self.fan_out(l)), dtype)
            if self.parameterization == "standard":
                W = W * (self.w_std(l) / math.sqrt(self.fan_in(l)))
                b = None if b is None else b * self.b_std
            params.append((W, b))
            if l < self.depth:
                rng, _ = jax.random.split(rng)  # stax.serial splits a key for each Relu too
                params.append(())
        return params

    def check_params(self, params: Any, name: str = "params") -> list:
        """Validate that ``params`` has this spec's layout and shapes; returns them as a list."""
        if not isinstance(params, (list, tuple)):
            raise TypeError(
                f"{name} must be the stax.serial params list of {2 * self.depth + 1} entries, "
                f"got {type(params).__name__}"
            )
        expected_len = 2 * self.depth + 1
        if len(params) != expected_len:
            raise ValueError(
                f"{name} has {len(params)} entries but a depth-{self.depth} MLP has "
                f"{expected_len} ((W, b) per dense layer and () per ReLU)"
            )
        for i, entry in enumerate(params):
            if i % 2 == 1:
                if not (entry is None or (isinstance(entry, (tuple, list)) and len(entry) == 0)):
                    raise ValueError(
                        f"{name}[{i}] should be () (a ReLU layer), got {type(entry).__name__}"
                    )
                continue
            l = i // 2
            if not isinstance(entry, (list, tuple)) or len(entry) != 2:
                raise ValueError(f"{name}[{i}] (dense layer {l}) must be a pair (W, b)")
            W, b = entry
            want_W = (self.fan_in(l), self.fan_out(l))
            if tuple(np.shape(W)) != want_W:
                raise ValueError(
                    f"{name}[{i}] (dense layer {l}) W has shape {tuple(np.shape(W))}, "
                    f"expected {want_W} for this spec"
                )
            if self.has_bias:
                if b is None or tuple(np.shape(b)) != (1, self.fan_out(l)):
                    got = None if b is None else tuple(np.shape(b))
                    raise ValueError(
                        f"{name}[{i}] (dense layer {l}) b has shape {got}, expected "
                        f"{(1, self.fan_out(l))} (spec has b_std={self.b_std})"
                    )
            elif b is not None:
                raise ValueError(
                    f"{name}[{i}] (dense layer {l}) has a bias but the spec has b_std=None"
                )
        return list(params)

    def dense(self, params: Params) -> list[tuple[jax.Array, jax.Array | None]]:
        """The (W, b) pairs of the dense layers, in order."""
        return [params[2 * l] for l in range(self.n_layers)]

    def layer(self, params: Params, l: int, h: jax.Array) -> jax.Array:
        """Pre-activation z_l of dense layer ``l`` for its input ``h``."""
        W, b = params[2 * l]
        z = self.weight_scale(l) * (h @ W)
        if b is not None:
            z = z + self.bias_scale() * b
        return z

    # ---- functions ------------------------------------------------------------------
    def preactivations(self, params: Params, x: jax.Array) -> list[jax.Array]:
        """ReLU-net pre-activations ``[z_0, ..., z_depth]``; ``z_depth`` is the output."""
        zs = []
        h = x
        for l in range(self.n_layers):
            z = self.layer(params, l, h)
            zs.append(z)
            h = jax.nn.relu(z)
        return zs

    def apply(self, params: Params, x: Any) -> jax.Array:
        """The ReLU network f(x), shape (n, out_dim)."""
        params = self.check_params(params)
        return self.preactivations(params, self.check_inputs(x))[-1]

    def stax(self):
        """The equivalent neural-tangents ``(init_fn, apply_fn, kernel_fn)``."""
        from ntkfix._core.nt import import_stax  # neural-tangents is optional

        stax = import_stax()
        layers = []
        for l in range(self.n_layers):
            layers.append(
                stax.Dense(
                    self.fan_out(l),
                    W_std=self.w_std(l),
                    b_std=self.b_std,
                    parameterization=self.parameterization,
                )
            )
            if l < self.depth:
                layers.append(stax.Relu())
        return stax.serial(*layers)

    def relu_gates(self, params: Params, x: jax.Array) -> Gates:
        """The ReLU patterns 1[z_l(x; params) > 0] of every hidden layer, as bool
        (n, width) arrays, with no gradient through them."""
        zs = self.preactivations(jax.lax.stop_gradient(params), x)
        return [z > 0 for z in zs[:-1]]

    def gated_forward(self, params: Params, x: jax.Array, gates: Gates | None = None):
        """The network at ``params`` with hidden layer l gated by ``gates[l]``: the one
        gated forward pass of ntkfix (kernels, training and conversion use it).

        h_0 = x, h_l = gates[l] * z_l(h_{l-1}; params), f = z_depth(h_{depth-1}; params).
        With ``gates=None`` each gate is 1[z_l > 0] of this very pass: the ReLU net, in one
        pass (the gates carry no gradient either way).

        Args:
          params: stax.serial params.
          x: (n, in_dim) inputs (not validated: internal, jit-friendly).
          gates: None, or one bool (n, width) array per hidden layer.

        Returns:
          ``(f, hs, gates)``: the (n, out_dim) output, the inputs ``hs[l]`` of every dense
          layer (``hs[0] = x``) and the bool gates used.
        """
        hs, used, h = [x], [], x
        for l in range(self.depth):
            z = self.layer(params, l, h)
            g = z > 0 if gates is None else gates[l]
            h = jnp.where(g, z, 0)
            used.append(g)
            hs.append(h)
        return self.layer(params, self.depth, h), hs, used

    # ---- the Network contract (ntkfix._models.network) -------------------------------
    @property
    def spec(self) -> MLP:
        """The layer geometry (the MLP itself; a FAP net's ``spec`` is its MLP)."""
        return self

    def check_inputs(self, x: Any, name: str = "x") -> jax.Array:
        """``x`` as a real, finite (n, in_dim) float array, or an error naming ``name``."""
        return check_inputs(x, name, self.spec.in_dim)

    def output_shape(self, params: Any, x: Any) -> tuple[int, int]:
        return (x.shape[0], self.spec.out_dim)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.spec.in_dim,)

    def forward(self, params: Params, x: jax.Array, gates: Gates | None = None) -> jax.Array:
        """f(x) (n, out_dim) without checks; ``gates`` as ``gated_forward``."""
        return self.spec.gated_forward(params, x, gates)[0]

    def check_trainable(self, trainable: Any) -> tuple[int, ...]:
        """Sorted dense-layer indices: None (all), an index, indices (-1 = readout),
        "hidden" or "readout" (``ntkfix._core.validate.normalize_layers``)."""
        return normalize_layers(trainable, self.spec.n_layers)

    def select(self, params: Params, trainable: tuple[int, ...]) -> list:
        return [params[2 * l] for l in trainable]

    def merge(self, params: Params, trainable: tuple[int, ...], sub) -> Params:
        out = list(params)
        for l, wb in zip(trainable, sub, strict=True):
            out[2 * l] = wb
        return out

    def kernel_plan(
        self,
        params: Params,
        x1: Any,
        n2: int | None,
        *,
        trace: bool = True,
        trainable: Any = None,
        implementation: str = "auto",
    ) -> KernelPlan:
        """The structured (Jacobian-free) kernel of ``ntkfix._kernels.structured``; a
        tile holds an input Gram and a backward Gram per layer (2 (L + 1)) plus the
        accumulated block: 2 L + 3 tile-sized temporaries."""
        if implementation != "auto":
            raise ValueError(
                f"implementation={implementation!r} applies to networks other than an "
                "ntkfix.MLP, whose kernel always uses the structured formula: pass "
                "implementation='auto' (or pass the MLP's forward function to compare)"
            )
        layers = self.check_trainable(trainable)
        n1 = x1.shape[0]
        shared = structured.shares_gates(self, params)
        source = structured.structured_source(self, params, layers, trace)
        flops = structured.ntk_flops(self.spec, n1, n2, trainable=layers, shared=shared)
        spec = self.spec
        block = default_block(spec.width, max(n1, n1 if n2 is None else n2))
        return KernelPlan(source, block, 2 * spec.depth + 3, flops, "structured", spec.out_dim)

    def ntk_features(self, params: Params, x: jax.Array, trainable: tuple[int, ...]):
        return structured.ntk_features(self, params, x, trainable)

    def ntk_block(self, f1, f2, trainable: tuple[int, ...], trace: bool) -> jax.Array:
        return structured.ntk_from_features(self.spec, trainable, f1, f2, trace=trace)

    def infinite_plan(
        self,
        which: str,
        x1: Any,
        n2: int | None,
        *,
        trainable: Any = None,
        backend: str = "auto",
        dtype: Any = None,
    ) -> KernelPlan:
        """The infinite-width kernel of the architecture: the closed-form arc-cosine
        recursion (``ntkfix._kernels.closed_form``; "auto" and "closed_form") or
        neural-tangents' ``kernel_fn`` of ``spec.stax()`` (``backend="neural_tangents"``)."""
        return limits.mlp_plan(self.spec, which, x1, n2, trainable, backend, dtype)

    def host_loop(self, params: Any, x: jax.Array) -> bool:
        return False

    _twin_hint = " (an MLP already is a ReLU network)"

    def gate_params(self, params: Params) -> Params:
        """Params that define the ReLU gates: the current params for a ReLU net."""
        return params
