"""The exact empirical (finite-width) NTK: ``empirical_ntk`` (structured, tiled) and
``empirical_ntk_autodiff`` (Jacobian contraction, the reference).

The structured formula is in ``ntkfix._kernels.structured``; tiles, symmetry and devices
are ``ntkfix._kernels.tiling``'s. References: Jacot et al. 2018 (arXiv:1806.07572);
Novak et al. 2022, "Fast finite width neural tangent kernel" (arXiv:2206.08720).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ntkfix._core.validate import check_bool, check_positive_int, normalize_layers
from ntkfix._kernels.budget import check_memory_kernel
from ntkfix._kernels.cost import check_implementation, network_source
from ntkfix._kernels.structured import structured_source
from ntkfix._kernels.tiling import TileRunner, default_block, sharded_kernel, tiled_kernel
from ntkfix._models.base import Model, check_model, is_structured
from ntkfix._models.mlp import Params


def check_kernel_args(model: Any, params: Any, x1: Any, x2: Any, trainable: Any):
    """The arguments every empirical kernel takes, validated at the boundary:
    ``(model, params, x1, x2 or None, layers)``; ``layers`` are sorted dense-layer
    indices for an ``MLP``-based model, None (all parameters) for any other network."""
    model = check_model(model)
    params = model.check_params(params)
    x1 = model.check_inputs(x1, "x1")
    x2 = None if x2 is None else model.check_inputs(x2, "x2")
    if is_structured(model):
        return model, params, x1, x2, normalize_layers(trainable, model.spec.n_layers)
    if trainable is not None:
        raise ValueError(
            f"trainable={trainable!r} selects dense layers of an ntkfix.MLP; for other "
            "networks every parameter counts: pass trainable=None"
        )
    k = model.output_shape(params, x1)[1]
    if x2 is not None:
        if x2.shape[1:] != x1.shape[1:]:
            raise ValueError(
                f"x1 and x2 must have the same shape per example, got {tuple(x1.shape)} "
                f"and {tuple(x2.shape)}"
            )
    return model, params, x1, x2, k


def empirical_ntk(
    model: Model,
    params: Params,
    x1: Any,
    x2: Any = None,
    *,
    trace: bool = True,
    trainable: Any = None,
    block_size: int | None = None,
    devices: Any = None,
    sharded: bool = False,
    implementation: str = "auto",
) -> jax.Array:
    """Exact empirical NTK of a network: Theta(x, x') = J(x) J(x')^T.

    For an ``MLP`` or ``FixedPattern`` of one the sum runs over the parameters of the
    ``trainable`` layers and uses the per-layer structured formula
    (``ntkfix._kernels.structured``), never materializing a Jacobian. Any other network
    (a function ``f(params, x)``, a stax triple, their ``FixedPattern``) goes by
    Jacobian contraction (``ntkfix._kernels.jacobian``) or NTK-vector products
    (``ntkfix._kernels.products``) over all its parameters, whichever the cost model
    (``ntkfix._kernels.cost``) finds cheaper for its forward-pass operations F, its P
    parameters and its k outputs. Both run in tiles of ``block_size`` x ``block_size``. For
    x2=None the symmetry K(x, x) = K(x, x)^T is used (only tiles on and above the
    diagonal are computed) and the result is exactly symmetric. Cost: ``ntk_flops``.

    Args:
      model: ``ntkfix.MLP``, ``ntkfix.FixedPattern``, a function ``f(params, x) -> (n, k)``
        or a stax triple ``(init_fn, apply_fn, kernel_fn)``.
      params: the model's parameters (for an MLP: the stax.serial layout of its spec).
      x1: (n1, ...) inputs ((n1, in_dim) for an MLP).
      x2: (n2, ...) inputs, or None for x1.
      trace: True -> (n1, n2), the mean over the k outputs of Theta_cc (as
        neural-tangents' ``trace_axes=(-1,)``); False -> (n1, n2, k, k).
      trainable: which dense layers' parameters count: None (all), a layer index,
        a sequence of indices (negative from the readout, -1 = readout), or
        "hidden" / "readout" (MLP-based models only; others: None).
      block_size: rows per tile (default: from the width, see
        ``ntkfix._kernels.tiling.default_block``).
      devices: where tiles run: None (all local devices of the default backend), an
        int (the first that many) or a sequence of ``jax.Device``. Without ``sharded``
        tiles are dealt round-robin and the kernel is returned on the first device;
        results are identical for any choice.
      sharded: return the kernel as one ``jax.Array`` sharded by rows over ``devices``
        (``NamedSharding(Mesh(devices, ("rows",)), PartitionSpec("rows"))``): device p
        computes and keeps rows [p n1/c, (p+1) n1/c), so no device ever holds the whole
        kernel (n1 must be divisible by the number c of devices). For K(x, x) each
        off-diagonal tile is still computed once; its transpose is copied to the device
        owning those rows. Equal to the one-device kernel (bit for bit when n1/c is a
        multiple of ``block_size``). With ``jax.distributed`` and ``devices=
        jax.devices()`` every process computes the slabs of its own devices.
      implementation: for a network other than an ``MLP``: "auto" (the cost model's
        choice), "jacobian" (Jacobian contraction) or "ntk_vector" (NTK-vector
        products); the kernel is the same to rounding. An ``MLP`` always uses its
        structured formula.

    Returns:
      the kernel, float dtype of the inputs/params.

    Examples:
      >>> import jax, ntkfix
      >>> spec = ntkfix.MLP(3, 32, 2)
      >>> p = spec.init(jax.random.PRNGKey(0))
      >>> x = jax.random.normal(jax.random.PRNGKey(1), (5, 3))
      >>> ntkfix.empirical_ntk(spec, p, x).shape
      (5, 5)
    """
    model, params, x1, x2, layers = check_kernel_args(model, params, x1, x2, trainable)
    n1 = x1.shape[0]
    n2 = n1 if x2 is None else x2.shape[0]
    implementation = check_implementation(implementation)
    if is_structured(model):
        if implementation != "auto":
            raise ValueError(
                f"implementation={implementation!r} applies to networks other than an "
                "ntkfix.MLP, whose kernel always uses the structured formula: pass "
                "implementation='auto' (or pass the MLP's forward function to compare)"
            )
        source = structured_source(model, params, layers, trace)
        auto = default_block(model.spec.width, max(n1, n2))
    else:  # any other network; ``layers`` is the output count k
        source, auto, _ = network_source(
            model, params, x1, layers, None if x2 is None else n2, trace, implementation
        )
    block = auto if block_size is None else check_positive_int(block_size, "block_size")
    runner = TileRunner(source, x1, x2, devices=devices)
    if not runner.tracing:  # refuse before allocating (the message names the disk twin)
        k = 1 if trace else (model.spec.out_dim if is_structured(model) else layers)
        per_entry = jnp.dtype(jnp.result_type(x1, *jax.tree_util.tree_leaves(params))).itemsize
        rows = n1 // len(runner.devices) if sharded else n1  # a sharded device: its slab
        check_memory_kernel(
            rows,
            n2,
            per_entry * k * k,
            source.feature_bytes(1),
            2 * model.spec.depth + 3 if is_structured(model) else 2,
            block,
            "empirical_ntk",
            device=runner.devices[0],
        )
    if not check_bool(sharded, "sharded"):
        return tiled_kernel(runner, n1, n2, block)
    if runner.tracing:
        raise ValueError(
            "sharded=True builds a sharded array from per-device slabs and cannot run inside "
            "jax.jit/vmap; call empirical_ntk outside the transformation"
        )
    return sharded_kernel(runner, n1, n2, block)


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
    model, params, x1, x2, layers = check_kernel_args(model, params, x1, x2, trainable)
    x2 = x1 if x2 is None else x2
    if not is_structured(model):
        j1 = jax.jacrev(model.forward)(params, x1)
        j2 = jax.jacrev(model.forward)(params, x2)
        flat = lambda j: [
            a.reshape(a.shape[0], a.shape[1], -1) for a in jax.tree_util.tree_leaves(j)
        ]
        pairs = zip(flat(j1), flat(j2), strict=True)
        K = sum(jnp.einsum("icp,jdp->ijcd", a, b) for a, b in pairs)
        return jnp.trace(K, axis1=2, axis2=3) / K.shape[2] if trace else K
    spec = model.spec
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
