"""How exact a width-2m twin can be in a precision: the rounding floor of its value neurons.

The twin of an MLP's FAP net (``ntkfix._conversion.mlp``) carries, per hidden unit, a
gate neuron g = relu(u) and a value neuron p = relu(M u + z), and every next layer reads
v = p - M g = 1[u > 0] z. Any twin of that form must store p in the twin's precision, so
on a unit with u > 0 the value v = z it carries is off by the rounding of p,

    |dv| = |round(M u + z) - (M u + z)|  <=  ulp(M u + z) / 2,

uniform in that interval for data in general position: relative to v it is about
eps M u / |z| - the digits the cancellation p - M g costs. The smallest M that keeps the
gates right on the data is the unit's ``need`` (``certificate.required_ratio``), so

    floor = || sum_l J_l dv_l || / max |f|     (J_l: the FAP net's Jacobian in v_l)

evaluated with M = need (margin 0), the data's own u (with the twin's thresholds,
``cert.shift``) and z, and dv_l drawn uniformly within half an ulp of ``dtype`` at
M u + z, propagated through the FAP net exactly, in float64 (numpy: jax's x64 mode does
not matter), is the error a twin of this form has in ``dtype`` before anything else
rounds: no constants, margins or thresholds of this construction go below it. Drawn
``draws`` times (seeded, so the same numbers each run); the median is returned, with
the same for plain rounding of z (M = 0: what a FAP net of that precision pays itself)
as the baseline.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ntkfix._conversion.refit import gate_args64


@dataclasses.dataclass(frozen=True)
class RoundingFloor:
    """``rounding_floor``'s result.

    Attributes:
      twin: median over the draws of max |df| / max |f| with the value neurons rounded
        at M = need (the floor of any twin of this form in ``dtype``).
      plain: the same with M = 0 (rounding z itself: what any net of ``dtype`` pays).
      dtype: the precision whose rounding was drawn.
      draws: number of draws.
    """

    twin: float
    plain: float
    dtype: str
    draws: int


def _layer(spec, params, l: int, h: np.ndarray) -> np.ndarray:
    """Dense layer ``l``'s pre-activation in float64 (numpy), ``MLP.layer``'s formula
    z_l = a_l h W_l + beta b_l."""
    W, b = params[2 * l]
    z = spec.weight_scale(l) * (h @ np.asarray(W, np.float64))
    if b is not None:
        z = z + spec.bias_scale() * np.asarray(b, np.float64)
    return z


def _gate_terms(spec, params0, params, x, shift, refit=None):
    """Per hidden layer (u, z, on): the twin's gate pre-activation u (minus its threshold;
    with ``refit`` the refitted gate arguments, ``refit.gate_args64``), the FAP value
    pre-activation z and the FAP net's gates on the data, float64."""
    h0, h, out = x, x, []
    for l in range(spec.depth):
        u0 = _layer(spec, params0, l, h0)
        u = u0 if not shift else u0 - np.asarray(shift[l], np.float64)[None, :]
        u = u if refit is None else refit[l]
        z, on = _layer(spec, params, l, h), u0 > 0
        out.append((u, z, on))
        h0, h = np.maximum(u, 0.0), np.where(on, z, 0.0)
    return out


def _perturbed_output(spec, params, x, gates, dv) -> np.ndarray:
    h = x
    for l in range(spec.depth):
        h = np.where(gates[l], _layer(spec, params, l, h), 0.0) + dv[l]
    return _layer(spec, params, spec.depth, h)


def rounding_floor(cert, x, *, dtype=np.float32, draws: int = 8, seed: int = 0):
    """The rounding floor (module docstring) of the MLP twin of ``cert`` on inputs ``x``
    (the building data: where ``cert.required`` was measured).

    Args:
      cert: an MLP twin's ``ConversionCertificate`` (``ntkfix.to_relu``).
      x: (n, in_dim) inputs.
      dtype: the precision whose rounding is drawn (float32: a GPU's).
      draws: rounding draws (the median is returned).
      seed: the draws' seed.

    Returns:
      a ``RoundingFloor``.
    """
    spec = getattr(cert.model, "spec", None)
    if spec is None or not hasattr(spec, "weight_scale"):
        raise ValueError(
            "rounding_floor reads an MLP twin's units; this certificate is of a "
            f"{type(cert.model).__name__} (graph twins: compare cert.unit_error instead)"
        )
    to64 = lambda p: [tuple(None if a is None else np.asarray(a, np.float64) for a in t) for t in p]
    p0, p = to64(cert.model.params0), to64(cert.params)
    x = np.asarray(x, np.float64)
    refit = gate_args64(cert.relu_params, x) if cert.construction == "refit" else None
    terms = _gate_terms(spec, p0, p, x, cert.shift, refit)
    gates = [on for _, _, on in terms]
    f = _perturbed_output(spec, p, x, gates, [0.0] * spec.depth)
    scale = max(float(np.max(np.abs(f))), np.finfo(np.float64).tiny)
    rng = np.random.default_rng(seed)
    out = {}
    for name, M in (("twin", cert.required), ("plain", [0.0 * m for m in cert.required])):
        errs = []
        for _ in range(draws):
            dv = []
            for (u, z, on), m in zip(terms, M, strict=True):
                s = np.asarray(m, np.float64)[None, :] * u + z
                half_ulp = np.spacing(np.abs(s).astype(dtype)).astype(np.float64) / 2
                dv.append(np.where(on, rng.uniform(-1.0, 1.0, s.shape) * half_ulp, 0.0))
            df = _perturbed_output(spec, p, x, gates, dv) - f
            errs.append(float(np.max(np.abs(df))) / scale)
        out[name] = float(np.median(errs))
    return RoundingFloor(out["twin"], out["plain"], str(np.dtype(dtype)), int(draws))
