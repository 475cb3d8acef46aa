"""What a FAP -> ReLU conversion guarantees: ``EquivalenceCheck`` (where the twin equals
the FAP net on a batch, and its error) and ``ConversionCertificate`` (the constants
used, the check on the building data, ``check(x_new)`` for new inputs)."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntkfix._conversion.floor import RoundingFloor, rounding_floor
from ntkfix._core.errors import InexactTwinWarning, PrecisionWarning

# The relative error (to the outputs' scale) a twin may have and still count as exact.
RTOL = {np.dtype(np.float32): 1e-3, np.dtype(np.float64): 1e-9}


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


def gate_threshold(u, on, frac: float = 0.5, axis=None):
    """A threshold t with 1[u - t > 0] == ``on`` and u - t != 0 on the data (per unit
    with ``axis=0``, u (n, m): an (m,) array; else a float): 0 where u already is (u < 0
    where off, u > 0 where on), else lo + frac (hi - lo) in the gap between lo = max u
    where off and hi = min u where on (nan: no gap).

    Why this is exact: the twin's identity relu(M u + z) - M relu(u) = 1[u > 0] z fails
    at u == 0 < z for every M. With u - t in place of u (t a bias of the twin's gate
    stream, absorbed in its bias; the width is unchanged) no argument sits at 0, and
    the gates 1[u - t > 0] are the original 1[u > 0] on the data, so the identity (with
    M >= the need of u - t) gives the FAP value exactly. At a first layer lo = 0 and
    hi = the smallest positive u: t = hi / 2. Later gates see the earlier thresholds
    (through the gate stream) in proportion to them, so each is chosen after those.
    """
    u = np.asarray(u, np.float64)
    on = np.broadcast_to(np.asarray(on, bool), u.shape)
    lo = np.max(np.where(on, -np.inf, u), axis=axis)
    hi = np.min(np.where(on, u, np.inf), axis=axis)
    span = np.maximum(np.max(np.abs(u), axis=axis, initial=0.0), 1.0)
    fine = (lo < 0) & (hi > 0)
    lo, hi = np.where(lo == -np.inf, hi - span, lo), np.where(hi == np.inf, lo + span, hi)
    t = np.where(fine, 0.0, np.where(lo < hi, lo + frac * (hi - lo), np.nan))
    return float(t) if axis is None else t


def unit_errors(terms, M, dtype) -> tuple[np.ndarray, ...]:
    """Per hidden layer, the (m,) estimate of each unit's rounding error in the twin's
    v = p - M g: eps(dtype) x the largest magnitude over the rows of the two cancelling
    terms, max(relu(M u + z), M relu(u)) - where v = z is small and M u large, the digits
    of v lost to the cancellation. The layer's error reaches the output through the next
    layers' weights: a unit's share of it is its estimate times its outgoing weights."""
    eps = float(np.finfo(np.dtype(dtype)).eps)
    out = []
    for (u, z), m in zip(terms, M, strict=True):
        m = jnp.asarray(m, u.dtype)[None, :]
        big = jnp.maximum(jax.nn.relu(m * u + z), m * jax.nn.relu(u))
        out.append(eps * np.asarray(jnp.max(big, axis=0), np.float64))
    return tuple(out)


@dataclasses.dataclass(frozen=True, eq=False)
class EquivalenceCheck:
    """Where the twin equals the FAP net on a batch of inputs.

    Attributes:
      rows_ok: (n,) bool, True where the identity holds for every unit of every layer
        (then twin(x) == fap(x) up to rounding).
      layer_ok: (n, depth) bool, the same per hidden layer.
      boundary_units: number of (row, unit) pairs with u == 0 < z (fail for every M).
      flipped_units: (row, unit) pairs where a gate threshold (``ConversionCertificate.
        shift``) makes the twin's gate differ from the FAP net's (0 without thresholds).
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
    flipped_units: int = 0

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
            f"boundary_units={self.boundary_units}, "
            + (f"flipped_units={self.flipped_units}, " if self.flipped_units else "")
            + f"max_error={self.max_error:.3g}, relative_error={self.relative_error:.3g})"
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
      model, params: the FAP net and its parameters.
      relu_spec, relu_params: the twin (an ``MLP`` for an MLP, a ``Function`` for any
        other network) and its parameters: ``relu_spec.apply(relu_params, x)``.
      checker: ``checker(x) -> EquivalenceCheck`` for validated inputs (what ``check``
        runs).
      rtol: the relative error (to the outputs' scale) up to which the twin counts as
        equal: ``p - M g`` cancels, so large constants cost digits, in float32 most.
      shift: per gate, the threshold t that replaces u by u - t in the twin (empty when
        the data puts no gate at u == 0 < z; ``ntkfix._conversion.graph``).
      unit_error: per hidden layer, the (width,) estimate of each unit's rounding error
        on the building data (``unit_errors``: eps x the size of the terms p, M g that
        cancel); the units with the largest constants have the largest.
      construction: how an MLP twin's gates were built: "layer", "unit",
        "unit_shifted" or "refit" (``ntkfix._conversion.refit``; "unit_shifted" where
        "refit" was asked for and a unit could not be refitted); "" for graph twins.
    """

    M: tuple[np.ndarray, ...]
    required: tuple[np.ndarray, ...]
    ratio: tuple[float, ...]
    building: EquivalenceCheck
    model: Any  # FixedPattern (of an MLP or of any network)
    params: Any
    relu_spec: Any
    relu_params: Any
    checker: Callable[[jax.Array], EquivalenceCheck]
    rtol: float = 0.0
    shift: tuple[float, ...] = ()
    unit_error: tuple[np.ndarray, ...] = ()
    construction: str = ""

    @property
    def unit_error_max(self) -> tuple[float, ...]:
        """The largest per-unit error estimate of each hidden layer (``unit_error``)."""
        return tuple(float(np.max(e)) if np.size(e) else 0.0 for e in self.unit_error)

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
        b = self.building
        return (
            f"ConversionCertificate(exact={self.exact}, rows_ok="
            f"{int(b.rows_ok.sum())}/{b.rows_ok.size}, boundary_units={b.boundary_units}, "
            + (f"flipped_units={b.flipped_units}, " if b.flipped_units else "")
            + f"max_error={b.max_error:.3g}, relative_error={self.relative_error:.3g} "
            f"(rtol {self.rtol:g}), M_max={tuple(round(m, 4) for m in self.M_max)})"
        )

    def rounding_floor(
        self, x: Any, dtype: Any = np.float32, draws: int = 8, seed: int = 0
    ) -> RoundingFloor:
        """The error any twin of this form has in ``dtype`` on ``x`` (the building
        data) from storing its value neurons relu(M u + z) at the smallest admissible
        constants M = ``required``, against plain rounding (MLP twins;
        ``ntkfix._conversion.floor``): where ``floor.twin`` exceeds ``rtol`` no choice of
        constants makes a twin of width 2m exact in ``dtype``."""
        return rounding_floor(self, x, dtype=dtype, draws=draws, seed=seed)

    def check(self, x_new: Any) -> EquivalenceCheck:
        """Which rows of ``x_new`` the twin reproduces exactly, and the error."""
        return self.checker(self.model.check_inputs(x_new, "x_new"))


def equivalence(terms, M, f, f_twin, on=None) -> EquivalenceCheck:
    """The ``EquivalenceCheck`` of a batch from each gate layer's (u, z) (each (n, m)), its
    constants ``M`` ((m,) per layer), the FAP outputs ``f`` and the twin's ``f_twin``;
    ``on``: per layer, the FAP net's own gates u > 0 where the twin's u is shifted (a row
    also needs the twin's gates to be those)."""
    ok = [identity_holds(u, z, m) for (u, z), m in zip(terms, M, strict=True)]
    flipped = 0
    if on is not None:
        same = [(u > 0) == o.reshape(u.shape) for (u, _), o in zip(terms, on, strict=True)]
        flipped = sum(int(jnp.sum(~s)) for s in same)
        ok = [a & s for a, s in zip(ok, same, strict=True)]
    layer_ok = jnp.stack([a.all(axis=1) for a in ok], 1)
    boundary = sum(int(jnp.sum((u == 0) & (z > 0))) for u, z in terms)
    err = np.asarray(jnp.max(jnp.abs(f_twin - f), axis=1))
    rows_ok = np.asarray(layer_ok.all(axis=1))
    return EquivalenceCheck(
        rows_ok=rows_ok,
        layer_ok=np.asarray(layer_ok),
        boundary_units=boundary,
        max_error=float(err.max()),
        max_error_ok=float(err[rows_ok].max()) if rows_ok.any() else 0.0,
        output_scale=float(jnp.max(jnp.abs(f))),
        ratio=tuple(required_ratio(u, z)[1] for u, z in terms),
        flipped_units=flipped,
    )


def resolve_rtol(rtol, dtype) -> float:
    """``rtol``, or the default of ``RTOL`` for ``dtype`` (float32's for other dtypes)."""
    from ntkfix._core.validate import check_nonneg_float

    rtol = RTOL.get(np.dtype(dtype), RTOL[np.dtype(np.float32)]) if rtol is None else rtol
    return check_nonneg_float(rtol, "rtol")


def warn_if_inexact(cert: ConversionCertificate, dtype, advice: str, stacklevel: int = 3) -> None:
    """A ``PrecisionWarning`` whenever the certificate is not exact: the identity fails on
    some building rows (``InexactTwinWarning``, a ``PrecisionWarning``: gate boundaries),
    or it holds but the rounding error exceeds rtol."""
    if cert.exact:
        return
    b = cert.building
    if not cert.identity_holds:
        what = [f"{b.boundary_units} (row, unit) pairs at a gate boundary u == 0 < z"]
        if b.flipped_units:
            what.append(f"{b.flipped_units} whose gate a threshold changed")
        warnings.warn(
            f"the ReLU twin equals the FAP net on only {int(b.rows_ok.sum())} of "
            f"{b.rows_ok.size} building rows ({' and '.join(what)}); its largest error there "
            f"is {b.max_error:.3g} (outputs' scale {b.output_scale:.3g}): use it only on the "
            "rows cert.building.rows_ok marks, or float64 params",
            InexactTwinWarning,
            stacklevel=stacklevel,
        )
        return
    warnings.warn(
        f"the ReLU twin's rounding error is {cert.relative_error:.3g} of the outputs' "
        f"scale (rtol {cert.rtol:g}, {np.dtype(dtype)} params, M_max "
        f"{max(cert.M_max):.3g}): the cancellation p - M g costs these digits; {advice}",
        PrecisionWarning,
        stacklevel=stacklevel,
    )
