"""The exact empirical NTK of any network by NTK-vector products, tile by tile.

A tile Theta(x1_block, x2_block) is built column by column without ever holding the
Jacobian of the row block: for each column input x' (and each output c' of it) the
parameter-space vector v = J_c'(x')^T (one backward pass of the single input x') is
pushed forward through the row block with a Jacobian-vector product,

    Theta_{., c'}(x1_block, x') = J(x1_block) v        (jax.linearize of f(., x1_block)),

so the row block's linearization (its activations) is computed once per tile and each
column costs one forward-mode pass over the row block (neural-tangents'
NTK_VECTOR_PRODUCTS; Novak et al. 2022, arXiv:2206.08720). Memory per tile: the
linearization of b1 inputs plus ``chunk`` x k vectors of P parameters, never b1 x k x P.
Cost: ``ntkfix._kernels.cost``. It pays against Jacobian contraction when the outputs
are many (k > ~3, untraced) or the parameters too many for a block of Jacobian rows.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from ntkfix._kernels.layout import mirror_block
from ntkfix._kernels.tiling import TileSource

PRODUCTS_BUDGET_BYTES = 2**27  # parameter-space vectors of one chunk of columns


def _column_vectors(model, params, xs: jax.Array):
    """J(x)^T e_c for each input of ``xs`` (c, ...) and each output: a params pytree
    whose leaves have leading axes (c, k)."""

    def one(xi):
        return jax.jacrev(lambda p: model.forward(p, xi[None])[0])(params)

    return jax.vmap(one)(xs)


def products_tile(model, params, x1b, x2b, trace: bool, chunk: int) -> jax.Array:
    """Theta(x1b, x2b) by NTK-vector products: (b1, b2) traced, else (b1, b2, k, k)."""
    _, push = jax.linearize(lambda p: model.forward(p, x1b), params)  # (b1, k) per vector
    b2 = x2b.shape[0]
    pad = -b2 % chunk
    xs = jnp.concatenate([x2b, jnp.zeros((pad, *x2b.shape[1:]), x2b.dtype)]) if pad else x2b
    xs = xs.reshape(-1, chunk, *x2b.shape[1:])

    def columns(xc):  # (chunk, ...) -> (chunk, k', b1, k)
        vecs = _column_vectors(model, params, xc)
        k2 = jax.tree_util.tree_leaves(vecs)[0].shape[1]
        flat = jax.tree_util.tree_map(lambda a: a.reshape(chunk * k2, *a.shape[2:]), vecs)
        out = jax.vmap(push)(flat)  # (chunk k', b1, k)
        return out.reshape(chunk, k2, *out.shape[1:])

    cols = jax.lax.map(columns, xs)  # (chunks, chunk, k', b1, k)
    cols = cols.reshape(-1, *cols.shape[2:])[:b2]  # (b2, k', b1, k)
    blk = cols.transpose(2, 0, 3, 1)  # (b1, b2, k, k')
    if trace:
        return jnp.trace(blk, axis1=2, axis2=3) / blk.shape[2]
    return blk


@functools.partial(jax.jit, static_argnames=("trace", "diag", "chunk"))
def _tile(model, params, x1b, x2b, trace, diag, chunk):
    blk = products_tile(model, params, x1b, x2b, trace, chunk)
    return mirror_block(blk, trace) if diag else blk


def products_block(n: int, A: int, itemsize: int) -> int:
    """Rows per tile: a power of two (8..512) whose linearization, ``block * A`` scalars
    (A: intermediates of one input's forward pass), fits ``PRODUCTS_BUDGET_BYTES``, and
    no more than n needs."""
    block = 512
    while block > 8 and (block * A * itemsize > PRODUCTS_BUDGET_BYTES or block >= 2 * n):
        block //= 2
    return block


def products_chunk(k: int, P: int, A: int, itemsize: int, block: int) -> int:
    """Columns pushed at once (1..block): their ``chunk * k`` vectors of P parameters and
    the ``chunk * k * block * A`` forward-mode intermediates fit ``PRODUCTS_BUDGET_BYTES``."""
    per_column = k * (P + block * A) * itemsize
    return int(max(1, min(block, PRODUCTS_BUDGET_BYTES // max(1, per_column))))


def products_source(model, params, k: int, trace: bool, chunk: int) -> TileSource:
    """The ``TileSource`` of the NTK-vector-product kernel: a block's features are its
    inputs; each tile linearizes the row block and pushes the columns' vectors."""
    trace = bool(trace)
    return TileSource(
        operands=(model, params),
        features=lambda ops, xb: (ops, xb),  # the operands ride along to each device
        tile=lambda f1, f2, diag: _tile(*f1[0], f1[1], f2[1], trace, diag, chunk),
        feature_bytes=lambda n: 0,
        trace=trace,
    )
