"""The polynomial arc-cosine functions k0, k1 against mpmath at 200 bits."""

from __future__ import annotations

import jax
import mpmath
import numpy as np
import pytest

from ntkfix._kernels.arccos import arccos_kernels, coefficients

jax.config.update("jax_enable_x64", True)


def _cosines(dtype) -> np.ndarray:
    """The whole interval, and many points within a few ulps of -1, -1/2, 0, 1/2 and 1."""
    rng = np.random.default_rng(0)
    eps = float(np.finfo(dtype).eps)
    k = np.arange(300)
    near = [1 - eps * k / 2, -1 + eps * k / 2, 1 - np.logspace(-1, -15, 150)]
    near += [-1 + np.logspace(-1, -15, 150), 0.5 + eps * (k - 150), -0.5 + eps * (k - 150)]
    near += [eps * (k - 150), rng.uniform(-1, 1, 3000), np.linspace(-1, 1, 2001)]
    return np.unique(np.clip(np.concatenate(near).astype(dtype), -1, 1))


def _reference(c: np.ndarray) -> tuple[list, list]:
    mpmath.mp.prec = 200
    k0, k1 = [], []
    for x in c.astype(np.float64):
        x = mpmath.mpf(float(x))
        v = mpmath.pi - mpmath.acos(x)
        k0.append(v / mpmath.pi)
        k1.append((mpmath.sqrt(1 - x * x) + v * x) / mpmath.pi)
    return k0, k1


def _ulps(got: np.ndarray, ref: list, dtype) -> np.ndarray:
    out = np.empty(len(ref))
    for i, (g, r) in enumerate(zip(got, ref, strict=True)):
        if r == 0:
            out[i] = 0.0 if g == 0 else np.inf
            continue
        spacing = float(np.spacing(dtype(abs(float(r)))))
        out[i] = abs(float(mpmath.mpf(float(g)) - r)) / spacing
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_k0_k1_are_accurate_to_a_few_ulps_on_the_whole_interval(dtype):
    c = _cosines(dtype)
    k0, k1 = (np.asarray(v) for v in jax.jit(arccos_kernels)(jax.numpy.asarray(c)))
    assert k0.dtype == dtype and k1.dtype == dtype
    r0, r1 = _reference(c)
    u0, u1 = _ulps(k0, r0, dtype), _ulps(k1, r1, dtype)
    print(f"{dtype.__name__}: {c.size} cosines, max ulps k0 {u0.max():.2f}, k1 {u1.max():.2f}")
    worst = c[np.argmax(u1)]
    print(f"worst k1 at c = {worst!r}")
    assert u0.max() <= 3.0
    assert u1.max() <= 4.0
    # the end points exactly
    e0, e1 = (np.asarray(v) for v in arccos_kernels(jax.numpy.asarray([-1.0, 1.0], dtype)))
    np.testing.assert_array_equal(e0, [0.0, 1.0])
    np.testing.assert_array_equal(e1, [0.0, 1.0])


def test_economized_polynomials_are_exact_to_rounding():
    """P(z) (arcsin) and H(z) (k1 near -1) against their mpmath definitions."""
    mpmath.mp.prec = 200
    for itemsize, tol in ((4, 2e-7), (8, 4e-16)):
        p, h = coefficients(itemsize)
        for z in np.linspace(1e-6, 0.25, 40):
            zm = mpmath.mpf(z)
            s = mpmath.sqrt(zm)
            ref = (mpmath.asin(s) - s) / (s * zm)
            got = sum(mpmath.mpf(c) * zm**k for k, c in enumerate(p))
            assert abs(got - ref) <= tol * ref
        for z in np.linspace(1e-6, 0.5, 40):
            zm = mpmath.mpf(z)
            c = 2 * zm - 1
            k1 = (mpmath.sqrt(1 - c * c) + (mpmath.pi - mpmath.acos(c)) * c) / mpmath.pi
            ref = k1 / (zm * mpmath.sqrt(zm))
            got = sum(mpmath.mpf(c) * zm**k for k, c in enumerate(h))
            assert abs(got - ref) <= tol * ref
