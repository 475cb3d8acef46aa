"""The infinite-width ReLU MLP kernels in closed form, tile by tile: a ``TileSource``.

The arc-cosine recursion (Cho & Saul 2009; Jacot et al. 2018, arXiv:1806.07572; Arora
et al. 2019, arXiv:1904.11955). With K_0(x, x') = <x, x'>/d, for dense layer l = 0..L
(L = depth, l = L the readout):

    S_l     = w_l^2 K_{l-1} + b_std^2                          (pre-activation covariance)
    K_l     = E[relu(u) relu(v)]   = sqrt(S_l(x,x) S_l(x',x')) k1(c) / 2
    Sdot_l  = E[relu'(u) relu'(v)] = k0(c) / 2,    c = S_l(x,x') / sqrt(S_l(x,x) S_l(x',x'))
    Theta  <- [l trainable] * C_l + w_l^2 * Theta    (after dense layer l)
    Theta  <- Sdot_l * Theta                          (after each ReLU)

with k0, k1 the arc-cosine functions of ``ntkfix._kernels.arccos`` and the layer's own
contribution C_l = S_l in the ntk parameterization, C_l = fan_in_l K_{l-1} + 1[bias] in
the standard one (neural-tangents' convention, arXiv:2001.07301). The NNGP is S_L.

The variances on the diagonal follow from the inputs alone (K_l(x, x) = S_l(x, x) / 2),
so the features of a block of inputs are the inputs and sqrt(S_l(x, x)) for each layer:
a tile needs one (b1, d) x (d, b2) matmul and one fused elementwise pass per layer, and
memory is O(output + tile). On a diagonal tile of K(x, x) the cosine of a point with
itself is exactly 1; elsewhere cosines within ``snap_tolerance`` of +-1 are taken as
+-1 (duplicate points).
"""

from __future__ import annotations

# ``spec`` below is an ``ntkfix.MLP`` (read by its geometry methods; not imported:
# the models depend on the kernels, not the other way).
import functools
import math

import jax
import jax.numpy as jnp

from ntkfix._kernels.arccos import arccos_kernels
from ntkfix._kernels.layout import mirrored
from ntkfix._kernels.tiling import TileSource

INFINITE_BLOCK = 256  # rows per tile (CPU; 4x on accelerators): n = 8000 as fast as 512,
# and the tiles in flight (3 x 4 tile-sized arrays) add < 1% to the output's memory


def closed_form_block(n: int) -> int:
    """Rows per tile of the closed form: ``INFINITE_BLOCK`` (x4 on accelerators), halved
    while n < 2 block (so that K(x, x) still has off-diagonal tiles), at least 128."""
    block = INFINITE_BLOCK * (1 if jax.default_backend() == "cpu" else 4)
    while block > 128 and n < 2 * block:
        block //= 2
    return block


def snap_tolerance(d: int, dtype) -> float:
    """Cosines within this distance of +-1 are taken as +-1.

    arccos has infinite slope at +-1: a rounding error e in a cosine becomes an angle
    error sqrt(2 e) (~1e-8 in float64, ~5e-4 in float32), so duplicate points would look
    distinct. 4 sqrt(d) eps bounds the rounding of a d-term inner product.
    """
    return 4.0 * math.sqrt(max(d, 1)) * float(jnp.finfo(dtype).eps)


def _snap(cos, tol: float):
    cos = jnp.clip(cos, -1.0, 1.0)
    if tol:
        cos = jnp.where(cos >= 1.0 - tol, 1.0, jnp.where(cos <= -1.0 + tol, -1.0, cos))
    return cos


