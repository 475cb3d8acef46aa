"""Exact conversion of a fixed-activation-pattern (FAP) net into a ReLU net of width 2m.

For hidden layer l of a ``FixedPattern`` model, let u_l = z_l(x; theta_0) be the gate
pre-activation (the ReLU net at ``params0``) and z_l the value pre-activation of the FAP
net at ``params``; the FAP net's hidden value is v_l = 1[u_l > 0] z_l. For M >= 0

    1[u > 0] z = relu(M u + z) - M relu(u)

holds for one unit exactly when (u > 0 and M u + z >= 0) or (u <= 0 and M u + z <= 0):
for u != 0 when M >= need = max(0, -sign(u) z) / |u| (<= |z| / |u|), and for u == 0
only when z <= 0 (a gate boundary with z > 0 fails for every M). M_l is a (width,)
vector: with ``constants="layer"`` (default) every unit of layer l gets the layer's
largest need (a large margin, so the twin also holds on most *new* inputs); with
``constants="unit"`` each unit gets its own need, so one unit with a tiny margin does not
inflate the rounding (below) of the whole layer (more accurate in float32, but new inputs
are certified less often). The twin's hidden layer l
holds [g_l, p_l] = [relu(u_l), relu(M_l * u_l + z_l)] and every next layer reads
v_l = p_l - M_l * g_l. With a_l, beta the forward multipliers of ``spec`` (W^0, b^0 from
``params0``; W, b from ``params``) and D(M) = diag(M), the twin's dense layers are

    first:   W~ = [a W^0 | a (W^0 D(M_0) + W)]                            (d, 2m)
    middle:  W~ = [[a W^0, a (W^0 D(M_l) - D(M_{l-1}) W)], [0, a W]]      (2m, 2m)
    both:    b~ = [beta b^0 | beta (b^0 D(M_l) + b)]
    readout: W~ = [[-a D(M_{L-1}) W], [a W]],  b~ = beta b               (2m, k)

stored as an ``MLP`` in the *standard* parameterization (forward multiplier 1), so the
params alone define the function (the twin spec's W_std only matters for its ``init``).
No bias in the original -> none in the twin, unless the data puts a unit at u == 0 < z
(the identity fails there for every M): then each unit's u is replaced by u - t, t in
the gap below the unit's smallest positive u on the data (``certificate.gate_threshold``):
the same gates on the data, none at 0, the twin exact; t sits in the twin's biases
(g: beta b^0 - t, p: beta (b^0 D(M) + b) - D(M) t), its width unchanged. The identity
is exact per unit; the twin's error is rounding, which grows with M (p - M g cancels):
each unit's constant is max(floor, (1 + margin) * need) with need the unit's maximum
over the data.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntkfix._conversion.certificate import (
    ConversionCertificate,
    EquivalenceCheck,
    equivalence,
    gate_threshold,
    required_ratio,
    resolve_rtol,
    unit_errors,
    warn_if_inexact,
)
from ntkfix._conversion.offsets import optimal_thresholds
from ntkfix._conversion.refit import as_params, refit_twin, twin_terms
from ntkfix._core.validate import check_choice, check_finite_tree, check_inputs

Params = list  # an ntkfix.MLP's stax.serial params (``spec`` below is the MLP: not
# imported, the models depend on their twins' construction, not the other way)


def layer_terms(
    model, params: Params, x: jax.Array, shift=None
) -> list[tuple[jax.Array, jax.Array]]:
    """(u_l, z_l), each (n, width), for every hidden layer (gate and value pre-activations);
    with ``shift`` (per layer a (width,) threshold) u_l is the twin's gate stream, each
    layer's u - t fed through relu to the next."""
    spec = model.spec
    us = spec.preactivations(model.params0, x)[: spec.depth]
    _, hs, _ = spec.gated_forward(params, x, [u > 0 for u in us])
    if shift is not None:
        h, us = x, []
        for l in range(spec.depth):
            us.append(spec.layer(model.params0, l, h) - jnp.asarray(shift[l], h.dtype)[None, :])
            h = jax.nn.relu(us[-1])
    return [(us[l], spec.layer(params, l, hs[l])) for l in range(spec.depth)]


FRACTIONS = (0.5, 0.1, 0.01)  # where in each gap a threshold goes, tried in turn


