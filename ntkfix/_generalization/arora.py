"""The kernel H^infty of Arora et al. (2019) and the ntkfix settings that reproduce it.

Arora, Du, Hu, Li, Wang (2019), "Fine-grained analysis of optimization and
generalization for overparameterized two-layer neural networks" (arXiv:1901.08584),
study

    f(x) = (1 / sqrt(m)) sum_r a_r relu(w_r . x),   w_r ~ N(0, kappa^2 I), a_r ~ unif{-1, +1},

with the readout a frozen and only W trained, for unit-norm inputs. The NTK of the
hidden weights, H_ij = <df(x_i)/dW, df(x_j)/dW>, is at initialization
H(0)_ij = (x_i . x_j / m) sum_r 1[w_r . x_i > 0] 1[w_r . x_j > 0] (independent of kappa)
and converges as m -> infinity to

    H^infty_ij = E_{w ~ N(0, I)}[x_i . x_j 1[w . x_i > 0, w . x_j > 0]]
               = x_i . x_j (pi - arccos(x_i . x_j)) / (2 pi),          diagonal 1/2.

The same matrix from ntkfix. An ``MLP`` of depth 1 in the ntk parameterization computes
f(x) = (out_W_std / sqrt(m)) relu((W_std / sqrt(d)) x @ W_0) @ W_1, W ~ N(0, 1), so
with W_std = sqrt(d), out_W_std = 1 and no bias (``arora_spec``) the hidden layer is
w_r . x with w_r ~ N(0, I) (pre-activation variance 1 for unit-norm x), and
``infinite_ntk(arora_spec(d), x, trainable=0)`` equals ``arora_kernel(x)``. At finite
width the readout of ``spec.init`` is Gaussian, not +-1 signs; ``arora_init`` draws the
readout as signs, which makes ``empirical_ntk(spec, params, x, trainable=0)`` exactly
Arora et al.'s H(0).

Other settings rescale the kernel. For depth 1, no bias, trainable = hidden layer:

    Theta = (out_W_std^2 * W_std^2 / d) * |x| |x'| cos(t) (pi - t) / (2 pi)

so on unit-norm inputs Theta = c H^infty with c = out_W_std^2 W_std^2 / d (c = 2/d for
the ``MLP`` defaults W_std = sqrt(2), out_W_std = 1), and the complexity
sqrt(2 y^T Theta^-1 y / n) equals the Arora complexity divided by sqrt(c). Inputs of
norm r scale Theta by r^2 (complexity by 1/r). Training the readout too adds the
positive semi-definite NNGP term out_W_std^2 * K_relu, which lowers y^T Theta^-1 y;
biases add b_std^2 terms: neither is H^infty any more.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp

from ntkfix._core.validate import check_inputs, check_key, check_positive_int
from ntkfix._kernels.budget import check_memory_kernel
from ntkfix._kernels.closed_form import arccos_relu, closed_form_block, snap_tolerance
from ntkfix._kernels.layout import mirrored
from ntkfix._kernels.tiling import TileRunner, TileSource, tiled_kernel
from ntkfix._models.mlp import MLP, Params, check_mlp


def arora_kernel(x1: Any, x2: Any = None) -> jax.Array:
    """H^infty of Arora et al. (2019, arXiv:1901.08584, eq. (3)): (n1, n2).

    H_ij = x_i . x_j (pi - t_ij) / (2 pi), with t_ij the angle between x_i and x_j
    (t = arccos(x_i . x_j) for unit-norm inputs, the paper's setting; for other norms
    this is still E_w[x_i . x_j 1[w . x_i > 0, w . x_j > 0]], w ~ N(0, I)). Cosines
    within 4 sqrt(d) eps of +-1 count as +-1 (angles below ~sqrt(8 sqrt(d) eps) are not
    resolvable from rounded inner products): the diagonal is exactly |x_i|^2 / 2 and
    duplicate inputs give identical rows (a singular kernel, which the solvers refuse).

    Computed jitted, tile by tile (``ntkfix._kernels.tiling``; symmetric tiles for
    K(x, x)), memory O(output + tile); refused before allocation when it does not fit
    (``KernelTooLarge``).

    Args:
      x1: (n1, d) inputs (unit norm in the paper's setting).
      x2: (n2, d) inputs, or None for x1.

    Returns:
      (n1, n2) kernel; its diagonal is |x_i|^2 / 2.

    Examples:
      >>> import jax.numpy as jnp, ntkfix
      >>> x = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> ntkfix.arora_kernel(x).tolist()
      [[0.5, 0.0], [0.0, 0.5]]
    """
    x1 = check_inputs(x1, "x1" if x2 is not None else "x")
    x2 = None if x2 is None else check_inputs(x2, "x2", x1.shape[1])
    n1 = x1.shape[0]
    n2 = n1 if x2 is None else x2.shape[0]
    block = closed_form_block(max(n1, n2))
    source = TileSource(
        operands=(),
        features=_arora_features,
        tile=lambda f1, f2, diag: mirrored(_arora_tile(f1, f2, diag), diag),
        feature_bytes=lambda n: n * (x1.shape[1] + 1) * x1.dtype.itemsize,
        trace=True,
    )
    runner = TileRunner(source, x1, x2)
    if not runner.tracing:
        per_row = source.feature_bytes(1)
        check_memory_kernel(n1, n2, x1.dtype.itemsize, per_row, 4, block, "arora_kernel")
    return tiled_kernel(runner, n1, n2, block)


@jax.jit
def _arora_features(ops, xb):
    return xb, jnp.sum(xb * xb, axis=1)


@functools.partial(jax.jit, static_argnames="diag")
def _arora_tile(f1, f2, diag):
    """A tile of H^infty: gram * k0(cos) / 2 (on a diagonal tile cos_ii = 1 exactly)."""
    (x1, s11), (x2, s22) = f1, f2
    gram = x1 @ x2.T
    if diag:  # the diagonal's own squared norms: cos_ii is 1 exactly
        s11 = s22 = jnp.diagonal(gram)
    _, kdot = arccos_relu(s11, s22, gram, snap_tolerance(x1.shape[1], gram.dtype))
    return gram * kdot


def arora_spec(in_dim: int, width: int = 1) -> MLP:
    """The ``MLP`` whose hidden-layer NTK is Arora et al.'s H^infty.

    Depth 1, ntk parameterization, ``W_std = sqrt(in_dim)`` (so w_r ~ N(0, I):
    pre-activation variance 1 on unit-norm inputs), ``out_W_std = 1`` (readout scale
    1/sqrt(m)), no bias, one output. ``infinite_ntk(arora_spec(d), x, trainable=0)``
    equals ``arora_kernel(x)`` (see the module docstring for other settings).

    Args:
      in_dim: input dimension d.
      width: hidden width m (only used at finite width; the infinite kernel ignores it).

    Examples:
      >>> import jax.numpy as jnp, ntkfix
      >>> x = jnp.array([[0.6, 0.8], [1.0, 0.0]])
      >>> K = ntkfix.infinite_ntk(ntkfix.arora_spec(2), x, trainable=0)
      >>> bool(jnp.allclose(K, ntkfix.arora_kernel(x)))
      True
    """
    d = check_positive_int(in_dim, "in_dim")
    return MLP(
        in_dim=d, width=width, depth=1, out_dim=1, W_std=math.sqrt(d), b_std=None, out_W_std=1.0
    )


def arora_init(spec: MLP, key: jax.Array, dtype: Any = None) -> Params:
    """``spec.init(key)`` with the readout weights replaced by their signs (a_r in {-1, +1}).

    The hidden weights are those of ``spec.init(key)``; the readout a_r = sign(W_r) is
    uniform on {-1, +1} and independent of them, as in Arora et al. (2019). With
    ``arora_spec``, ``empirical_ntk(spec, params, x, trainable=0)`` is then exactly
    H(0) = (x . x' / m) sum_r 1[w_r . x > 0] 1[w_r . x' > 0].

    Args:
      spec: an ``MLP`` (any depth; the name refers to the two-layer setting).
      key: a ``jax.random`` key.
      dtype: floating dtype, as in ``MLP.init``.
    """
    params = check_mlp(spec).init(check_key(key), dtype)
    W, b = params[-1]
    signs = jnp.where(W >= 0, 1.0, -1.0).astype(W.dtype)
    if spec.parameterization == "standard":  # the readout scale lives in the weights
        signs = signs * (spec.out_W_std / math.sqrt(spec.fan_in(spec.depth)))
    params[-1] = (signs, b)
    return params
