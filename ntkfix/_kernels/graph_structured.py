"""Structured derivatives for any traced network: per-layer features and tiles.

Every layer found by ``ntkfix._kernels.graph_layers`` is in canonical form
z[g, o, s] = sum_k h[g, k, s] W[g, k, o] (g: groups, s: positions of one input; a
convolution's h are its patches), so for outputs c, c' of inputs x, x'

    dfc/dW[g, k, o] = sum_s h[g, k, s] D_c[g, o, s],        D_c = dfc/dz,
    Theta_l,cc'(x, x') = sum_g sum_{s,t} <h_gs(x), h_gt(x')> <D_c,gs(x), D_c',gt(x')>.

Two exact rules per layer (Novak et al. 2022, arXiv:2206.08720, "structured
derivatives"; the choice is ``choose_rules``'):

- *gram*: the last line, the product of the input Gram and the cotangent Gram at every
  pair of positions: per pair of inputs 2 G S^2 (K + k O) operations, b^2 G S^2 scalars
  of temporaries per tile: the rule for dense layers (S = 1: (X X'^T) * (D D'^T));
- *gradients*: each input's weight gradient formed as one batched matmul of its patches
  against its cotangents (2 k G K O S per input), then the Gram of those rows in one
  matmul with the fallback leaves' Jacobian rows (2 k G K O per pair): the rule for
  convolutions, whose S^2 makes the gram rule dear. XLA's vmap of per-example
  ``jacrev`` becomes grouped convolutions there, far below matmul speed.

The cotangents D of all layers come from one batched backward pass per output through
the traced graph (``graph_layers.probed_forward``: the vjp at zero probes on the layer
outputs); a FAP net's graph has its gates frozen, so its cotangents are those of the
FAP net. Fallback leaves' per-example gradients come out of the same pass. Features of a
block: (J rows (b, k, P_J) of the fallback leaves and the gradients-rule layers, and
(h, D) of each gram-rule layer).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools

import jax
import jax.numpy as jnp

from ntkfix._kernels.graph_layers import Layer, Layers, probed_forward
from ntkfix._kernels.jacobian import JACOBIAN_BUDGET_BYTES, jacobian_kernel
from ntkfix._kernels.layout import mirror_block
from ntkfix._kernels.tiling import TileSource

GRAM_BUDGET_BYTES = 2**27  # a gram-rule layer's tile temporaries
RULES = ("gram", "gradients")


def _patches(layer: Layer, h: jax.Array) -> jax.Array:
    """(n, G, K, S) patches of a convolution's inputs h (n, *h_shape): dilate, pad, one
    strided slice per window offset (data movement only)."""
    p = layer.params
    dn = p["dimension_numbers"]
    n, nspatial = h.shape[0], len(dn.lhs_spec) - 2
    h = jnp.transpose(h, (0, *(d + 1 for d in dn.lhs_spec)))  # (n, N, C, *spatial)
    zero = jnp.zeros((), h.dtype)
    pads = [(0, 0, 0)] * 3 + [
        (lo, hi, dil - 1) for (lo, hi), dil in zip(p["padding"], p["lhs_dilation"], strict=True)
    ]
    h = jax.lax.pad(h, zero, pads)
    window = [layer.w_shape[d] for d in dn.rhs_spec[2:]]
    out = [layer.z_shape[d] for d in dn.out_spec[2:]]
    strides, rdil = p["window_strides"], p["rhs_dilation"]
    cuts = []
    for offs in itertools.product(*(range(w) for w in window)):
        start = [o * r for o, r in zip(offs, rdil, strict=True)]
        limit = [s + (m - 1) * st + 1 for s, m, st in zip(start, out, strides, strict=True)]
        cuts.append(
            jax.lax.slice(h, [0, 0, 0, *start], [*h.shape[:3], *limit], [1, 1, 1, *strides])
        )
    P = jnp.stack(cuts, axis=3)  # (n, N, C, window, *out)
    P = jnp.transpose(P, (0, 2, 3, 1, *range(4, 4 + nspatial)))  # (n, C, window, N, *out)
    return P.reshape(n, layer.G, layer.K, layer.S)


def _dot_perms(layer: Layer) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Permutations of h and z (one input) to (G, K, S) and (G, O, S) order."""
    (lc, rc), (lb, rb) = layer.params["dimension_numbers"]
    hc, hb = (lc, lb) if layer.operand == 1 else (rc, rb)
    hf = [d for d in range(len(layer.h_shape)) if d not in (*hc, *hb)]
    nb, nhf, nz = len(hb), len(hf), len(layer.z_shape)
    if layer.operand == 1:  # z: batch, h free, W free
        zp = (*range(nb), *range(nb + nhf, nz), *range(nb, nb + nhf))
    else:  # z: batch, W free, h free
        zp = tuple(range(nz))
    return (*hb, *hc, *hf), zp