def thresholds(model, terms, x) -> list[np.ndarray] | None:
    """Per layer, the (width,) thresholds of the twin's gates (``certificate.
    gate_threshold``, per unit) when the data puts a unit at u == 0 < z, else None
    (the twin is unchanged); each layer's after the earlier ones have moved its u."""
    if not any(bool(jnp.any((u == 0) & (z > 0))) for u, z in terms):
        return None
    spec, on = model.spec, [u > 0 for u, _ in terms]
    for frac in FRACTIONS:
        h, shift, agree = x, [], True
        for l in range(spec.depth):
            u = spec.layer(model.params0, l, h)
            shift.append(np.nan_to_num(gate_threshold(u, on[l], frac, axis=0)))
            u = u - jnp.asarray(shift[-1], u.dtype)[None, :]
            agree = agree and bool(jnp.all((u > 0) == on[l]) & jnp.all(u != 0))
            h = jax.nn.relu(u)
        if agree:
            break
    return shift


def _cat(a, b, axis):
    return jnp.concatenate([a, b], axis=axis)


def twin_params(spec, params0: Params, params: Params, M: tuple[Any, ...], shift=None) -> Params:
    """The width-2m ReLU twin's stax.serial params (module formulas); M[l] is (width,);
    ``shift[l]`` (width,): thresholds, in the biases (g: - t, p: - M t; a net without
    biases then gets them, zero on the readout)."""
    if shift is not None:
        return _shifted_params(spec, params0, params, M, shift)
    beta = spec.bias_scale()
    out: list = []
    for l in range(spec.n_layers):
        a = spec.weight_scale(l)
        W0, b0 = params0[2 * l]
        W, b = params[2 * l]
        if l == spec.depth:  # readout reads v = p - M g
            col = jnp.asarray(M[l - 1], W.dtype)[:, None]
            out.append((_cat(-a * col * W, a * W, 0), None if b is None else beta * b))
            break
        row = jnp.asarray(M[l], W.dtype)[None, :]
        if l == 0:
            Wt = _cat(a * W0, a * (W0 * row + W), 1)
        else:
            col = jnp.asarray(M[l - 1], W.dtype)[:, None]
            Wt = jnp.block([[a * W0, a * (W0 * row - col * W)], [jnp.zeros_like(W), a * W]])
        bt = None if b is None else beta * _cat(b0, b0 * row + b, 1)
        out += [(Wt, bt), ()]
    return out


def _shifted_params(spec, params0, params, M, shift) -> Params:
    """``twin_params`` with the thresholds: every layer with a bias (module formulas)."""
    out = twin_params(spec, params0, params, M)
    dt = out[0][0].dtype
    for l in range(spec.n_layers):
        Wt, bt = out[2 * l]
        bt = jnp.zeros((1, Wt.shape[1]), dt) if bt is None else bt
        if l < spec.depth:
            t = jnp.asarray(shift[l], dt)[None, :]
            bt = bt - _cat(t, jnp.asarray(M[l], dt)[None, :] * t, 1)
        out[2 * l] = (Wt, bt)
    return out


def twin_spec(spec, bias: bool = False):
    """The twin's spec: width 2m, same depth, standard parameterization, bias iff spec has
    (or ``bias``: thresholds)."""
    b_std = 1.0 if bias and spec.b_std is None else spec.b_std
    return dataclasses.replace(spec, width=2 * spec.width, parameterization="standard", b_std=b_std)


def _check(model, params, relu_spec, relu_params, M, x, shift=None) -> EquivalenceCheck:
    f_twin = relu_spec.apply(relu_params, x)
    terms = layer_terms(model, params, x, shift)
    on = None if shift is None else [u > 0 for u, _ in layer_terms(model, params, x)]
    return equivalence(terms, M, model.apply(params, x), f_twin, on=on)


# "channel": a dense layer's channel is its unit; "unit_shifted": per unit, with per-unit
# gate thresholds that shrink the constants (``ntkfix._conversion.offsets``); "refit":
# gates refitted to the FAP net's signs with margin (``ntkfix._conversion.refit``)
CONSTANTS = ("layer", "channel", "unit", "unit_shifted", "refit")


def _shift(model, params, x, constants: str, margin: float, floor: float):
    """The thresholds of the twin: with "unit_shifted" the optimal ones when the gates
    on the data stay the FAP net's, else (and otherwise) the boundary ones (``thresholds``)."""
    terms = layer_terms(model, params, x)
    if constants == "unit_shifted":
        shift = optimal_thresholds(model, terms, x, margin, floor)
        moved = layer_terms(model, params, x, shift)
        if all(
            bool(jnp.all((ut > 0) == (u > 0)) & jnp.all(ut != 0))
            for (ut, _), (u, _) in zip(moved, terms, strict=True)
        ):
            return shift
    return thresholds(model, terms, x)


