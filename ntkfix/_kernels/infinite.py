"""Infinite-width NTK and NNGP of ReLU MLPs: neural-tangents, or a closed form.

Closed form (the arc-cosine recursion: Cho & Saul 2009; Jacot et al. 2018,
arXiv:1806.07572; Arora et al. 2019, arXiv:1904.11955). With K_0(x, x') = <x, x'>/d,
for dense layer l = 0..L (L = depth, l = L the readout):

    S_l     = w_l^2 K_{l-1} + b_std^2                          (pre-activation covariance)
    K_l     = E[relu(u) relu(v)] = sqrt(S_l(x,x) S_l(x',x')) (sin t + (pi - t) cos t) / (2 pi)
    Sdot_l  = E[relu'(u) relu'(v)] = (pi - t) / (2 pi),
              cos t = S_l(x,x') / sqrt(S_l(x,x) S_l(x',x'))
    Theta  <- [l trainable] * C_l + w_l^2 * Theta    (after dense layer l)
    Theta  <- Sdot_l * Theta                          (after each ReLU)

with the layer's own contribution C_l = S_l in the ntk parameterization and
C_l = fan_in_l K_{l-1} + 1[bias] in the standard one (neural-tangents' convention for
``parameterization='standard'``, arXiv:2001.07301). The NNGP is S_L; both are per
output (the output covariance is the identity), matching ``kernel_fn(x1, x2)`` with
the readout's ``out_W_std``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntkfix._core import nt as _nt
from ntkfix._core.validate import check_choice, check_inputs, check_positive_int, normalize_layers
from ntkfix._kernels.layout import mirror_block
from ntkfix._kernels.tiling import TileRunner, TileSource, tiled_kernel
from ntkfix._models.base import check_model
from ntkfix._models.function import check_batch
from ntkfix._models.mlp import MLP

BACKENDS = ("auto", "neural_tangents", "closed_form")


def snap_tolerance(d: int, dtype) -> float:
    """Cosines within this distance of +-1 are taken as +-1 (see ``_arccos_relu``).

    arccos has infinite slope at +-1: a rounding error e in a cosine becomes an angle
    error sqrt(2 e) (~1e-8 in float64, ~5e-4 in float32), so duplicate points would look
    distinct. 4 sqrt(d) eps bounds the rounding of a d-term inner product.
    """
    return 4.0 * math.sqrt(max(d, 1)) * float(jnp.finfo(dtype).eps)


def _arccos_relu(s11, s22, s12, tol: float = 0.0):
    """(E[relu relu], E[relu' relu']) for covariances s11 (n1,), s22 (n2,), s12 (n1, n2).

    Cosines within ``tol`` of +-1 are snapped to +-1 (``snap_tolerance``).
    """
    norms = jnp.sqrt(s11[:, None] * s22[None, :])
    safe = jnp.where(norms > 0, norms, 1.0)
    cos = jnp.clip(jnp.where(norms > 0, s12 / safe, 0.0), -1.0, 1.0)
    if tol:
        cos = jnp.where(cos >= 1.0 - tol, 1.0, jnp.where(cos <= -1.0 + tol, -1.0, cos))
    t = jnp.arccos(cos)
    k = norms * (jnp.sin(t) + (math.pi - t) * cos) / (2 * math.pi)
    kdot = (math.pi - t) / (2 * math.pi)
    return k, kdot


def closed_form_kernels(
    spec: MLP, x1: jax.Array, x2: jax.Array | None, layers: tuple[int, ...]
) -> tuple[jax.Array, jax.Array]:
    """(NTK restricted to ``layers``, NNGP) of ``spec`` at infinite width, both (n1, n2).

    ``x2=None`` means x1, and then the variances are read off the diagonal of the
    cross covariance at every layer, so cos t == 1 exactly there (arccos is not
    Lipschitz at 1: a one-ulp mismatch would cost ~1e-8 relative accuracy).
    """
    symmetric = x2 is None or x2 is x1
    x2 = x1 if symmetric else x2
    tol = snap_tolerance(spec.in_dim, x1.dtype)
    b2 = spec.b_std**2 if spec.has_bias else 0.0
    d = spec.in_dim
    k12 = x1 @ x2.T / d
    if symmetric:
        k11 = k22 = jnp.diagonal(k12)
    else:
        k11 = jnp.sum(x1 * x1, axis=1) / d
        k22 = jnp.sum(x2 * x2, axis=1) / d
    theta = jnp.zeros_like(k12)
    for l in range(spec.n_layers):
        w2 = spec.w_std(l) ** 2
        s12, s11, s22 = w2 * k12 + b2, w2 * k11 + b2, w2 * k22 + b2
        if spec.parameterization == "ntk":
            own = s12
        else:
            own = spec.fan_in(l) * k12 + (1.0 if spec.has_bias else 0.0)
        theta = w2 * theta + (own if l in layers else 0.0)
        if l == spec.depth:
            return theta, s12
        k12, kdot = _arccos_relu(s11, s22, s12, tol)
        if symmetric:
            k11 = k22 = jnp.diagonal(k12)
        else:
            k11, k22 = s11 / 2, s22 / 2
        theta = kdot * theta
    raise AssertionError("unreachable")


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
    if backend == "auto":
        return "neural_tangents" if (_nt.available() and not subset) else "closed_form"
    return backend


def infinite_ntk(
    spec: Any, x1: Any, x2: Any = None, *, backend: str = "auto", trainable: Any = None
) -> jax.Array:
    """Infinite-width NTK of the ReLU MLP ``spec``, shape (n1, n2), per output.

    ``spec`` may also be a neural-tangents stax triple ``(init_fn, apply_fn, kernel_fn)``
    (or its ``FixedPattern``, whose infinite-width kernel is the ReLU net's): its
    ``kernel_fn`` is then evaluated jitted, tile by tile (``stax_kernel``).

    Args:
      spec: the architecture (width is ignored except for the standard
        parameterization, whose NTK scales with the layer widths), or a stax triple.
      x1, x2: (n, in_dim) inputs ((n, ...) for a stax triple); x2=None means x1.
      backend: "neural_tangents" (``spec.stax()`` kernel_fn), "closed_form" (the
        recursion in this module's docstring) or "auto" (neural-tangents when it
        imports and no layer subset is asked for, else the closed form).
      trainable: dense layers whose parameters count, as in ``empirical_ntk``
        (closed form only; neural-tangents has no layer subsets).

    Returns:
      Theta_inf(x1, x2), (n1, n2).

    Examples:
      >>> import jax.numpy as jnp, ntkfix
      >>> spec = ntkfix.MLP(2, 1, 1)
      >>> x = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> ntkfix.infinite_ntk(spec, x, backend="closed_form").shape
      (2, 2)
    """
    if not isinstance(spec, MLP):
        return stax_kernel(spec, x1, x2, "ntk", trainable=trainable)
    x1, x2 = _prepare(spec, x1, x2)
    layers = normalize_layers(trainable, spec.n_layers)
    subset = layers != tuple(range(spec.n_layers))
    if _resolve_backend(backend, subset) == "neural_tangents":
        return _nt_call(spec, x1, x2, "ntk")
    return closed_form_kernels(spec, x1, x2, layers)[0]


def infinite_nngp(spec: Any, x1: Any, x2: Any = None, *, backend: str = "auto") -> jax.Array:
    """Infinite-width NNGP kernel (output covariance) of ``spec``, (n1, n2), per output.

    Same backends and models as ``infinite_ntk``; the closed form is S_L in the module
    docstring.
    """
    if not isinstance(spec, MLP):
        return stax_kernel(spec, x1, x2, "nngp")
    x1, x2 = _prepare(spec, x1, x2)
    if _resolve_backend(backend, False) == "neural_tangents":
        return _nt_call(spec, x1, x2, "nngp")
    return closed_form_kernels(spec, x1, x2, tuple(range(spec.n_layers)))[1]


def _nt_call(spec, x1, x2, which):
    _nt.import_nt(f"backend='neural_tangents' ({which})")
    kernel_fn = spec.stax()[2]
    return jnp.asarray(kernel_fn(x1, x2, which))


@functools.partial(jax.jit, static_argnames=("kernel_fn", "which", "diag"))
def _kernel_tile(kernel_fn, which, diag, x1b, x2b):
    blk = kernel_fn(x1b, None if diag else x2b, which)
    return mirror_block(blk, True) if diag else blk


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
        tile=lambda f1, f2, diag: _kernel_tile(kernel_fn, which, diag, f1, f2),
        feature_bytes=lambda n: n * int(np.prod(x1.shape[1:])) * x1.dtype.itemsize,
        trace=True,
    )
    return tiled_kernel(
        TileRunner(source, x1, x2), x1.shape[0], n if x2 is None else x2.shape[0], block
    )