def canonical_inputs(layer: Layer, h: jax.Array) -> jax.Array:
    """The layer inputs h (n, *h_shape) as (n, G, K, S)."""
    if layer.kind == "conv":
        return _patches(layer, h)
    hp, _ = _dot_perms(layer)
    h = jnp.transpose(h, (0, *(d + 1 for d in hp)))
    return h.reshape(h.shape[0], layer.G, layer.K, layer.S)


def canonical_cotangents(layer: Layer, dz: jax.Array) -> jax.Array:
    """Cotangents dz (n, k, *z_shape) as (n, k, G, O, S)."""
    if layer.kind == "conv":
        dn = layer.params["dimension_numbers"]
        zp = (dn.out_spec[1], dn.out_spec[0], *dn.out_spec[2:])
    else:
        _, zp = _dot_perms(layer)
    dz = jnp.transpose(dz, (0, 1, *(d + 2 for d in zp)))
    return dz.reshape(*dz.shape[:2], layer.G, layer.O, layer.S)


def example_terms(net: Layers, leaves: list, net_leaves: list, x1: jax.Array):
    """(layer inputs, layer cotangents (k, *z_shape), fallback gradients (k, *leaf))
    of one input ``x1`` (1, ...): one backward pass per output, batched over outputs."""
    fb = [leaves[i] for i in net.fallback]

    def f(probes, fb_leaves):
        ls = list(leaves)
        for i, a in zip(net.fallback, fb_leaves, strict=True):
            ls[i] = a
        return probed_forward(net, ls, net_leaves, x1, probes)

    probes = [jnp.zeros(lay.z_shape, lay.z_dtype) for lay in net.layers]
    out, vjp, hs = jax.vjp(f, probes, fb, has_aux=True)
    dz, dfb = jax.vmap(vjp)(jnp.eye(net.k, dtype=out.dtype))
    return hs, dz, dfb


def weight_gradients(P: jax.Array, D: jax.Array) -> jax.Array:
    """(b, k, G K O) per-input weight gradients from patches P (b, G, K, S) and
    cotangents D (b, k, G, O, S): one batched (k O, S) x (S, K) matmul per input and
    group (moving k next to O is free for G = 1 or k = 1)."""
    (b, k, G, O, S), K = D.shape, P.shape[2]
    Dg = jnp.moveaxis(D, 1, 2).reshape(b, G, k * O, S)
    W = jax.lax.dot_general(Dg, P, (((3,), (3,)), ((0, 1), (0, 1))))  # (b, G, k O, K)
    return jnp.moveaxis(W.reshape(b, G, k, O * K), 2, 1).reshape(b, k, G * O * K)


@functools.partial(jax.jit, static_argnames=("net", "rules"))
def block_features(net: Layers, rules: tuple[str, ...], leaves, net_leaves, xb):
    """Features of the inputs ``xb`` (b, ...): (J rows (b, k, P_J) or None, ((h, D) of
    each gram-rule layer)); module docstring."""
    one = lambda x: example_terms(net, leaves, net_leaves, x[None])
    hs, dz, dfb = jax.vmap(one)(xb)
    b, k = xb.shape[0], net.k
    rows = [g.reshape(b, k, -1) for g in dfb]
    grams = []
    for lay, rule, h, d in zip(net.layers, rules, hs, dz, strict=True):
        P, D = canonical_inputs(lay, h), canonical_cotangents(lay, d)
        if rule == "gram":
            grams.append((P, D))
        else:
            rows.append(weight_gradients(P, D))
    J = jnp.concatenate(rows, axis=2) if rows else None
    return J, tuple(grams)


def gram_term(P1, D1, P2, D2, trace: bool) -> jax.Array:
    """A gram-rule layer's block: (b1, b2) traced, else (b1, b2, k, k)."""
    (b1, k, G, O, S), b2 = D1.shape, D2.shape[0]
    if G == 1 and S == 1:  # a dense layer: (X X'^T) * (D D'^T)
        H = P1[:, 0, :, 0] @ P2[:, 0, :, 0].T
        if trace:
            return H * (D1.reshape(b1, k * O) @ D2.reshape(b2, k * O).T) / k
        B = D1.reshape(b1 * k, O) @ D2.reshape(b2 * k, O).T
        return H[:, :, None, None] * B.reshape(b1, k, b2, k).transpose(0, 2, 1, 3)
    A = jnp.einsum("igks,jgkt->ijgst", P1, P2)
    if trace:
        B = jnp.einsum("icgos,jcgot->ijgst", D1, D2)
        return jnp.sum(A * B, axis=(2, 3, 4)) / k
    B = jnp.einsum("icgos,jdgot->ijcdgst", D1, D2)
    return jnp.einsum("ijgst,ijcdgst->ijcd", A, B)


@functools.partial(jax.jit, static_argnames=("trace", "diag"))
def block_tile(f1, f2, trace: bool, diag: bool) -> jax.Array:
    """The kernel block of two feature sets (``block_features``)."""
    (J1, g1), (J2, g2) = f1, f2
    blk = 0.0 if J1 is None else jacobian_kernel(J1, J2, trace)
    for (P1, D1), (P2, D2) in zip(g1, g2, strict=True):
        blk = blk + gram_term(P1, D1, P2, D2, trace)
    return mirror_block(blk, trace) if diag else blk


