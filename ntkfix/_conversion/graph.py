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
Where the data does put a gate at u == 0 < z (a zero-bias CNN on images with a zero
background: every all-zero patch), each gate's u is replaced by u - t with a threshold t
in the gap between the data's off (u <= 0) and on (u > 0) arguments
(``ntkfix._models.graph.gate_threshold``; t = min positive u / 2 at a first layer):
the same gates on the data, no argument at 0, so the identity holds everywhere; t is a
bias of the twin's gate stream (``twin_params["shift"]``), its width is unchanged.
One constant per gate (per ReLU layer, ``constants="layer"``); per channel
(``"channel"``: per index of the gate argument's last axis - a dense layer's unit, a conv
layer's channel in NHWC -, the largest need over the rows and the other axes; a conv twin
stays a conv: channel c's pair reads W0 M_c + W); or per unit (``"unit"``: per element of
the gate argument, (position, channel) of a conv layer - the smallest constants, the twin
then a locally connected net). Each times 1 + margin; the twin keeps its width, and one
unit with a tiny margin no longer inflates every unit's rounding. The twin is returned
as a ``ReluTwin`` (a ``Function``, ``ntkfix._models.twin``): ``twin.apply(twin_params, x)`` with
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
    unit_errors,
    warn_if_inexact,
)
from ntkfix._core.validate import check_choice, check_finite_tree


def _flat(u: jax.Array) -> jax.Array:
    return u.reshape(u.shape[0], -1)


def _terms(model, params, x, shift=None, shapes=False) -> list:
    prog = model.program(x)
    terms = prog.terms(model.params0, params, x, shift)
    flat = [(_flat(u), _flat(z)) for u, z in terms]
    return (flat, [tuple(u.shape) for u, _ in terms]) if shapes else flat


GRAPH_CONSTANTS = ("layer", "channel", "unit")


def unit_constants(need: np.ndarray, shape: tuple, constants: str) -> np.ndarray:
    """One gate's need (flat, per element of u's per-row shape ``shape[1:]``) as the
    constants of ``constants``: "layer" a scalar (the largest need), "channel" one per
    index of the last axis (the largest over the other axes), "unit" one per element."""
    if constants == "layer" or len(shape) < 2:
        return np.asarray(need.max())
    need = need.reshape(shape[1:])
    if constants == "unit" or need.ndim == 1:
        return need
    return need.max(axis=tuple(range(need.ndim - 1)))


def _units(m, shape) -> np.ndarray:
    """A gate's constant(s) ``m`` as one per flat unit of the per-row shape ``shape[1:]``."""
    return np.broadcast_to(np.asarray(m, np.float64), shape[1:]).reshape(-1).copy()


def _check(model, params, twin, tp, M, x, shape=None) -> EquivalenceCheck:
    if shape is not None and tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(
            f"x_new must have the shape per example of the data the twin was built for, "
            f"{tuple(shape)}, got {tuple(x.shape[1:])}"
        )
    shift = tp.get("shift")
    terms, shapes = _terms(model, params, x, shift, shapes=True)
    # with thresholds, the twin's gates must also be the FAP net's (u - t > 0 iff u > 0)
    on = None if shift is None else [u > 0 for u, _ in _terms(model, params, x)]
    M_units = [_units(m, sh) for sh, m in zip(shapes, M, strict=True)]
    f = model.forward(params, x)
    return equivalence(terms, M_units, f, twin.forward(tp, x), on=on)


FRACTIONS = (0.5, 0.1, 0.01)  # where in each gap a threshold goes, tried in turn


def thresholds(model, params, x, terms) -> list[float] | None:
    """The gates' thresholds (``ntkfix._models.graph.gate_threshold``) when the data puts
    a gate argument at u == 0 < z (else None: the twin is unchanged). A threshold moves
    the u of later gates in proportion to it: if a gap closes, smaller fractions of the
    gaps are tried; the last try is returned (the certificate says what holds)."""
    if not any(bool(jnp.any((u == 0) & (z > 0))) for u, z in terms):
        return None
    prog = model.program(x)
    on = [u > 0 for u, _ in prog.terms(model.params0, params, x)]
    for frac in FRACTIONS:
        shift = prog.calibrate(model.params0, params, x, on, frac)
        shifted = prog.terms(model.params0, params, x, shift)
        if all(
            bool(jnp.all((ut > 0) == o) & jnp.all(ut != 0))
            for (ut, _), o in zip(shifted, on, strict=True)
        ):
            break
    return shift


def graph_to_relu(
    model, params: Any, x: Any, *, margin: float, floor: float, constants: str, rtol
) -> tuple[Any, dict, ConversionCertificate]:
    """``to_relu`` for a ``GraphFixedPattern`` (a FAP net of any network; module
    docstring): its twin is ``model.twin_network`` (``ntkfix._models.twin.ReluTwin``)."""
    if constants in ("unit_shifted", "refit"):
        what = "per-unit gate thresholds" if constants == "unit_shifted" else "refitted gates"
        raise ValueError(
            f"constants={constants!r} ({what}) is for ntkfix.MLP nets; "
            "the twin of any other network takes 'layer', 'channel' or 'unit'"
        )
    check_choice(constants, "constants", GRAPH_CONSTANTS)
    params = check_finite_tree(model.check_params(params), "params")
    x = model.check_inputs(x)
    model.output_shape(params, x)
    terms = _terms(model, params, x)
    if not terms:
        raise ValueError("the network has no ReLU-like gate: it already is linear")
    shift = thresholds(model, params, x, terms)
    terms, shapes = _terms(model, params, x, shift, shapes=True)
    stats = [required_ratio(u, z) for u, z in terms]
    need = [
        unit_constants(n, shape, constants) for (n, _), shape in zip(stats, shapes, strict=True)
    ]
    M = tuple(np.maximum(floor, (1.0 + margin) * n) for n in need)
    dtype = np.dtype(jnp.result_type(*jax.tree_util.tree_leaves(params)))
    rtol = resolve_rtol(rtol, dtype)
    tp = {
        "params0": model.params0,
        "params": params,
        "M": jnp.asarray(M, dtype)
        if constants == "layer"
        else tuple(jnp.asarray(m, dtype) for m in M),
    }
    if shift is not None:
        tp["shift"] = jnp.asarray(shift, dtype)
    twin = model.twin_network(tp)
    cert = ConversionCertificate(
        M=tuple(_units(m, shape) for m, shape in zip(M, shapes, strict=True)),
        required=tuple(n for n, _ in stats),
        unit_error=unit_errors(
            terms, [_units(m, sh) for m, sh in zip(M, shapes, strict=True)], dtype
        ),
        ratio=tuple(r for _, r in stats),
        building=_check(model, params, twin, tp, M, x),
        model=model,
        params=params,
        relu_spec=twin,
        relu_params=tp,
        checker=functools.partial(_check, model, params, twin, tp, M, shape=x.shape[1:]),
        rtol=rtol,
        shift=() if shift is None else tuple(shift),
    )
    warn_if_inexact(
        cert, dtype, "use float64 params, constants='unit' or a smaller margin", stacklevel=4
    )
    return twin, tp, cert
