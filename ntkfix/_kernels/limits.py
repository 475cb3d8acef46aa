"""Plans of infinite-width kernels: the closed form of ReLU MLPs, neural-tangents'
``kernel_fn`` of the same MLP, and the ``kernel_fn`` of any stax model.

Each returns a ``KernelPlan`` (``ntkfix._kernels.plan``) for the tiler: symmetric tiles
for K(x, x), memory O(output + tile). The closed form is the arc-cosine recursion of
``ntkfix._kernels.closed_form`` (its docstring has the formulas); a stax ``kernel_fn``
runs jitted, one tile at a time.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np

from ntkfix._core import nt as _nt
from ntkfix._core.validate import check_choice, normalize_layers
from ntkfix._kernels.closed_form import TEMPORARIES, closed_form_block, closed_form_source
from ntkfix._kernels.layout import mirrored
from ntkfix._kernels.plan import KernelPlan
from ntkfix._kernels.tiling import TileSource

BACKENDS = ("auto", "neural_tangents", "closed_form")
WHICH = ("ntk", "nngp")
STAX_TEMPORARIES = 12  # neural-tangents' kernel_fn holds ~ a dozen tile-sized arrays
# elementwise operations of the closed form per pair of inputs and layer (arc-cosine
# polynomials, square roots, the NTK update): an estimate, not a count
CLOSED_FORM_PAIR_OPS = 40


def _pairs(n1: int, n2: int | None) -> int:
    return n1 * (n1 + 1) // 2 if n2 is None else n1 * n2


def resolve_backend(backend: str, subset: bool) -> str:
    """ "auto" -> "closed_form" (it equals neural-tangents' kernel to rounding, faster)."""
    check_choice(backend, "backend", BACKENDS)
    if backend == "neural_tangents" and subset:
        raise ValueError(
            "backend='neural_tangents' cannot restrict the NTK to a layer subset "
            "(trainable=...); use backend='closed_form' or 'auto'"
        )
    return "closed_form" if backend == "auto" else backend


@functools.lru_cache(maxsize=64)
def _stax_of(spec):
    """``spec.stax()``, once per spec: the same kernel_fn, so its jitted tiles are reused."""
    return spec.stax()


def mlp_plan(
    spec, which: str, x1: Any, n2: int | None, trainable: Any, backend: str, dtype: Any
) -> KernelPlan:
    """The infinite-width ``which`` of the ReLU MLP ``spec`` (the NTK restricted to the
    ``trainable`` layers) on inputs shaped like ``x1`` (n2 None: K(x1, x1))."""
    check_choice(which, "which", WHICH)
    if which == "nngp" and trainable is not None:
        raise ValueError("trainable= applies to the NTK; the NNGP has no layer subsets")
    layers = normalize_layers(trainable, spec.n_layers)
    subset = layers != tuple(range(spec.n_layers))
    n1 = x1.shape[0]
    if resolve_backend(backend, subset) == "neural_tangents":
        _nt.import_nt(f"backend='neural_tangents' ({which})")
        return stax_plan(_stax_of(spec)[2], which, x1, n2, implementation="neural_tangents")
    dtype = x1.dtype if dtype is None else dtype
    source = closed_form_source(spec, layers, which, dtype)
    block = closed_form_block(max(n1, n1 if n2 is None else n2))
    per_pair = 2 * spec.in_dim + CLOSED_FORM_PAIR_OPS * spec.n_layers
    flops = _pairs(n1, n2) * per_pair + (n1 + (n2 or 0)) * 2 * spec.in_dim
    return KernelPlan(source, block, TEMPORARIES, flops, "closed_form", 1)


@functools.partial(jax.jit, static_argnames=("kernel_fn", "which", "diag"))
def _kernel_tile(kernel_fn, which, diag, x1b, x2b):
    return kernel_fn(x1b, None if diag else x2b, which)


def stax_block(x1: Any, n: int) -> int:
    """Rows per tile of a stax ``kernel_fn``: 512 for flat inputs, 64 for images, halved
    while n < 2 block (at least 8)."""
    block = 512 if len(x1.shape) == 2 else 64
    while block > 8 and block >= 2 * n:
        block //= 2
    return block


def stax_plan(
    kernel_fn, which: str, x1: Any, n2: int | None, implementation: str = "stax_kernel_fn"
) -> KernelPlan:
    """``kernel_fn(x1, x2, which)`` of a stax model, jitted and tile by tile: traced over
    the outputs as neural-tangents' kernels are. Its operations are not counted
    (``flops`` None)."""
    check_choice(which, "which", WHICH)
    _nt.import_nt(f"the {which} kernel of a stax model")
    row_bytes = int(np.prod(x1.shape[1:])) * np.dtype(x1.dtype).itemsize
    source = TileSource(
        operands=(),
        features=lambda ops, xb: xb,
        tile=lambda f1, f2, diag: mirrored(_kernel_tile(kernel_fn, which, diag, f1, f2), diag),
        feature_bytes=lambda n: n * row_bytes,
        trace=True,
    )
    n = max(x1.shape[0], 0 if n2 is None else n2)
    return KernelPlan(source, stax_block(x1, n), STAX_TEMPORARIES, None, implementation, 1)
