"""Infinite-width NTK and NNGP in one line: ``infinite_ntk``, ``infinite_nngp``,
``stax_kernel`` and their ``*_to_disk`` twins, thin calls into ``InfiniteKernel``
(``ntkfix._kernels.kernel``).

The closed form is the arc-cosine recursion of ``ntkfix._kernels.closed_form`` (its
docstring has the formulas), with the polynomial k0, k1 of ``ntkfix._kernels.arccos``;
the neural-tangents backend and any stax ``kernel_fn`` run through the same tiler
(``ntkfix._kernels.limits``): symmetric tiles for K(x, x), memory O(output + tile).
Before the output is allocated its size and the tiles' working set are checked against
the memory of the device (``ntkfix._kernels.budget.check_memory_kernel``): a kernel that
does not fit is refused with the largest n that does, pointing at ``*_to_disk``.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np

from ntkfix._kernels.kernel import InfiniteKernel


def infinite_ntk(
    spec: Any,
    x1: Any,
    x2: Any = None,
    *,
    backend: str = "auto",
    trainable: Any = None,
    block_size: int | None = None,
) -> jax.Array:
    """Infinite-width NTK of the ReLU MLP ``spec``, shape (n1, n2), per output.

    ``spec`` may also be a neural-tangents stax triple ``(init_fn, apply_fn, kernel_fn)``
    (or its ``FixedPattern``, whose infinite-width kernel is the ReLU net's): its
    ``kernel_fn`` is then evaluated jitted, tile by tile (``stax_kernel``).

    Args:
      spec: the architecture (width is ignored except for the standard
        parameterization, whose NTK scales with the layer widths), or a stax triple.
      x1, x2: (n, in_dim) inputs ((n, ...) for a stax triple); x2=None means x1.
      backend: "closed_form" (the recursion of ``ntkfix._kernels.closed_form``, jitted
        and tiled, polynomial arc-cosines), "neural_tangents" (``spec.stax()``
        kernel_fn, jitted per tile by ``stax_kernel``) or "auto" (the closed form:
        it equals neural-tangents' kernel to rounding and is faster).
      trainable: dense layers whose parameters count, as in ``empirical_ntk``
        (closed form only; neural-tangents has no layer subsets).
      block_size: rows per tile (default ``closed_form_block``; any gives the same
        kernel up to rounding).

    Returns:
      Theta_inf(x1, x2), (n1, n2).

    Raises:
      KernelTooLarge: the kernel and its tiles would not fit the memory (the message
        gives the largest n that does; ``infinite_ntk_to_disk`` writes larger ones).

    Examples:
      >>> import jax.numpy as jnp, ntkfix
      >>> spec = ntkfix.MLP(2, 1, 1)
      >>> x = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> ntkfix.infinite_ntk(spec, x, backend="closed_form").shape
      (2, 2)
    """
    kernel = InfiniteKernel(spec, "ntk", trainable=trainable, backend=backend)
    return kernel(x1, x2, block_size=block_size)


def infinite_nngp(
    spec: Any, x1: Any, x2: Any = None, *, backend: str = "auto", block_size: int | None = None
) -> jax.Array:
    """Infinite-width NNGP kernel (output covariance) of ``spec``, (n1, n2), per output.

    Same backends, models, tiles and memory check as ``infinite_ntk``; the closed form
    is S_L of ``ntkfix._kernels.closed_form``.
    """
    return InfiniteKernel(spec, "nngp", backend=backend)(x1, x2, block_size=block_size)


def stax_kernel(
    model: Any,
    x1: Any,
    x2: Any = None,
    which: str = "ntk",
    *,
    trainable: Any = None,
    block_size: int | None = None,
) -> jax.Array:
    """``kernel_fn(x1, x2, which)`` of a stax model, jitted and tile by tile (symmetric
    tiles for K(x, x)), so that only a tile's intermediates are held at once.

    Args:
      model: a stax triple ``(init_fn, apply_fn, kernel_fn)``, or an ntkfix model made
        from one (its ``kernel_fn``).
      x1, x2: (n, ...) inputs; x2=None means x1.
      which: "ntk" or "nngp".
      block_size: rows per tile (default 512 for flat inputs, 64 for images).

    Returns:
      (n1, n2), traced over the outputs as neural-tangents' kernels are.
    """
    return InfiniteKernel(model, which, trainable=trainable)(x1, x2, block_size=block_size)


def infinite_ntk_to_disk(
    spec: Any, x: Any, path: str | os.PathLike, *, trainable: Any = None, **options
) -> np.memmap:
    """Infinite-width NTK K(x, x) (n, n) of ``spec``, written into ``path``.

    Same kernel as ``ntkfix.infinite_ntk(spec, x, trainable=..., block_size=...)`` (same
    tiles, bit for bit), with the resumable writer of ``empirical_ntk_to_disk``: the .npy
    memory map, the progress record, resume after an interruption or kill, the estimate
    and refusal (disk, memory, ``max_seconds``); ``part`` shares the tiles between
    machines. ``InfiniteKernel(spec, "ntk", trainable=...).to_disk(x, path, **options)``.

    Args:
      spec: the architecture (``ntkfix.MLP``: the closed form; or a stax triple: its
        ``kernel_fn``); x: (n, in_dim) inputs.
      path: the .npy file to create (or to resume, when its progress file exists).
      trainable: dense layers whose parameters count (as ``infinite_ntk``).
      options: ``DiskOptions`` (block_size, progress, devices, part, max_seconds,
        on_tile, durable), as ``empirical_ntk_to_disk``; block_size defaults to 2048 for
        n >= 8192, else as ``infinite_ntk``.

    Returns:
      the file opened read-only (``numpy.memmap``).

    Raises:
      KernelTooLarge: disk, memory or time too short (the message gives the largest n).
      ValueError: ``path`` holds a run of other inputs.
    """
    return InfiniteKernel(spec, "ntk", trainable=trainable).to_disk(x, path, **options)


def infinite_nngp_to_disk(spec: Any, x: Any, path: str | os.PathLike, **options) -> np.memmap:
    """Infinite-width NNGP K(x, x) (n, n) of ``spec`` into ``path``: ``infinite_nngp``'s
    kernel with the resumable writer (options as ``infinite_ntk_to_disk``)."""
    return InfiniteKernel(spec, "nngp").to_disk(x, path, **options)
