"""The arc-cosine functions of ReLU kernels, without a transcendental library call.

For a cosine c in [-1, 1] (Cho & Saul 2009, "Kernel methods for deep learning"):

    k0(c) = (pi - arccos c) / pi                       = 2 E[relu'(u) relu'(v)]
    k1(c) = (sqrt(1 - c^2) + (pi - arccos c) c) / pi   = 2 E[relu(u) relu(v)] / norms

(u, v standard normals with correlation c). Both are evaluated with the reduction
of Abramowitz & Stegun 4.4.45 / 4.4.46 and short polynomials:

- a = |c|. For a <= 1/2: z = a^2, s = a; for a > 1/2: z = (1 - a) / 2 (exact: Sterbenz),
  s = sqrt(z), since arccos a = 2 arcsin sqrt((1 - a) / 2). In both cases z <= 1/4 and
  arcsin s = s + s z P(z), P(z) = sum_k a_{k+1} z^k, a_k = binom(2k, k) / (4^k (2k + 1))
  the Taylor coefficients of arcsin(s)/s in s^2.
- arccos a = pi/2 - arcsin a (a <= 1/2), 2 arcsin s (a > 1/2); pi - arccos c is
  arccos(-c): pi - arccos a for c >= 0, arccos a for c < 0.
- k1 for c < 0 cancels (k1 ~ (8 / 3 pi) ((1 + c)/2)^(3/2) at c -> -1): there it is
  k1 = (4 / pi) s' z' H(z') with z' = (1 + c)/2 in [0, 1/2], s' = sqrt(z'), since
  k1' = k0 gives k1(c) = (4 / pi) int_0^z' sqrt(w) (1 + w P(w)) dw, so
  H(z) = sum_k a_k z^k / (k + 3/2).

P and 4 H / pi are Chebyshev-economized Taylor polynomials (exact rational arithmetic at
import, ``economized``; pi to 60 digits): their truncation error is below a hundredth
of an ulp of the dtype, so k0 and k1 are accurate to a few ulps in float32 and float64
on the whole interval (measured against mpmath: k0 <= 2.2 ulps, k1 <= 3.7 ulps in
float32, <= 2.1 and <= 2.9 in float64; ``tests/ntkfix/test_arccos.py``). The cost is two
square roots and ~30 fused multiply-adds per element, vectorized by XLA, instead of
XLA's arccos (~10x a multiply-add pass on a CPU).
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import jax.numpy as jnp
import numpy as np

# (degree of P, degree of H) per float width: truncation error < 0.01 ulp
DEGREES = {4: (5, 7), 8: (12, 18)}
_TERMS = 90  # Taylor terms before economization (tail < 2^-90 on [0, 1/2])
PI = Fraction("3.14159265358979323846264338327950288419716939937510582097494")


def _asin_taylor(m: int) -> list[Fraction]:
    """a_k = binom(2k, k) / (4^k (2k + 1)), k = 0..m-1 (arcsin(s)/s = sum a_k s^(2k))."""
    b, out = Fraction(1), []
    for k in range(m):
        if k:
            b = b * (2 * k - 1) / (2 * k)
        out.append(b / (2 * k + 1))
    return out


def _shifted_chebyshev(k_max: int, hi: Fraction) -> list[list[Fraction]]:
    """Coefficients in z of T_k(2 z / hi - 1), k = 0..k_max (Chebyshev on [0, hi])."""
    a, b = Fraction(2) / hi, Fraction(-1)
    T = [[Fraction(1)], [b, a]]
    for k in range(2, k_max + 1):
        r = [Fraction(0)] * (k + 1)
        for i, c in enumerate(T[-1]):
            r[i] += 2 * b * c
            r[i + 1] += 2 * a * c
        for i, c in enumerate(T[-2]):
            r[i] -= c
        T.append(r)
    return T


def economized(coef: list[Fraction], degree: int, hi: Fraction) -> tuple[list[float], float]:
    """Chebyshev economization on [0, hi] of the polynomial sum coef[k] z^k: its leading
    terms are cancelled by multiples of shifted Chebyshev polynomials down to ``degree``.

    Returns (the float coefficients, lowest first; the bound sum |removed multiples| on
    the added error over [0, hi]), all in exact rational arithmetic until the rounding.
    """
    c = list(coef)
    T = _shifted_chebyshev(len(c) - 1, hi)
    err = Fraction(0)
    for k in range(len(c) - 1, degree, -1):
        m = c[k] / T[k][k]
        err += abs(m)
        for i, t in enumerate(T[k]):
            c[i] -= m * t
    return [float(v) for v in c[: degree + 1]], float(err)


@functools.cache
def coefficients(itemsize: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(P, 4 H / pi) coefficients, lowest first, for floats of ``itemsize`` bytes (4 or 8)."""
    dp, dh = DEGREES[8 if itemsize >= 8 else 4]
    a = _asin_taylor(_TERMS + 1)
    p = economized(a[1:], dp, Fraction(1, 4))[0]
    h4 = [4 * v / (PI * Fraction(2 * k + 3, 2)) for k, v in enumerate(a)]
    h = economized(h4, dh, Fraction(1, 2))[0]
    return tuple(p), tuple(h)


def _horner(coef, z):
    r = jnp.full_like(z, coef[-1])
    for c in coef[-2::-1]:
        r = r * z + c
    return r


def arccos_kernels(c: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(k0(c), k1(c)) elementwise for cosines ``c`` in [-1, 1] (module docstring).

    Any shape; float32 or float64 (the polynomials follow ``c.dtype``). Values outside
    [-1, 1] are the caller's to clip.
    """
    dt = c.dtype
    p, h = coefficients(np.dtype(dt).itemsize)
    pi_hi = float(np.asarray(math.pi, dt))
    pi_lo = math.pi - pi_hi  # pi = pi_hi + pi_lo to twice the working precision
    one, half = jnp.asarray(1.0, dt), jnp.asarray(0.5, dt)
    a = jnp.abs(c)
    big = a > half
    z = jnp.where(big, (one - a) * half, a * a)
    s = jnp.where(big, jnp.sqrt(z), a)
    asin_s = s + s * z * _horner(p, z)
    acos_a = jnp.where(big, 2 * asin_s, (pi_hi / 2 - asin_s) + pi_lo / 2)
    v = jnp.where(c >= 0, (pi_hi - acos_a) + pi_lo, acos_a)  # pi - arccos c
    k0 = v * (1 / math.pi)
    zn = (one - a) * half  # (1 + c)/2 for c < 0
    low = jnp.sqrt(zn) * zn * _horner(h, zn)
    high = (jnp.sqrt((one - a) * (one + a)) + v * c) * (1 / math.pi)
    return k0, jnp.where(c < 0, low, high)
