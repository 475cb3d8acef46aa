"""The exact empirical NTK of any network by Jacobian contraction, tile by tile.

For a network f(params, x) -> (n, k) with P parameters, the features of a block of b
inputs are its Jacobian rows J (b, k, P) (per example: ``jax.vmap`` of ``jax.jacrev``, k
backward passes each), and a tile is

    Theta_cc'(x, x') = <J_c(x), J_c'(x')>      traced: (1/k) sum_c <J_c(x), J_c(x')>

(neural-tangents' JACOBIAN_CONTRACTION; Novak et al. 2022, arXiv:2206.08720, give its
cost: O(n k P) memory for the features of n inputs, O(n1 n2 k^2 P) for the tiles). The
tiler (``ntkfix._kernels.tiling``) bounds memory by the block size, which is chosen so
that a block's features stay within ``JACOBIAN_BUDGET_BYTES``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from ntkfix._kernels.layout import mirror_block
from ntkfix._kernels.tiling import TileSource

JACOBIAN_BUDGET_BYTES = 2**28  # features of one block of rows


def n_params(params) -> int:
    """Number of scalars in the params pytree."""
    return sum(int(a.size) for a in jax.tree_util.tree_leaves(params))


def jacobian_rows(model, params, xb: jax.Array) -> jax.Array:
    """(b, k, P) Jacobian of ``model.forward(params, .)`` at each row of ``xb``; the
    parameter axis runs over the params leaves in pytree order, each flattened."""
    leaves, treedef = jax.tree_util.tree_flatten(params)

    def one(xi):
        f = lambda *ls: model.forward(jax.tree_util.tree_unflatten(treedef, ls), xi[None])[0]
        jac = jax.jacrev(f, argnums=tuple(range(len(leaves))))(*leaves)
        return jnp.concatenate([j.reshape(j.shape[0], -1) for j in jac], axis=1)

    return jax.lax.map(one, xb) if _slow_vmapped_conv(model, params, xb) else jax.vmap(one)(xb)


def _slow_vmapped_conv(model, params, xb) -> bool:
    """XLA's CPU backend has no fast float64 kernel for a vmapped (per-example) convolution
    gradient: ~30x slower than the same gradients one example at a time (the 2-conv CNN of
    64 channels on 16 digits: 2.5 s vmapped, 0.08 s mapped, the same values; float32 is
    fast vmapped). ``jacobian_rows`` maps over the rows there."""
    dtype = jnp.result_type(xb, *jax.tree_util.tree_leaves(params))
    if jax.default_backend() != "cpu" or dtype != jnp.float64:
        return False
    spec = lambda a: jax.ShapeDtypeStruct(jnp.shape(a), a.dtype)
    args = jax.tree_util.tree_map(spec, (model, params, xb[:1]))
    jaxpr = jax.make_jaxpr(lambda m, p, x: m.forward(p, x))(*args)
    return "conv_general_dilated" in str(jaxpr)  # nested jaxprs print inline


@jax.jit
def _features(model, params, xb):
    return jacobian_rows(model, params, xb)


def jacobian_kernel(J1: jax.Array, J2: jax.Array, trace: bool) -> jax.Array:
    """The kernel block of two sets of Jacobian rows (b1, k, P), (b2, k, P): (b1, b2)
    traced (the mean over the k outputs), else (b1, b2, k, k)."""
    (b1, k, P), b2 = J1.shape, J2.shape[0]
    if trace:  # one (b1, k P) x (k P, b2) matmul
        return (J1.reshape(b1, k * P) @ J2.reshape(b2, k * P).T) / k
    G = J1.reshape(b1 * k, P) @ J2.reshape(b2 * k, P).T  # (b1 k, b2 k)
    return G.reshape(b1, k, b2, k).transpose(0, 2, 1, 3)


@functools.partial(jax.jit, static_argnames=("trace", "diag"))
def _tile(J1, J2, trace, diag):
    blk = jacobian_kernel(J1, J2, trace)
    return mirror_block(blk, trace) if diag else blk


def jacobian_block(n: int, k: int, P: int, itemsize: int) -> int:
    """Rows per tile: a power of two whose features fit ``JACOBIAN_BUDGET_BYTES`` (8..512),
    and no more than n needs."""
    block = 512
    while block > 8 and block * k * P * itemsize > JACOBIAN_BUDGET_BYTES:
        block //= 2
    while block > 8 and block >= 2 * n:
        block //= 2
    return block


def jacobian_source(model, params, k: int, trace: bool) -> TileSource:
    """The ``TileSource`` of the Jacobian-contraction kernel of ``model`` at ``params``."""
    P = n_params(params)
    itemsize = jnp.dtype(jnp.result_type(*jax.tree_util.tree_leaves(params))).itemsize
    trace = bool(trace)
    return TileSource(
        operands=(model, params),
        features=lambda ops, xb: _features(*ops, xb),
        tile=lambda f1, f2, diag: _tile(f1, f2, trace, diag),
        feature_bytes=lambda n: n * k * P * itemsize,
        trace=trace,
    )
