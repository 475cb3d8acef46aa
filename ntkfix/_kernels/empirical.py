"""The exact empirical (finite-width) NTK in one line: ``empirical_ntk``,
``empirical_ntk_to_disk`` (thin calls into ``EmpiricalKernel``,
``ntkfix._kernels.kernel``) and ``empirical_ntk_autodiff`` (whole-batch ``jax.jacrev``,
the reference).

Each network computes its own kernel (``Network.kernel_plan``): an ``MLP`` by the
structured formula of ``ntkfix._kernels.structured``, any other network by the cost
model's choice (``ntkfix._kernels.cost``); tiles, symmetry and devices are
``ntkfix._kernels.tiling``'s. References: Jacot et al. 2018 (arXiv:1806.07572);
Novak et al. 2022, "Fast finite width neural tangent kernel" (arXiv:2206.08720).
"""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntkfix._kernels.kernel import EmpiricalKernel
from ntkfix._models.base import check_model

Params = Any


def empirical_ntk(
    model: Any,
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
        choice), "structured" (structured derivatives of the traced graph, each layer's
        rule by cost), "structured_gram" / "structured_gradients" (one rule for every
        layer), "jacobian" (Jacobian contraction) or "ntk_vector" (NTK-vector
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
    kernel = EmpiricalKernel(
        model, params, trace=trace, trainable=trainable, implementation=implementation
    )
    return kernel(x1, x2, block_size=block_size, devices=devices, sharded=sharded)


def empirical_ntk_autodiff(
    model: Any,
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
    params, x1, x2, selection = model.check_kernel_inputs(params, x1, x2, trainable)
    x2 = x1 if x2 is None else x2
    sub = model.select(params, selection)
    f = lambda s, x: model.forward(model.merge(params, selection, s), x)
    flat = lambda j: [a.reshape(a.shape[0], a.shape[1], -1) for a in jax.tree_util.tree_leaves(j)]
    j1, j2 = flat(jax.jacrev(f)(sub, x1)), flat(jax.jacrev(f)(sub, x2))
    K = sum(jnp.einsum("icp,jdp->ijcd", a, b) for a, b in zip(j1, j2, strict=True))
    return jnp.trace(K, axis1=2, axis2=3) / K.shape[2] if trace else K


def empirical_ntk_to_disk(
    model: Any, params: Params, x: Any, path: str | os.PathLike, *, trainable: Any = None, **options
) -> np.memmap:
    """Empirical NTK K(x, x) (n, n), traced over outputs, written into the .npy file ``path``.

    Same kernel as ``ntkfix.empirical_ntk(model, params, x, trainable=...)``, bit for bit
    (same tiles), computed tile by tile into a memory map; resumable
    (``ntkfix._kernels.disk``). ``EmpiricalKernel(model, params, trainable=...).to_disk``.

    Args:
      model, params, x, trainable: as for ``empirical_ntk``.
      path: the .npy file to create (or to resume, when its progress file exists).
      options: ``DiskOptions`` - block_size (default 2048 for n >= 8192 for an MLP,
        else as ``empirical_ntk``), progress (a bar, or a log line every 30 s), devices,
        part (``(index, count)``: this machine's share of the tiles), max_seconds (refuse
        when the estimate exceeds it), on_tile (``on_tile(done, total)`` after each
        tile), durable (sync every tile to disk).

    Returns:
      the file opened read-only (``numpy.memmap``); with ``part``, only its tiles are filled.

    Raises:
      KernelTooLarge: disk, memory or time too short (the message gives the largest n).
      ValueError: ``path`` holds a run of other inputs.
    """
    return EmpiricalKernel(model, params, trainable=trainable).to_disk(x, path, **options)