def mlp_to_relu(
    model, params: Params, x, *, margin: float, floor: float, constants: str, rtol
) -> tuple[Any, Params, ConversionCertificate]:
    """``to_relu`` for the FAP net of an ``ntkfix.MLP`` (``MLPFixedPattern``): the width-2m
    ReLU MLP of the module docstring, with its certificate (``margin`` and ``floor``
    validated by ``to_relu``)."""
    spec = model.spec
    params = check_finite_tree(spec.check_params(params), "params")
    x = check_inputs(x, "x", spec.in_dim)
    check_choice(constants, "constants", CONSTANTS)
    dtype = np.dtype(jnp.result_type(*jax.tree_util.tree_leaves(params)))
    rtol = resolve_rtol(rtol, dtype)
    refit_asked = constants == "refit"
    if refit_asked:
        built = _refit(model, params, x, margin, floor, rtol, dtype)
        if built is not None:
            return built
        constants = "unit_shifted"  # a unit could not be refitted: cert.construction says
    shift = _shift(model, params, x, constants, margin, floor)
    terms = layer_terms(model, params, x, shift)
    stats = [required_ratio(u, z) for u, z in terms]
    need = [n if constants != "layer" else np.full_like(n, n.max()) for n, _ in stats]
    M = tuple(np.maximum(floor, (1.0 + margin) * n) for n in need)
    rspec = twin_spec(spec, bias=shift is not None)
    rparams = twin_params(spec, model.params0, params, M, shift)
    cert = ConversionCertificate(
        M=M,
        required=tuple(need for need, _ in stats),
        ratio=tuple(r for _, r in stats),
        building=_check(model, params, rspec, rparams, M, x, shift),
        model=model,
        params=params,
        relu_spec=rspec,
        relu_params=rparams,
        checker=functools.partial(_check, model, params, rspec, rparams, M, shift=shift),
        rtol=rtol,
        shift=() if shift is None else tuple(shift),
        unit_error=unit_errors(terms, M, dtype),
        construction=constants,
    )
    warn_if_inexact(cert, dtype, _advice(refit_asked, x.shape[0], spec.width))
    return rspec, rparams, cert


def _advice(refit_asked: bool, n: int, width: int) -> str:
    """What an inexact float32 twin's warning suggests."""
    if refit_asked:
        return (
            f"constants='refit' fell back to 'unit_shifted' (a gate could not be refitted on "
            f"these {n} rows: a layer's twin has 2m + 1 = {2 * width + 1} features, and a "
            "fit is only sure for n <= 2m + 1): use float64 params, a wider net or a smaller "
            "margin"
        )
    return "use float64 params, constants='refit' (sure for n <= 2m + 1) or a smaller margin"


def _gates(model, x):
    spec = model.spec
    return [u > 0 for u in spec.preactivations(model.params0, x)[: spec.depth]]


def _refit_check(model, params, rspec, rparams, M, x) -> EquivalenceCheck:
    on = _gates(model, x)
    terms = twin_terms(model.spec, rparams, params, x, on)
    return equivalence(terms, M, model.apply(params, x), rspec.apply(rparams, x), on=on)


def _refit(model, params, x, margin, floor, rtol, dtype):
    """``mlp_to_relu`` with ``constants="refit"`` (``ntkfix._conversion.refit``); None
    where a gate above the first layer cannot be refitted on this data."""
    spec = model.spec
    on = _gates(model, x)
    built = refit_twin(spec, model.params0, params, x, on, margin, floor)
    if built is None:
        return None
    layers, M = built
    rspec, rparams = twin_spec(spec, bias=True), as_params(layers, dtype)
    terms = twin_terms(spec, rparams, params, x, on)
    stats = [required_ratio(s, z) for s, z in terms]
    cert = ConversionCertificate(
        M=M,
        required=tuple(need for need, _ in stats),
        ratio=tuple(r for _, r in stats),
        building=_refit_check(model, params, rspec, rparams, M, x),
        model=model,
        params=params,
        relu_spec=rspec,
        relu_params=rparams,
        checker=functools.partial(_refit_check, model, params, rspec, rparams, M),
        rtol=rtol,
        unit_error=unit_errors(terms, M, dtype),
        construction="refit",
    )
    warn_if_inexact(cert, dtype, "use float64 params")
    return rspec, rparams, cert
