"""Per-unit gate thresholds that shrink the twin's constants (``constants="unit_shifted"``).

A unit's constant is set by its data point nearest the gate with the wrong sign of z:
need = max(0, -sign(u) z) / |u|, so one point at u = -1e-4 with z = 0.5 costs M = 5,000
and every on-point of the unit then loses eps x M |u| to the cancellation p - M g. The
twin may read u - t instead of u for any t in the gap between the unit's off (u <= 0)
and on (u > 0) arguments on the data (the same gates there; ``certificate.
gate_threshold``), t carried in its biases, the width unchanged. Per unit, t is chosen
among 0 and fractions ``FRACTIONS`` of the gap to minimize the size of the cancelling
terms, max(floor, (1 + margin) need(t)) x max |u - t|, with the comparisons in the
params' dtype (a t that rounds a point onto the gate is not taken).

The gate stream of layer l feeds layer l + 1's gates: relu(u - t) differs from relu(u)
by t on the on-points, which moves the next layer's arguments and can close a gap
there. The last hidden layer feeds only the readout's v = p - M g, so all its units are
shifted; an earlier layer shifts its units in the order of their gain, as many as keep
a gap at every unit of the next layer (halving the count until they do). The caller
checks the gates on the data at the end (``mlp.mlp_to_relu`` falls back to the boundary
thresholds where they differ).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

FRACTIONS = np.linspace(0.02, 0.98, 25)


def _gap(u: np.ndarray, on: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per unit: (largest off argument, smallest on argument); +-1 beyond the data."""
    lo = np.max(np.where(on, -np.inf, u), axis=0)
    hi = np.min(np.where(on, u, np.inf), axis=0)
    return np.where(np.isinf(lo), hi - 1.0, lo), np.where(np.isinf(hi), lo + 1.0, hi)


def _cost(u, z, on, t, margin: float, floor: float) -> np.ndarray:
    """Per unit: the size of the cancelling terms with threshold t (inf: t breaks a gate)."""
    v = (u - t.astype(u.dtype)[None, :]).astype(np.float64)
    ok = np.all((v > 0) == on, axis=0) & np.all(v != 0, axis=0)
    nz = v != 0
    need = np.max(
        np.where(nz, np.maximum(0.0, -np.sign(v) * z) / np.where(nz, np.abs(v), 1.0), 0.0), axis=0
    )
    cost = np.maximum(floor, (1.0 + margin) * need) * np.max(np.abs(v), axis=0)
    return np.where(ok, cost, np.inf)


def best_thresholds(
    u, z, on, margin: float, floor: float, fractions=FRACTIONS
) -> tuple[np.ndarray, np.ndarray]:
    """Per unit, the threshold of least cost among 0 and the gap's fractions, and its gain
    cost(0) / cost(t) (>= 1; inf where t = 0 breaks a gate)."""
    lo, hi = _gap(u.astype(np.float64), on)
    zero = np.zeros(u.shape[1])
    best_t, best = zero, _cost(u, z, on, zero, margin, floor)
    at_zero = best
    for f in fractions:
        t = (lo + f * (hi - lo)).astype(u.dtype).astype(np.float64)
        c = _cost(u, z, on, t, margin, floor)
        better = c < best
        best_t, best = np.where(better, t, best_t), np.where(better, c, best)
    with np.errstate(invalid="ignore", divide="ignore"):
        gain = np.where(np.isfinite(best), at_zero / best, 1.0)
    return best_t, gain


def _next_has_gaps(spec, params0, l, h_next, on_next) -> bool:
    u = np.asarray(spec.layer(params0, l + 1, h_next), np.float64)
    lo, hi = _gap(u, np.asarray(on_next))
    return bool(np.all(lo < hi))


def _keep_prefix(spec, params0, l, u, t, gain, on_next) -> np.ndarray:
    """t on the units that need one (t = 0 breaks a gate: gain inf) and on those of
    largest gain, as many as keep a gap at every next-layer unit."""
    order = np.argsort(-gain)
    must = np.isinf(gain)
    k = int(np.sum(gain > 1.0))
    while True:
        keep = must.copy()
        keep[order[:k]] = True
        tk = np.where(keep, t, 0.0).astype(u.dtype)
        h = jax.nn.relu(u - jnp.asarray(tk)[None, :])
        if k <= int(must.sum()) or _next_has_gaps(spec, params0, l, h, on_next):
            return tk
        k //= 2


def optimal_thresholds(model, terms, x, margin: float, floor: float) -> list[np.ndarray]:
    """Per hidden layer, the (width,) thresholds of the module docstring; ``terms`` the
    unshifted (u, z) of every layer (``mlp.layer_terms``: z does not change)."""
    spec, p0 = model.spec, model.params0
    on = [np.asarray(u > 0) for u, _ in terms]
    h, shift = x, []
    for l in range(spec.depth):
        u = spec.layer(p0, l, h)
        un, zn = np.asarray(u), np.asarray(terms[l][1], np.float64)
        t, gain = best_thresholds(un, zn, on[l], margin, floor)
        if l < spec.depth - 1:
            t = _keep_prefix(spec, p0, l, u, t, gain, on[l + 1])
        shift.append(np.asarray(t, un.dtype))
        h = jax.nn.relu(u - jnp.asarray(shift[-1])[None, :])
    return shift
