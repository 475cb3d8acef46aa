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
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntkfix._core.errors import PrecisionWarning
from ntkfix._core.validate import check_choice, check_inputs, check_nonneg_float
from ntkfix._models.fixed import FixedPattern, gated_forward
from ntkfix._models.mlp import MLP, Params


def layer_terms(
    model: FixedPattern, params: Params, x: jax.Array
) -> list[tuple[jax.Array, jax.Array]]:
    """(u_l, z_l), each (n, width), for every hidden layer (gate and value pre-activations)."""
    spec = model.spec
    us = spec.preactivations(model.params0, x)[: spec.depth]
    _, hs, _ = gated_forward(spec, params, x, [u > 0 for u in us])
    return [(us[l], spec.layer(params, l, hs[l])) for l in range(spec.depth)]


def identity_holds(u: jax.Array, z: jax.Array, M: Any) -> jax.Array:
    """Per unit: does 1[u > 0] z == relu(M u + z) - M relu(u) hold? u, z (n, m); M (m,)."""
    s = jnp.asarray(M, u.dtype)[None, :] * u + z
    return jnp.where(u > 0, s >= 0, s <= 0)


def required_ratio(u: jax.Array, z: jax.Array) -> tuple[np.ndarray, float]:
    """(need, ratio): per unit (m,), the smallest admissible M = max over rows with u != 0
    of max(0, -sign(u) z) / |u|; and the layer's looser max |z| / |u| over u != 0."""
    nz = u != 0
    absu = jnp.where(nz, jnp.abs(u), 1.0)
    need = jnp.where(nz, jnp.maximum(0.0, -jnp.sign(u) * z) / absu, 0.0)
    ratio = jnp.where(nz, jnp.abs(z) / absu, 0.0)
    return np.asarray(jnp.max(need, axis=0), np.float64), float(jnp.max(ratio))


def _cat(a, b, axis):
    return jnp.concatenate([a, b], axis=axis)


def twin_params(spec: MLP, params0: Params, params: Params, M: tuple[Any, ...]) -> Params:
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


def twin_spec(spec: MLP) -> MLP:
    """The twin's spec: width 2m, same depth, standard parameterization, bias iff spec has."""
    return dataclasses.replace(spec, width=2 * spec.width, parameterization="standard")


@dataclasses.dataclass(frozen=True, eq=False)
class EquivalenceCheck:
    """Where the twin equals the FAP net on a batch of inputs.

    Attributes:
      rows_ok: (n,) bool, True where the identity holds for every unit of every layer
        (then twin(x) == fap(x) up to rounding).
      layer_ok: (n, depth) bool, the same per hidden layer.
      boundary_units: number of (row, unit) pairs with u == 0 < z (fail for every M).
      max_error: max |twin(x) - fap(x)| over all rows.
      max_error_ok: the same over the rows with ``rows_ok`` (0.0 if none).
      output_scale: max |fap(x)|.
      ratio: per hidden layer, max |z| / |u| on these inputs (u != 0).
    """

    rows_ok: np.ndarray
    layer_ok: np.ndarray
    boundary_units: int
    max_error: float
    max_error_ok: float
    output_scale: float
    ratio: tuple[float, ...]

    @property
    def all_ok(self) -> bool:
        return bool(self.rows_ok.all())

    @property
    def relative_error(self) -> float:
        """``max_error_ok / output_scale``: the rounding error where the identity holds."""
        return self.max_error_ok / max(self.output_scale, np.finfo(np.float64).tiny)

    def __repr__(self) -> str:
        return (
            f"EquivalenceCheck(rows_ok={int(self.rows_ok.sum())}/{self.rows_ok.size}, "
            f"boundary_units={self.boundary_units}, max_error={self.max_error:.3g}, "
            f"relative_error={self.relative_error:.3g})"
        )


@dataclasses.dataclass(frozen=True, eq=False)
class ConversionCertificate:
    """What ``to_relu`` guarantees, and the means to check it on new inputs.

    Attributes:
      M: per hidden layer, the (width,) vector of per-unit constants used.
      required: per hidden layer, the (width,) smallest constants the building data
        admits (sign-aware).
      ratio: per hidden layer, the data's max |z| / |u| (the bound on M in docs/design.md,
        section 1).
      building: the ``EquivalenceCheck`` on the building data (``rows_ok``, ``max_error``).
      model, params, relu_spec, relu_params: what ``check`` evaluates.
      rtol: the relative error (to the outputs' scale) up to which the twin counts as
        equal: ``p - M g`` cancels, so large constants cost digits, in float32 most.
    """

    M: tuple[np.ndarray, ...]
    required: tuple[np.ndarray, ...]
    ratio: tuple[float, ...]
    building: EquivalenceCheck
    model: FixedPattern
    params: Params
    relu_spec: MLP
    relu_params: Params
    rtol: float = 0.0

    @property
    def M_max(self) -> tuple[float, ...]:
        """Largest per-unit constant of each hidden layer (it drives the rounding error)."""
        return tuple(float(np.max(m)) for m in self.M)

    @property
    def max_error(self) -> float:
        """max |twin(x) - fap(x)| on the building data."""
        return self.building.max_error

    @property
    def identity_holds(self) -> bool:
        """The gate identity holds on every building row (a boundary unit breaks it)."""
        return self.building.all_ok

    @property
    def relative_error(self) -> float:
        """The twin's error on the building data relative to the outputs' scale."""
        return self.building.relative_error

    @property
    def exact(self) -> bool:
        """The identity holds on every building row and the rounding error is within
        ``rtol`` of the outputs' scale: the twin equals the FAP net on the data."""
        return self.identity_holds and self.relative_error <= self.rtol

    def __repr__(self) -> str:
        return (
            f"ConversionCertificate(exact={self.exact}, rows_ok="
            f"{int(self.building.rows_ok.sum())}/{self.building.rows_ok.size}, "
            f"relative_error={self.relative_error:.3g} (rtol {self.rtol:g}), "
            f"M_max={tuple(round(m, 4) for m in self.M_max)}, width {self.relu_spec.width})"
        )

    def check(self, x_new: Any) -> EquivalenceCheck:
        """Which rows of ``x_new`` (n, in_dim) the twin reproduces exactly, and the error."""
        x_new = check_inputs(x_new, "x_new", self.relu_spec.in_dim)
        return _check(self.model, self.params, self.relu_spec, self.relu_params, self.M, x_new)


