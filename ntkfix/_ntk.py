"""Exact empirical (finite-width) NTK of ReLU and FAP MLPs without Jacobians.

For dense layer l with input h_{l-1}(x), forward multipliers a_l (weights) and
beta_l (bias), and backward vectors b_l(x) = df/dz_l (shape (width_l, k), gates
applied), the gradient of output c with respect to W_l is the outer product
a_l * h_{l-1}(x) b_l^c(x)^T, so

    Theta_cc'(x, x') = sum_{l in trainable} (a_l^2 <h_{l-1}(x), h_{l-1}(x')> + beta_l^2)
                                           * <b_l^c(x), b_l^c'(x')>,

and the traced kernel (neural-tangents' ``trace_axes=(-1,)``) is the mean over
c = c'. The readout's backward vector is the identity, so its term is
``(a^2 <h, h'> + beta^2) * delta_cc'``. Cost O(n1 n2 m L k + (n1 + n2) m^2 L k),
memory O(block m L k + n1 n2). This specialises the "structured derivatives" of
Novak et al. 2022 (arXiv:2206.08720) to MLPs.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from ntkfix._nets import Model, Params, check_model, forward_with_gates
from ntkfix._validate import check_inputs, normalize_layers

# Features of a block of inputs: per trainable layer, (h_{l-1}, b_l) with b_l None for
# the readout (its backward vector is the identity).
Features = tuple[tuple[jax.Array, jax.Array | None], ...]

DEFAULT_BLOCK = 1024
# Column features are computed once and kept when they fit this budget; otherwise
# they are recomputed for every row block (memory then stays O(block * width * depth)).
DEFAULT_FEATURE_BUDGET_BYTES = 2 * 2**30


def ntk_features(model: Model, params: Params, x: jax.Array, layers: tuple[int, ...]) -> Features:
    """Per-layer forward inputs and backward vectors of ``model`` at ``params``.

    Args:
      model: ``MLP`` or ``FixedPattern``.
      params: stax.serial params.
      x: (n, in_dim) inputs (not validated: internal, jit-friendly).
      layers: sorted dense-layer indices whose parameters count.
    Returns:
      for each l in ``layers``: ``(h, b)`` with ``h`` (n, fan_in_l) already multiplied
      by a_l, and ``b`` (n, width, k) or None for the readout.
    """
    spec = model.spec
    _, hs, gates = forward_with_gates(model, params, x)
    lowest = layers[0]
    backward: dict[int, jax.Array] = {}
    d = None
    for l in range(spec.depth - 1, lowest - 1, -1):
        W = params[2 * (l + 1)][0] * spec.weight_scale(l + 1)
        if d is None:  # readout: b_depth is the identity
            d = gates[l][:, :, None] * W[None, :, :]
        else:
            d = gates[l][:, :, None] * jnp.einsum("ij,njk->nik", W, d)
        backward[l] = d
    return tuple((spec.weight_scale(l) * hs[l], backward.get(l)) for l in layers)


def ntk_from_features(
    spec, layers: tuple[int, ...], f1: Features, f2: Features, trace: bool = True
) -> jax.Array:
    """Kernel block from two feature sets: (n1, n2) traced, else (n1, n2, k, k)."""
    k = spec.out_dim
    beta2 = spec.bias_scale() ** 2
    out = 0.0
    for (h1, d1), (h2, d2), l in zip(f1, f2, layers, strict=True):
        H = h1 @ h2.T
        if beta2:
            H = H + beta2
        if d1 is None:  # readout
            term = H if trace else H[:, :, None, None] * jnp.eye(k, dtype=H.dtype)[None, None]
        elif trace:
            n1, n2 = d1.shape[0], d2.shape[0]
            D = d1.reshape(n1, -1) @ d2.reshape(n2, -1).T
            term = H * (D / k) if k > 1 else H * D
        else:
            term = H[:, :, None, None] * jnp.einsum("imc,jmd->ijcd", d1, d2)
        out = out + term
    return out


@functools.partial(jax.jit, static_argnames=("layers",))
def _features_jit(model, params, gate_params, x, layers):
    del gate_params  # carried inside model (FixedPattern is a pytree)
    return ntk_features(model, params, x, layers)


@functools.partial(jax.jit, static_argnames=("spec", "layers", "trace"))
def _contract_jit(spec, layers, trace, f1, f2):
    return ntk_from_features(spec, layers, f1, f2, trace)


def _feature_bytes(spec, n: int, layers: tuple[int, ...], itemsize: int) -> int:
    per_row = sum(spec.fan_in(l) + (spec.width * spec.out_dim if l < spec.depth else 0) for l in layers)
    return n * per_row * itemsize


def _blocks(n: int, block: int) -> list[tuple[int, int]]:
    return [(s, min(s + block, n)) for s in range(0, n, block)]


def empirical_ntk(
    model: Model,
    params: Params,
    x1: Any,
    x2: Any = None,
    *,
    trace: bool = True,
    trainable: Any = None,
    block_size: int | None = None,
) -> jax.Array:
    """Exact empirical NTK of a ReLU (``MLP``) or FAP (``FixedPattern``) network.

    Theta(x, x') = sum_l J_l(x) J_l(x')^T over the parameters of the ``trainable``
    layers, computed with the per-layer structured formula (module docstring),
    never materializing a Jacobian, in blocks of ``block_size`` rows. For x2=None the
    symmetry K(x, x) = K(x, x)^T is used (only upper blocks are computed).

    Args:
      model: ``ntkfix.MLP`` or ``ntkfix.FixedPattern``.
      params: parameters in the stax.serial layout of ``model.spec``.
      x1: (n1, in_dim) inputs.
      x2: (n2, in_dim) inputs, or None for x1.
      trace: True -> (n1, n2), the mean over the k outputs of Theta_cc (as
        neural-tangents' ``trace_axes=(-1,)``); False -> (n1, n2, k, k).
      trainable: which dense layers' parameters count: None (all), a layer index,
        a sequence of indices (negative from the readout, -1 = readout), or
        "hidden" / "readout".
      block_size: rows per block (default 1024).
    Returns:
      the kernel, float dtype of the inputs/params.

    Example:
      >>> import jax, ntkfix
      >>> spec = ntkfix.MLP(3, 32, 2)
      >>> p = spec.init(jax.random.PRNGKey(0))
      >>> x = jax.random.normal(jax.random.PRNGKey(1), (5, 3))
      >>> ntkfix.empirical_ntk(spec, p, x).shape
      (5, 5)
    """
    model = check_model(model)
    spec = model.spec
    params = spec.check_params(params)
    x1 = check_inputs(x1, "x1", spec.in_dim)
    symmetric = x2 is None
    x2 = x1 if symmetric else check_inputs(x2, "x2", spec.in_dim)
    layers = normalize_layers(trainable, spec.n_layers)
    block = DEFAULT_BLOCK if block_size is None else int(block_size)
    if block < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    gp = model.gate_params(params)
    feats = lambda xb: _features_jit(model, params, gp, xb, layers)
    contract = lambda fa, fb: _contract_jit(spec, layers, bool(trace), fa, fb)

    rows, cols = _blocks(x1.shape[0], block), _blocks(x2.shape[0], block)
    if len(rows) == 1 and len(cols) == 1:
        f1 = feats(x1)
        return contract(f1, f1 if symmetric else feats(x2))

    itemsize = jnp.dtype(x1.dtype).itemsize
    cache_cols = _feature_bytes(spec, x2.shape[0], layers, itemsize) <= DEFAULT_FEATURE_BUDGET_BYTES
    col_feats = [feats(x2[a:b]) for a, b in cols] if cache_cols else None
    get_col = (lambda j: col_feats[j]) if cache_cols else (lambda j: feats(x2[cols[j][0] : cols[j][1]]))

    out_rows = []
    done: dict[tuple[int, int], jax.Array] = {}
    for i, (a, b) in enumerate(rows):
        fi = col_feats[i] if (symmetric and cache_cols) else feats(x1[a:b])
        row = []
        for j in range(len(cols)):
            if symmetric and j < i:
                blk = done.pop((j, i))
                row.append(jnp.swapaxes(blk, 0, 1) if trace else jnp.transpose(blk, (1, 0, 3, 2)))
                continue
            blk = contract(fi, fi if (symmetric and j == i) else get_col(j))
            if symmetric and j > i:
                done[(i, j)] = blk
            row.append(blk)
        out_rows.append(jnp.concatenate(row, axis=1))
    return jnp.concatenate(out_rows, axis=0)


def empirical_ntk_autodiff(
    model: Model,
    params: Params,
    x1: Any,
    x2: Any = None,
    *,
    trace: bool = True,
    trainable: Any = None,
) -> jax.Array:
    """Reference empirical NTK by Jacobian contraction (``jax.jacrev``): J(x1) J(x2)^T.

    Materializes the full Jacobian (memory O(n k P)): for tests and teaching only.
    Same arguments and output as ``empirical_ntk``.
    """
    model = check_model(model)
    spec = model.spec
    params = spec.check_params(params)
    x1 = check_inputs(x1, "x1", spec.in_dim)
    x2 = x1 if x2 is None else check_inputs(x2, "x2", spec.in_dim)
    layers = normalize_layers(trainable, spec.n_layers)
    dense = spec.dense(params)

    def f(sub, x):
        full = list(params)
        for l, wb in zip(layers, sub, strict=True):
            full[2 * l] = wb
        return model.apply(full, x)

    sub = [dense[l] for l in layers]
    j1 = jax.jacrev(f)(sub, x1)
    j2 = jax.jacrev(f)(sub, x2)
    leaves1 = [a.reshape(a.shape[0], a.shape[1], -1) for a in jax.tree_util.tree_leaves(j1)]
    leaves2 = [a.reshape(a.shape[0], a.shape[1], -1) for a in jax.tree_util.tree_leaves(j2)]
    K = sum(jnp.einsum("icp,jdp->ijcd", a, b) for a, b in zip(leaves1, leaves2, strict=True))
    if trace:
        return jnp.trace(K, axis1=2, axis2=3) / spec.out_dim
    return K