@functools.partial(jax.jit, static_argnames=("net", "rules", "trace"))
def whole_kernel(net: Layers, rules: tuple[str, ...], trace: bool, leaves, net_leaves, x):
    """K(x, x) of one tile in one compiled call: ``block_tile`` of ``block_features``."""
    f = block_features(net, rules, leaves, net_leaves, x)
    return block_tile(f, f, trace, True)


@dataclasses.dataclass(frozen=True)
class Counts:
    """Operations of the structured kernel: per input (features) and per pair (tiles),
    and the parameters that go into Jacobian rows."""

    feature: int
    pair: int
    rows: int  # P_J: fallback leaves plus gradients-rule layers


def rule_costs(layer: Layer, k: int, trace: bool) -> dict[str, tuple[int, int]]:
    """{rule: (operations per input, per pair)} of one layer (module docstring)."""
    kk = k if trace else k * k
    gram_pair = layer.G * layer.S**2 * (2 * layer.K + 2 * kk * layer.O + kk)
    return {
        "gram": (0, gram_pair),
        "gradients": (2 * k * layer.n_params * layer.S, 2 * kk * layer.n_params),
    }


def gram_temporaries(layer: Layer, k: int, trace: bool) -> int:
    """Tile-sized arrays a gram-rule layer's block holds (its position pairs' Grams)."""
    return layer.G * layer.S**2 * (2 if trace else 1 + k * k)


def choose_rules(
    net: Layers, n_feat: int, n_pairs: int, block: int, trace: bool, itemsize: int, force=None
) -> tuple[str, ...]:
    """Per layer the rule with fewer operations for ``n_feat`` inputs and ``n_pairs``
    pairs whose tile temporaries fit ``GRAM_BUDGET_BYTES`` (``force``: one rule for all)."""
    if force is not None:
        return tuple(force for _ in net.layers)
    out = []
    for lay in net.layers:
        c = {r: n_feat * f + n_pairs * p for r, (f, p) in rule_costs(lay, net.k, trace).items()}
        fits = block * block * gram_temporaries(lay, net.k, trace) * itemsize <= GRAM_BUDGET_BYTES
        out.append("gram" if fits and c["gram"] <= c["gradients"] else "gradients")
    return tuple(out)


def counts(net: Layers, rules: tuple[str, ...], leaf_sizes: list[int], trace: bool) -> Counts:
    """Operations per input beyond the forward and backward passes, per pair, and P_J."""
    k, kk = net.k, net.k if trace else net.k * net.k
    rows = sum(leaf_sizes[i] for i in net.fallback)
    feature, pair = 0, 0
    for lay, rule in zip(net.layers, rules, strict=True):
        f, p = rule_costs(lay, k, trace)[rule]
        feature, pair = feature + f, pair + (p if rule == "gram" else 0)
        rows += lay.n_params if rule == "gradients" else 0
    return Counts(feature, pair + 2 * kk * rows, rows)


def feature_bytes(net: Layers, rules, rows: int, itemsize: int, n: int) -> int:
    """Bytes of the features of ``n`` inputs."""
    per = net.k * rows + sum(
        lay.G * lay.S * (lay.K + net.k * lay.O)
        for lay, r in zip(net.layers, rules, strict=True)
        if r == "gram"
    )
    return n * per * itemsize


def structured_block(n: int, k: int, rows: int, itemsize: int) -> int:
    """Rows per tile: a power of two (8..512) whose Jacobian rows fit
    ``JACOBIAN_BUDGET_BYTES``, and no more than n needs."""
    block = 512
    while block > 8 and block * k * max(rows, 1) * itemsize > JACOBIAN_BUDGET_BYTES:
        block //= 2
    while block > 8 and block >= 2 * n:
        block //= 2
    return block


def structured_source(model, params, net: Layers, rules: tuple[str, ...], trace: bool, rows: int):
    """The ``TileSource`` of the structured kernel of ``model`` at ``params``."""
    trace = bool(trace)
    itemsize = jnp.dtype(jnp.result_type(*jax.tree_util.tree_leaves(params))).itemsize

    def features(ops, xb):
        m, p = ops
        leaves = jax.tree_util.tree_leaves(p)
        return block_features(net, rules, leaves, jax.tree_util.tree_leaves(m), xb)

    def whole(ops, x):
        m, p = ops
        leaves, net_leaves = jax.tree_util.tree_leaves(p), jax.tree_util.tree_leaves(m)
        return whole_kernel(net, rules, trace, leaves, net_leaves, x)

    return TileSource(
        operands=(model, params),
        features=features,
        tile=lambda f1, f2, diag: block_tile(f1, f2, trace, diag),
        feature_bytes=lambda n: feature_bytes(net, rules, rows, itemsize, n),
        trace=trace,
        whole=whole,
    )