def _check(model, params, relu_spec, relu_params, M, x) -> EquivalenceCheck:
    terms = layer_terms(model, params, x)
    layer_ok = jnp.stack(
        [identity_holds(u, z, m).all(axis=1) for (u, z), m in zip(terms, M, strict=True)], 1
    )
    boundary = sum(int(jnp.sum((u == 0) & (z > 0))) for u, z in terms)
    f = model.apply(params, x)
    err = jnp.max(jnp.abs(relu_spec.apply(relu_params, x) - f), axis=1)
    rows_ok = np.asarray(layer_ok.all(axis=1))
    err_np = np.asarray(err)
    return EquivalenceCheck(
        rows_ok=rows_ok,
        layer_ok=np.asarray(layer_ok),
        boundary_units=boundary,
        max_error=float(err_np.max()),
        max_error_ok=float(err_np[rows_ok].max()) if rows_ok.any() else 0.0,
        output_scale=float(jnp.max(jnp.abs(f))),
        ratio=tuple(required_ratio(u, z)[1] for u, z in terms),
    )


CONSTANTS = ("layer", "unit")
RTOL = {np.dtype(np.float32): 1e-3, np.dtype(np.float64): 1e-9}


def to_relu(
    model: FixedPattern,
    params: Params,
    x: Any,
    *,
    margin: float = 0.5,
    floor: float = 1.0,
    constants: str = "layer",
    rtol: float | None = None,
) -> tuple[MLP, Params, ConversionCertificate]:
    """An ordinary ReLU MLP of width 2m equal to the FAP net ``model`` at ``params`` on ``x``.

    Args:
      model: a ``FixedPattern`` (gates at ``model.params0``).
      params: the FAP net's parameters (any values, e.g. after training).
      x: (n, in_dim) the inputs the equivalence is built for.
      margin: per unit, M = max(floor, (1 + margin) * need), need the data's smallest
        admissible constant for that unit (module docstring); a margin covers nearby
        new inputs.
      floor: lower bound on every constant (> 0).
      constants: "layer" (one constant per layer, the largest unit's: covers new
        inputs best) or "unit" (per-unit constants: smallest rounding error).
      rtol: the relative error (to max |fap(x)|) the twin may have and still count as
        exact; default ``RTOL`` by dtype (1e-3 in float32, 1e-9 in float64). Above it
        ``cert.exact`` is False and a ``PrecisionWarning`` says what the error is.
    Returns:
      ``(relu_spec, relu_params, cert)``: ``relu_spec.apply(relu_params, x)`` equals
      ``model.apply(params, x)`` on every row with ``cert.building.rows_ok`` (to
      rounding, ``cert.max_error``); rows on a gate boundary (u == 0 < z) are flagged,
      not silently wrong.

    Example:
      >>> import jax, ntkfix
      >>> spec = ntkfix.MLP(3, 8, 2)
      >>> p0 = spec.init(jax.random.PRNGKey(0))
      >>> p1 = spec.init(jax.random.PRNGKey(1))      # any params
      >>> x = jax.random.normal(jax.random.PRNGKey(2), (6, 3))
      >>> rspec, rparams, cert = ntkfix.to_relu(ntkfix.FixedPattern(spec, p0), p1, x)
      >>> rspec.width, cert.exact
      (16, True)
    """
    if not isinstance(model, FixedPattern):
        hint = " (an MLP already is a ReLU network)" if isinstance(model, MLP) else ""
        raise TypeError(f"model must be an ntkfix.FixedPattern, got {type(model).__name__}{hint}")
    spec = model.spec
    params = spec.check_params(params)
    x = check_inputs(x, "x", spec.in_dim)
    margin = check_nonneg_float(margin, "margin")
    floor = check_nonneg_float(floor, "floor")
    if floor == 0:
        raise ValueError("floor must be > 0")
    check_choice(constants, "constants", CONSTANTS)
    dtype = np.dtype(jnp.result_type(*jax.tree_util.tree_leaves(params)))
    rtol = RTOL.get(dtype, RTOL[np.dtype(np.float32)]) if rtol is None else rtol
    rtol = check_nonneg_float(rtol, "rtol")
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
        rtol=rtol,
    )
    if cert.identity_holds and not cert.exact:
        warnings.warn(
            f"the ReLU twin's rounding error is {cert.relative_error:.3g} of the outputs' "
            f"scale (rtol {rtol:g}, {dtype} params, M_max {max(cert.M_max):.3g}): the "
            "cancellation p - M g costs these digits; use float64 params, constants='unit' "
            "or a smaller margin",
            PrecisionWarning,
            stacklevel=2,
        )
    return rspec, rparams, cert
