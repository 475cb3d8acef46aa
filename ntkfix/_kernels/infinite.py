"""Infinite-width NTK and NNGP of ReLU MLPs (closed form or neural-tangents) and of any
stax model, all jitted and tile by tile (``ntkfix._kernels.tiling``).

The closed form is the arc-cosine recursion of ``ntkfix._kernels.closed_form`` (its
docstring has the formulas), with the polynomial k0, k1 of ``ntkfix._kernels.arccos``;
the neural-tangents backend and any stax ``kernel_fn`` run through the same tiler
(``stax_kernel``): symmetric tiles for K(x, x), memory O(output + tile). Before the
output is allocated its size and the tiles' working set are checked against the memory
of the device (``ntkfix._kernels.budget.check_memory_kernel``): a kernel that does not
fit is refused with the largest n that does, pointing at ``infinite_ntk_to_disk``.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np

from ntkfix._core import nt as _nt
from ntkfix._core.validate import check_choice, check_inputs, check_positive_int, normalize_layers
from ntkfix._kernels.budget import check_memory_kernel
from ntkfix._kernels.closed_form import TEMPORARIES, closed_form_block, closed_form_source
from ntkfix._kernels.layout import mirrored
from ntkfix._kernels.tiling import TileRunner, TileSource, tiled_kernel
from ntkfix._models.base import check_model
from ntkfix._models.function import check_batch
from ntkfix._models.mlp import MLP

BACKENDS = ("auto", "neural_tangents", "closed_form")


def closed_form_kernel(
    spec: MLP,
    x1: jax.Array,
    x2: jax.Array | None,
    which: str,
    layers: tuple[int, ...],
    *,
    block_size: int | None = None,
    name: str = "infinite_ntk",
) -> jax.Array:
    """The closed-form ``which`` ("ntk" restricted to ``layers``, or "nngp") of ``spec``,
    (n1, n2), tiled (x2=None: K(x1, x1), symmetric tiles); memory checked first."""
    n1 = x1.shape[0]
    n2 = n1 if x2 is None else x2.shape[0]
    block = closed_form_block(max(n1, n2)) if block_size is None else block_size
    source = closed_form_source(spec, layers, which, x1.dtype)
    runner = TileRunner(source, x1, x2)
    if not runner.tracing:
        check_memory_kernel(
            n1, n2, x1.dtype.itemsize, source.feature_bytes(1), TEMPORARIES, block, name
        )
    return tiled_kernel(runner, n1, n2, block)


def _prepare(spec, x1, x2):
    """Validated (x1, x2); x2 stays None for the symmetric kernel K(x1, x1)."""
    if not isinstance(spec, MLP):
        raise TypeError(f"spec must be an ntkfix.MLP, got {type(spec).__name__}")
    x1 = check_inputs(x1, "x1", spec.in_dim)
    x2 = None if x2 is None else check_inputs(x2, "x2", spec.in_dim)
    return x1, x2


def _resolve_backend(backend: str, subset: bool) -> str:
    check_choice(backend, "backend", BACKENDS)
    if backend == "neural_tangents" and subset:
        raise ValueError(
            "backend='neural_tangents' cannot restrict the NTK to a layer subset "
            "(trainable=...); use backend='closed_form' or 'auto'"
        )
    return "closed_form" if backend == "auto" else backend


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
    if not isinstance(spec, MLP):
        return stax_kernel(spec, x1, x2, "ntk", trainable=trainable, block_size=block_size)
    x1, x2 = _prepare(spec, x1, x2)
    block = None if block_size is None else check_positive_int(block_size, "block_size")
    layers = normalize_layers(trainable, spec.n_layers)
    subset = layers != tuple(range(spec.n_layers))
    if _resolve_backend(backend, subset) == "neural_tangents":
        return _nt_call(spec, x1, x2, "ntk", block)
    return closed_form_kernel(spec, x1, x2, "ntk", layers, block_size=block)


def infinite_nngp(
    spec: Any, x1: Any, x2: Any = None, *, backend: str = "auto", block_size: int | None = None
) -> jax.Array:
    """Infinite-width NNGP kernel (output covariance) of ``spec``, (n1, n2), per output.

    Same backends, models, tiles and memory check as ``infinite_ntk``; the closed form
    is S_L of ``ntkfix._kernels.closed_form``.
    """
    if not isinstance(spec, MLP):
        return stax_kernel(spec, x1, x2, "nngp", block_size=block_size)
    x1, x2 = _prepare(spec, x1, x2)
    block = None if block_size is None else check_positive_int(block_size, "block_size")
    if _resolve_backend(backend, False) == "neural_tangents":
        return _nt_call(spec, x1, x2, "nngp", block)
    layers = tuple(range(spec.n_layers))
    return closed_form_kernel(spec, x1, x2, "nngp", layers, block_size=block, name="infinite_nngp")


@functools.lru_cache(maxsize=64)
def _stax_of(spec: MLP):
    """``spec.stax()``, once per spec: the same kernel_fn, so its jitted tiles are reused."""
    return spec.stax()


def _nt_call(spec, x1, x2, which, block):
    _nt.import_nt(f"backend='neural_tangents' ({which})")
    name = "infinite_ntk" if which == "ntk" else "infinite_nngp"
    return stax_kernel(_stax_of(spec), x1, x2, which, block_size=block, name=name)


@functools.partial(jax.jit, static_argnames=("kernel_fn", "which", "diag"))
def _kernel_tile(kernel_fn, which, diag, x1b, x2b):
    return kernel_fn(x1b, None if diag else x2b, which)


def stax_kernel(
    model: Any,
    x1: Any,
    x2: Any = None,
    which: str = "ntk",
    *,
    trainable: Any = None,
    block_size: int | None = None,
    name: str = "stax_kernel",
) -> jax.Array:
    """``kernel_fn(x1, x2, which)`` of a stax model, jitted and tile by tile (symmetric
    tiles for K(x, x)), so that only a tile's intermediates are held at once.

    Args:
      model: a stax triple ``(init_fn, apply_fn, kernel_fn)``, or an ntkfix model made
        from one (its ``kernel_fn``).
      x1, x2: (n, ...) inputs; x2=None means x1.
      which: "ntk" or "nngp".
      block_size: rows per tile (default 512 for flat inputs, 64 for images).
      name: the function named in a refusal (``KernelTooLarge``).

    Returns:
      (n1, n2), traced over the outputs as neural-tangents' kernels are.
    """
    kernel_fn = getattr(check_model(model, "spec"), "kernel_fn", None)
    if kernel_fn is None:
        raise ValueError(
            "an infinite-width kernel needs an ntkfix.MLP or a stax triple (init_fn, "
            "apply_fn, kernel_fn); this model is a plain function without a kernel_fn"
        )
    if trainable is not None:
        raise ValueError("trainable= needs an ntkfix.MLP: a stax kernel_fn has no layer subsets")
    check_choice(which, "which", ("ntk", "nngp"))
    _nt.import_nt(f"the {which} kernel of a stax model")
    x1 = check_batch(x1, "x1")
    x2 = None if x2 is None else check_batch(x2, "x2")
    n = max(x1.shape[0], 0 if x2 is None else x2.shape[0])
    if block_size is None:
        block = 512 if x1.ndim == 2 else 64
        while block > 8 and block >= 2 * n:
            block //= 2
    else:
        block = check_positive_int(block_size, "block_size")
    source = TileSource(
        operands=(),
        features=lambda ops, xb: xb,
        tile=lambda f1, f2, diag: mirrored(_kernel_tile(kernel_fn, which, diag, f1, f2), diag),
        feature_bytes=lambda n: n * int(np.prod(x1.shape[1:])) * x1.dtype.itemsize,
        trace=True,
    )
    runner = TileRunner(source, x1, x2)
    n2 = n if x2 is None else x2.shape[0]
    if not runner.tracing:  # nt's kernel_fn holds ~ a dozen tile-sized temporaries
        check_memory_kernel(
            x1.shape[0], n2, x1.dtype.itemsize, source.feature_bytes(1), 12, block, name
        )
    return tiled_kernel(runner, x1.shape[0], n2, block)
