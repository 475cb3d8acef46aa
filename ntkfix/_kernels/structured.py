"""The structured (Jacobian-free) empirical NTK of ReLU and FAP MLPs: features and tiles.

For dense layer l with input h_{l-1}(x), forward multipliers a_l (weights) and
beta_l (bias), and backward vectors b_l(x) = df/dz_l (shape (k, width_l), gates
applied), the gradient of output c with respect to W_l is the outer product
a_l * h_{l-1}(x) b_l^c(x)^T, so

    Theta_cc'(x, x') = sum_{l in trainable} (a_l^2 <h_{l-1}(x), h_{l-1}(x')> + beta_l^2)
                                           * <b_l^c(x), b_l^c'(x')>,

and the traced kernel (neural-tangents' ``trace_axes=(-1,)``) is the mean over
c = c'. The readout's backward vector is the identity, so its term is
``(a^2 <h, h'> + beta^2) * delta_cc'``. Cost O(n1 n2 m L k + (n1 + n2) m^2 L k),
memory O(block m L k + n1 n2). This specialises the "structured derivatives" of
Novak et al. 2022 (arXiv:2206.08720) to MLPs.

Features are computed once per block of rows, with one forward pass when the gates
come from the same parameters as the values (a ReLU net, or a FAP net at its own
``params0``), and the backward vectors are stored as (n, k, m) so that every step of
the backward recursion b_l = G_l * (b_{l+1} W_{l+1}^T) is one plain (n k, m) x (m, m)
matmul. The kernel is then evaluated tile by tile (``ntkfix._kernels.tiling``): for K(x, x)
only the tiles on and above the diagonal are computed. ``ntk_flops`` states the
resulting operation count.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ntkfix._core.validate import normalize_layers
from ntkfix._kernels.layout import mirror_block
from ntkfix._kernels.tiling import TileSource

Model = Any  # an ntkfix.MLP or its FixedPattern: ``model.spec`` is the MLP (not imported:
# the models depend on the kernels, not the other way)
Params = list


class Gated(NamedTuple):
    """Backward vectors of the last hidden layer, b^c(x) = gate(x) * w[:, c] with ``w`` the
    readout's scaled weights: stored as a bool (n, width) gate and the shared (width, k)
    ``w``, a quarter of the memory of the (n, k, width) floats (or less for k > 1)."""

    gate: jax.Array
    w: jax.Array


# Features of a block of inputs: per trainable layer, (h_{l-1}, b_l) with b_l None for
# the readout (its backward vector is the identity) and ``Gated`` for the last hidden layer.
Features = tuple[tuple[jax.Array, jax.Array | Gated | None], ...]


def shares_gates(model: Model, params: Params) -> bool:
    """True when ``model``'s gates come from ``params`` themselves (one forward pass suffices).

    Always true for a ReLU net; true for a FAP net when ``params`` are (the very arrays
    of) its ``params0``. Identity, not equality, is checked: it costs nothing and works
    on tracers.
    """
    gp = model.gate_params(params)
    if gp is params:
        return True
    a, b = jax.tree_util.tree_leaves(gp), jax.tree_util.tree_leaves(params)
    return len(a) == len(b) and all(u is v for u, v in zip(a, b, strict=True))


def ntk_features(
    model: Model,
    params: Params,
    x: jax.Array,
    layers: tuple[int, ...],
    shared: bool | None = None,
    traced: bool = False,
) -> Features:
    """Per-layer forward inputs and backward vectors of ``model`` at ``params``.

    Args:
      model: ``MLP`` or ``FixedPattern``.
      params: stax.serial params.
      x: (n, in_dim) inputs (not validated: internal, jit-friendly).
      layers: sorted dense-layer indices whose parameters count.
      shared: whether the gates come from ``params`` (one forward pass); None decides
        with ``shares_gates``.
      traced: features only for the traced kernel: the last hidden layer's backward
        vectors are then the float (n, 1, width) array g(x) * ||w_j|| (w_j the readout
        weights of unit j over the k outputs), whose Gram matrix
        sum_j g_j(x) g_j(x') ||w_j||^2 = sum_c <b^c(x), b^c(x')> is all the traced kernel
        needs: a plain matmul, no bool-to-float pass per tile (4x the memory of ``Gated``).

    Returns:
      for each l in ``layers``: ``(h, b)`` with ``h`` (n, fan_in_l) the layer's input
      (``ntk_from_features`` applies a_l^2 to its Gram matrix, n^2 instead of n m work),
      and ``b`` (n, k, width), ``Gated`` for the last hidden layer (the (n, 1, width)
      array above when ``traced``), None for the readout.
    """
    spec = model.spec
    shared = shares_gates(model, params) if shared is None else shared
    gates = None if shared else spec.relu_gates(model.gate_params(params), x)
    _, hs, gates = spec.gated_forward(params, x, gates)
    lowest = layers[0]
    backward: dict[int, jax.Array | Gated] = {}
    b = None
    for l in range(spec.depth - 1, lowest - 1, -1):
        W, a = params[2 * (l + 1)][0], spec.weight_scale(l + 1)  # W: (width, fan_out_{l+1})
        g = gates[l][:, None, :]
        if b is None:  # below the readout: b^c = a * g * W[:, c]
            if traced:
                sq = jnp.sum(W * W, axis=1)  # sqrt with a finite gradient at 0 (a zero row)
                norm = a * jnp.where(sq > 0, jnp.sqrt(jnp.where(sq > 0, sq, 1)), 0)
                backward[l] = jnp.where(gates[l], norm[None], 0)[:, None, :]
            else:
                backward[l] = Gated(gates[l], a * W)
            b = jnp.where(g, a * W.T[None], 0) if l > lowest else None
        else:
            b = jnp.where(g, a * (b @ W.T), 0)
            backward[l] = b
    return tuple((hs[l], backward.get(l)) for l in layers)


def ntk_from_features(
    spec, layers: tuple[int, ...], f1: Features, f2: Features, trace: bool = True
) -> jax.Array:
    """Kernel block from two feature sets: (n1, n2) traced, else (n1, n2, k, k)."""
    k = spec.out_dim
    beta2 = spec.bias_scale() ** 2
    if not trace and any(isinstance(d, jax.Array) and d.shape[1] != k for _, d in f1 + f2):
        raise ValueError("features built with traced=True give only the traced kernel (trace=True)")
    out = 0.0
    for (h1, d1), (h2, d2), l in zip(f1, f2, layers, strict=True):
        H = h1 @ h2.T
        a2 = spec.weight_scale(l) ** 2
        if a2 != 1:
            H = a2 * H
        if beta2:
            H = H + beta2
        if d1 is None:  # readout
            term = H if trace else H[:, :, None, None] * jnp.eye(k, dtype=H.dtype)[None, None]
        elif isinstance(d1, Gated):  # D_cc' = sum_j g_j(x) g_j(x') w_jc w_jc'
            g1, g2, w = d1.gate.astype(H.dtype), d2.gate.astype(H.dtype), d1.w
            if trace:
                term = H * ((g1 * (jnp.sum(w * w, axis=1) / k)[None, :]) @ g2.T)
            else:
                ww = w[:, :, None] * w[:, None, :]
                term = H[:, :, None, None] * jnp.einsum("im,jm,mcd->ijcd", g1, g2, ww)
        elif trace:
            n1, n2 = d1.shape[0], d2.shape[0]
            D = d1.reshape(n1, -1) @ d2.reshape(n2, -1).T
            term = H * (D / k) if k > 1 else H * D
        else:
            term = H[:, :, None, None] * jnp.einsum("icm,jdm->ijcd", d1, d2)
        out = out + term
    return out


def feature_bytes(
    spec, n: int, layers: tuple[int, ...], itemsize: int, traced: bool = False
) -> int:
    """Bytes of the features of ``n`` inputs: per input, for every trainable layer l, its
    input (fan_in_l floats) and its backward vectors (k m floats below the last hidden
    layer; for the last one m bool gates, or m floats when ``traced``; nothing for the
    readout)."""
    m, k, L = spec.width, spec.out_dim, spec.depth
    last = m * itemsize if traced else m

    def backward(l: int) -> int:
        return k * m * itemsize if l < L - 1 else last if l == L - 1 else 0

    return n * sum(spec.fan_in(l) * itemsize + backward(l) for l in layers)


def ntk_flops(
    spec, n1: int, n2: int | None = None, *, trainable: Any = None, shared: bool = True
) -> int:
    """Floating-point operations of ``empirical_ntk`` (multiply + add = 2), exploiting symmetry.

    With d = in_dim, m = width, L = depth, k = out_dim, fan_in_0 = d, fan_in_l = m:

      per input (features):
        forward   F = sum_{l=0}^{L-1} 2 fan_in_l m        (x2 when the gates need their
                                                          own pass: a FAP net off params0)
        backward  B = sum_{l=lo}^{L-2} 2 k m^2            (lo = lowest trainable layer)
      per pair of inputs (Gram matrices, fused Hadamard products not counted):
        P = sum_{l trainable} 2 fan_in_l  +  sum_{l trainable, l < L} 2 k m
      total = n_feat (F + B) + n_pairs P,
        K(x1, x2): n_feat = n1 + n2, n_pairs = n1 n2;
        K(x, x):   n_feat = n,       n_pairs = n (n + 1) / 2   (only the upper triangle).

    Example: n = m = 2048, d = 32, L = 3, k = 1, all layers, ReLU: 120.7 GFLOP
    (69 GFLOP features, 51.7 GFLOP Grams).
    """
    layers = normalize_layers(trainable, spec.n_layers)
    m, k, L = spec.width, spec.out_dim, spec.depth
    fwd = sum(2 * spec.fan_in(l) * m for l in range(L)) * (1 if shared else 2)
    bwd = sum(2 * k * m * m for l in range(layers[0], L - 1))
    pair = sum(2 * spec.fan_in(l) + (2 * k * m if l < L else 0) for l in layers)
    if n2 is None:
        return n1 * (fwd + bwd) + n1 * (n1 + 1) // 2 * pair
    return (n1 + n2) * (fwd + bwd) + n1 * n2 * pair


@functools.partial(jax.jit, static_argnames=("layers", "shared", "traced"))
def features_jit(model, params, x, layers, shared, traced=False):
    """Jitted ``ntk_features`` (the model is a pytree: a FAP net's params0 are leaves)."""
    return ntk_features(model, params, x, layers, shared, traced)


@functools.partial(jax.jit, static_argnames=("spec", "layers", "trace", "diag"))
def tile_jit(spec, layers, trace, diag, f1, f2):
    """Jitted ``ntk_from_features``; ``diag``: a diagonal block of K(x, x) (f1 is f2), made
    exactly symmetric by ``mirror_block`` (splitting it to skip its lower half saved ~2%
    of the time but doubled the temporaries: the row slices of features are copies)."""
    blk = ntk_from_features(spec, layers, f1, f2, trace)
    return mirror_block(blk, trace) if diag else blk


def structured_source(model: Model, params: Params, layers: tuple[int, ...], trace: bool):
    """The ``TileSource`` of the structured kernel of ``model`` at ``params``: features
    from ``features_jit`` (one forward pass when the gates come from ``params``), tiles
    from ``tile_jit``. Traced kernels use the compact ``traced`` features."""
    spec, shared, trace = model.spec, shares_gates(model, params), bool(trace)
    itemsize = jnp.dtype(
        jnp.result_type(*[a.dtype for a in jax.tree_util.tree_leaves(params)])
    ).itemsize
    return TileSource(
        operands=(model, params),
        features=lambda ops, xb: features_jit(*ops, xb, layers, shared, trace),
        tile=lambda f1, f2, diag: tile_jit(spec, layers, trace, diag, f1, f2),
        feature_bytes=lambda n: feature_bytes(spec, n, layers, itemsize, trace),
        trace=trace,
    )
