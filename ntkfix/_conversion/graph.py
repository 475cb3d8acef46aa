"""FAP -> ReLU conversion for any network whose gates are max/min/abs (ReLU-like) or
selects on a comparison (leaky ReLU, ``jnp.where(z > c, a, b)``).

Each gate of the FAP graph is written b + G(u) z (``ntkfix._models.graph``: u the
gate's argument at params0, z and b at params). With a constant M > the data's
max(0, -sign(u) z) / |u|,

    G(u) z = relu(M u + z) - M relu(u),

so the graph with every gate rewritten this way is an ordinary ReLU network: at each
gate it carries the pair [relu(u), relu(M u + z)] (twice the channels of the ReLU layer),
and everything between gates is linear in the pairs. It equals the FAP net on every
input where the identity holds (no u == 0 < z), up to the rounding of the cancellation.
One constant per gate (per ReLU layer). The twin is returned as a ``ReluTwin`` (a
``Function``, ``ntkfix._models.twin``): ``twin.apply(twin_params, x)`` with
``twin_params = {"params0", "params", "M"}``, evaluated in this factored form (the
doubled-channel weights are never materialized). ``twin.stax()`` gives it as a stax-
style pair ``(init_fn, apply_fn)`` for neural-tangents' finite-width tools
(``nt.empirical_ntk_fn``, ``nt.linearize``); it has no ``kernel_fn``: the twin's weights
are the trained ones, not a random initialization whose infinite-width limit a
``kernel_fn`` would describe.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntkfix._conversion.certificate import (
    ConversionCertificate,
    EquivalenceCheck,
    equivalence,
    required_ratio,
    resolve_rtol,
    warn_if_imprecise,
)


def _flat(u: jax.Array) -> jax.Array:
    return u.reshape(u.shape[0], -1)


def _check(model, params, twin, tp, M, x, shape=None) -> EquivalenceCheck:
    if shape is not None and tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(
            f"x_new must have the shape per example of the data the twin was built for, "
            f"{tuple(shape)}, got {tuple(x.shape[1:])}"
        )
    terms = [(_flat(u), _flat(z)) for u, z in model.program(x).terms(model.params0, params, x)]
    M_units = [np.full(u.shape[1], m) for (u, _), m in zip(terms, M, strict=True)]
    return equivalence(terms, M_units, model.forward(params, x), twin.forward(tp, x))


def graph_to_relu(
    model, params: Any, x: Any, *, margin: float, floor: float, constants: str, rtol
) -> tuple[Any, dict, ConversionCertificate]:
    """``to_relu`` for a ``GraphFixedPattern`` (a FAP net of any network; module
    docstring): its twin is ``model.twin_network`` (``ntkfix._models.twin.ReluTwin``)."""
    if constants != "layer":
        raise ValueError(
            f"constants={constants!r} is for ntkfix.MLP nets; the twin of any other "
            "network has one constant per gate (per ReLU layer): use constants='layer'"
        )
    params = model.check_params(params)
    x = model.check_inputs(x)
    model.output_shape(params, x)
    terms = [(_flat(u), _flat(z)) for u, z in model.program(x).terms(model.params0, params, x)]
    if not terms:
        raise ValueError("the network has no ReLU-like gate: it already is linear")
    stats = [required_ratio(u, z) for u, z in terms]
    need = [float(n.max()) for n, _ in stats]
    M = tuple(max(floor, (1.0 + margin) * n) for n in need)
    dtype = np.dtype(jnp.result_type(*jax.tree_util.tree_leaves(params)))
    rtol = resolve_rtol(rtol, dtype)
    tp = {"params0": model.params0, "params": params, "M": jnp.asarray(M, dtype)}
    twin = model.twin_network(tp)
    cert = ConversionCertificate(
        M=tuple(np.full(u.shape[1], m) for (u, _), m in zip(terms, M, strict=True)),
        required=tuple(n for n, _ in stats),
        ratio=tuple(r for _, r in stats),
        building=_check(model, params, twin, tp, M, x),
        model=model,
        params=params,
        relu_spec=twin,
        relu_params=tp,
        checker=functools.partial(_check, model, params, twin, tp, M, shape=x.shape[1:]),
        rtol=rtol,
    )
    warn_if_imprecise(cert, dtype, "use float64 params or a smaller margin", stacklevel=4)
    return twin, tp, cert
