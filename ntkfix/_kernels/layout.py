"""Index layouts of kernel blocks; no kernel math.

A kernel block is traced, (n1, n2), or full, (n1, n2, k, k) with the output axes last
(neural-tangents' layout). These helpers move such blocks around; they work on numpy and
JAX arrays alike (and keep the dtype: float64 numpy stays float64).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def swap_block(blk, trace: bool):
    """The block of K(x2, x1) from the block of K(x1, x2): (j, i[, d, c]) <- (i, j[, c, d])."""
    return jnp.swapaxes(blk, 0, 1) if trace else jnp.transpose(blk, (1, 0, 3, 2))


def mirror_block(blk, trace: bool):
    """A diagonal block made exactly symmetric: its upper triangle, mirrored (full blocks:
    the upper triangle of the (n k, n k) matrix, so each input's own (k, k) block too)."""
    n = blk.shape[0]
    i = jnp.arange(n)
    if trace:
        upper = i[:, None] <= i[None, :]
    else:
        c = jnp.arange(blk.shape[2])
        lower_c = jnp.broadcast_to(c[:, None] <= c[None, :], blk.shape)
        same = jnp.broadcast_to((i[:, None] == i[None, :])[:, :, None, None], blk.shape)
        before = jnp.broadcast_to((i[:, None] < i[None, :])[:, :, None, None], blk.shape)
        upper = before | (same & lower_c)
    return jnp.where(upper, blk, swap_block(blk, trace))


@functools.partial(jax.jit, static_argnames="trace")
def mirror_computed(blk, trace: bool = True):
    """``mirror_block`` of a block that is already computed: as its own XLA computation,
    so that XLA cannot fuse the block's computation into the mirror and recompute an
    entry for each triangle (recomputed entries may round differently; then the block
    would not be exactly symmetric)."""
    return mirror_block(blk, trace)


def mirrored(blk, diag: bool):
    """A traced tile as the tiler stores it: ``mirror_computed`` when ``diag``, else as is."""
    return mirror_computed(blk, True) if diag else blk


def flatten_full(K):
    """(n1, n2, k, k) -> (n1 k, n2 k), row index i * k + c (point-major); (n1, n2) as is.

    Examples:
      >>> import numpy as np
      >>> flatten_full(np.arange(16.0).reshape(2, 2, 2, 2))[1]
      array([2., 3., 6., 7.])
    """
    if K.ndim == 2:
        return K
    n1, n2, k, _ = K.shape
    return K.transpose(0, 2, 1, 3).reshape(n1 * k, n2 * k)