def arccos_relu(s11, s22, s12, tol: float = 0.0):
    """(E[relu relu], E[relu' relu']) for covariances s11 (n1,), s22 (n2,), s12 (n1, n2):
    (norms k1(c) / 2, k0(c) / 2) with norms = sqrt(s11 s22), c = s12 / norms (0 where a
    norm is 0), cosines within ``tol`` of +-1 snapped to +-1."""
    norms = jnp.sqrt(s11[:, None] * s22[None, :])
    safe = jnp.where(norms > 0, norms, 1.0)
    cos = _snap(jnp.where(norms > 0, s12 / safe, 0.0), tol)
    k0, k1 = arccos_kernels(cos)
    return norms * k1 / 2, k0 / 2


def diagonal_scales(spec, x: jax.Array) -> jax.Array:
    """sqrt(S_l(x, x)) for the ReLU layers l = 0..L-1, shape (n, L): the features of a block.

    K_0(x, x) = |x|^2 / d, S_l = w_l^2 K_{l-1} + b^2 and K_l(x, x) = S_l(x, x) / 2."""
    b2 = spec.b_std**2 if spec.has_bias else 0.0
    k = jnp.sum(x * x, axis=1) / spec.in_dim
    out = []
    for l in range(spec.depth):
        s = spec.w_std(l) ** 2 * k + b2
        out.append(jnp.sqrt(s))
        k = s / 2
    return jnp.stack(out, axis=1) if out else jnp.zeros((x.shape[0], 0), x.dtype)


def recursion(spec, layers: tuple[int, ...], which: str, f1, f2, diag: bool):
    """Tile of the NTK (restricted to ``layers``) or the NNGP, (b1, b2), from the
    features ``(x_block, diagonal_scales)`` of its rows and columns (module docstring)."""
    (x1, q1), (x2, q2) = f1, f2
    tol = snap_tolerance(spec.in_dim, x1.dtype)
    b2 = spec.b_std**2 if spec.has_bias else 0.0
    k12 = x1 @ x2.T / spec.in_dim
    theta = jnp.zeros_like(k12)
    eye = jnp.eye(x1.shape[0], dtype=bool) if diag else None
    for l in range(spec.n_layers):
        w2 = spec.w_std(l) ** 2
        s12 = w2 * k12 + b2
        if spec.parameterization == "ntk":
            own = s12
        else:
            own = spec.fan_in(l) * k12 + (1.0 if spec.has_bias else 0.0)
        theta = w2 * theta + (own if l in layers else 0.0)
        if l == spec.depth:
            return theta if which == "ntk" else s12
        norms = q1[:, l, None] * q2[None, :, l]
        inv = jnp.where(norms > 0, 1.0 / jnp.where(norms > 0, norms, 1.0), 0.0)
        cos = _snap(s12 * inv, tol)
        if diag:
            cos = jnp.where(eye, 1.0, cos)
        k0, k1 = arccos_kernels(cos)
        k12 = norms * k1 * 0.5
        theta = theta * k0 * 0.5
    raise AssertionError("unreachable")


@functools.partial(jax.jit, static_argnames=("spec",))
def _features(spec, ops, xb):
    return xb, diagonal_scales(spec, xb)


@functools.partial(jax.jit, static_argnames=("spec", "layers", "which", "diag"))
def _tile(spec, layers, which, diag, f1, f2):
    return recursion(spec, layers, which, f1, f2, diag)


def closed_form_source(spec, layers: tuple[int, ...], which: str, dtype) -> TileSource:
    """The closed-form kernel ``which`` ("ntk" restricted to ``layers``, or "nngp") of
    ``spec`` as a ``TileSource``: features (x_block, ``diagonal_scales``), jitted tiles."""
    itemsize = jnp.dtype(dtype).itemsize
    return TileSource(
        operands=(),
        features=functools.partial(_features, spec),
        tile=lambda f1, f2, diag: mirrored(_tile(spec, layers, which, diag, f1, f2), diag),
        feature_bytes=lambda n: n * (spec.in_dim + spec.depth) * itemsize,
        trace=True,
    )


# tile-sized arrays a tile holds at once: XLA fuses each layer's elementwise pass, so
# k12, theta and the output (measured peak at n = 8000: output + ~3 tiles in flight)
TEMPORARIES = 4
