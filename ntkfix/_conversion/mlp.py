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
No bias in the original -> none in the twin. The identity is exact per unit; the
twin's error is rounding, which grows with M (p - M g cancels): each unit's constant is
max(floor, (1 + margin) * need) with need the unit's maximum over the data.
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
    required_ratio,
    resolve_rtol,
    warn_if_imprecise,
)
from ntkfix._core.validate import check_choice, check_inputs

Params = list  # an ntkfix.MLP's stax.serial params (``spec`` below is the MLP: not
# imported, the models depend on their twins' construction, not the other way)


def layer_terms(model, params: Params, x: jax.Array) -> list[tuple[jax.Array, jax.Array]]:
    """(u_l, z_l), each (n, width), for every hidden layer (gate and value pre-activations)."""
    spec = model.spec
    us = spec.preactivations(model.params0, x)[: spec.depth]
    _, hs, _ = spec.gated_forward(params, x, [u > 0 for u in us])
    return [(us[l], spec.layer(params, l, hs[l])) for l in range(spec.depth)]


def _cat(a, b, axis):
    return jnp.concatenate([a, b], axis=axis)


def twin_params(spec, params0: Params, params: Params, M: tuple[Any, ...]) -> Params:
    """The width-2m ReLU twin's stax.serial params (module formulas); M[l] is (width,)."""
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


def twin_spec(spec):
    """The twin's spec: width 2m, same depth, standard parameterization, bias iff spec has."""
    return dataclasses.replace(spec, width=2 * spec.width, parameterization="standard")


def _check(model, params, relu_spec, relu_params, M, x) -> EquivalenceCheck:
    f_twin = relu_spec.apply(relu_params, x)
    return equivalence(layer_terms(model, params, x), M, model.apply(params, x), f_twin)


CONSTANTS = ("layer", "unit")


def mlp_to_relu(
    model, params: Params, x, *, margin: float, floor: float, constants: str, rtol
) -> tuple[Any, Params, ConversionCertificate]:
    """``to_relu`` for the FAP net of an ``ntkfix.MLP`` (``MLPFixedPattern``): the width-2m
    ReLU MLP of the module docstring, with its certificate (``margin`` and ``floor``
    validated by ``to_relu``)."""
    spec = model.spec
    params = spec.check_params(params)
    x = check_inputs(x, "x", spec.in_dim)
    check_choice(constants, "constants", CONSTANTS)
    dtype = np.dtype(jnp.result_type(*jax.tree_util.tree_leaves(params)))
    rtol = resolve_rtol(rtol, dtype)
    stats = [required_ratio(u, z) for u, z in layer_terms(model, params, x)]
    need = [n if constants == "unit" else np.full_like(n, n.max()) for n, _ in stats]
    M = tuple(np.maximum(floor, (1.0 + margin) * n) for n in need)
    rspec = twin_spec(spec)
    rparams = twin_params(spec, model.params0, params, M)
    cert = ConversionCertificate(
        M=M,
        required=tuple(need for need, _ in stats),
        ratio=tuple(r for _, r in stats),
        building=_check(model, params, rspec, rparams, M, x),
        model=model,
        params=params,
        relu_spec=rspec,
        relu_params=rparams,
        checker=functools.partial(_check, model, params, rspec, rparams, M),
        rtol=rtol,
    )
    warn_if_imprecise(cert, dtype, "use float64 params, constants='unit' or a smaller margin")
    return rspec, rparams, cert
