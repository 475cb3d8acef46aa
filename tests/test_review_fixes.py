"""Regression tests for precision and bad-input issues found in review."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkfix


def test_alignment_of_float32_kernels_is_not_lost_to_cancellation():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 50))
    B = (X @ X.T).astype(np.float32)
    assert ntkfix.kernel_distance(B, B, "alignment") == 0.0
    assert ntkfix.kernel_distance(B, B, "cka") == 0.0
    E = rng.standard_normal((50, 50)).astype(np.float32)
    A = B + 1e-4 * np.linalg.norm(B) / np.linalg.norm(E + E.T) * (E + E.T)
    a, b = A.astype(np.float64), B.astype(np.float64)
    exact = 1 - np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b))
    assert ntkfix.kernel_distance(A, B, "alignment") == pytest.approx(exact, rel=1e-6)


def test_float64_kernels_keep_precision_with_x64_off():
    code = """
import numpy as np, jax, ntkfix
assert not jax.config.jax_enable_x64
rng = np.random.default_rng(0)
Q, _ = np.linalg.qr(rng.standard_normal((20, 20)))
K = (Q * np.logspace(0, -9, 20)) @ Q.T
K = (K + K.T) / 2
s = ntkfix.spectrum(K)
assert abs(s.lambda_min / 1e-9 - 1) < 1e-3, s.lambda_min
d = ntkfix.kernel_distance(K + 1e-9 * np.eye(20), K, "spectral")
assert abs(d / 1e-9 - 1) < 1e-3, d
print("ok")
"""
    env = {"JAX_ENABLE_X64": "0", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]


@pytest.mark.parametrize("depth", [1, 3])
def test_closed_form_cross_kernel_with_duplicate_points(depth):
    spec = ntkfix.MLP(in_dim=64, width=1, depth=depth)
    x = ntkfix.data.sphere(jax.random.PRNGKey(0), 50, 64)
    sym = ntkfix.infinite_ntk(spec, x, backend="closed_form")
    cross = ntkfix.infinite_ntk(spec, x, jnp.array(np.array(x)), backend="closed_form")
    np.testing.assert_allclose(cross, sym, rtol=1e-12)


def test_linearized_trajectory_refuses_a_non_symmetric_kernel():
    with pytest.raises(ValueError, match="k_train_train must be symmetric"):
        ntkfix.linearized_trajectory(np.array([[1.0, 1.0], [0.0, 1.0]]), np.ones(2), np.zeros(2), 1.0, [0, 1])


def test_arora_init_standard_parameterization_is_the_same_network():
    x = ntkfix.data.sphere(jax.random.PRNGKey(1), 7, 4)
    ntk = ntkfix.arora_spec(4, width=32)
    std = ntkfix.MLP(4, 32, 1, W_std=2.0, out_W_std=1.0, parameterization="standard")
    p_ntk, p_std = ntkfix.arora_init(ntk, jax.random.PRNGKey(0)), ntkfix.arora_init(std, jax.random.PRNGKey(0))
    np.testing.assert_allclose(std.apply(p_std, x), ntk.apply(p_ntk, x), rtol=1e-12)


def test_bound_refuses_a_kernel_in_another_normalisation():
    x = ntkfix.data.sphere(jax.random.PRNGKey(1), 20, 4)
    y = np.sign(np.arange(20) % 2 - 0.5)
    ntkfix.generalization_bound(ntkfix.arora_kernel(x), y)  # fine
    with pytest.raises(ValueError, match="mean diagonal"):
        ntkfix.generalization_bound(3.0 * ntkfix.arora_kernel(x), y)


def test_low_precision_and_odd_inputs():
    spec = ntkfix.MLP(3, 4, 1)
    p16 = spec.init(jax.random.PRNGKey(0), jnp.bfloat16)
    assert spec.apply(p16, jnp.ones((2, 3), jnp.bfloat16)).dtype == jnp.bfloat16
    with pytest.raises(TypeError, match="float32 or float64 for training"):
        ntkfix.train(spec, p16, np.ones((2, 3)), np.ones((2, 1)), steps=1)
    with pytest.raises(TypeError, match="dtype must be a floating dtype"):
        spec.init(jax.random.PRNGKey(0), jnp.int32)
    with pytest.raises(TypeError, match="key must be a jax.random key"):
        spec.init(0)
    p = spec.init(jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match=r"params\[1\] should be \(\)"):
        spec.apply([p[0], jnp.ones(3), p[2]], np.ones((2, 3)))
    fap = ntkfix.FixedPattern(spec, p)
    assert fap == fap and fap != ntkfix.FixedPattern(spec, p)  # identity, never an array truth value


@pytest.mark.parametrize("factor, exc", [(0.0, ValueError), (-1.0, ValueError), ("a", TypeError)])
def test_divergence_factor_validation(factor, exc):
    spec = ntkfix.MLP(3, 4, 1)
    p = spec.init(jax.random.PRNGKey(0))
    with pytest.raises(exc, match="divergence_factor"):
        ntkfix.train(spec, p, np.ones((2, 3)), np.ones((2, 1)), steps=1, divergence_factor=factor)
    res = ntkfix.train(spec, p, np.eye(3)[:2], np.ones((2, 1)), steps=2, divergence_factor=float("inf"))
    assert np.isfinite(res.history.train_loss).all()


def test_corrupt_labels_and_dtype_checks():
    key = jax.random.PRNGKey(0)
    out, idx = ntkfix.data.corrupt_labels(key, jnp.array([0, 1, 0, 1]), 2, 0.5)  # jax input is fine
    assert len(idx) == 2 and (out[idx] != np.array([0, 1, 0, 1])[idx]).all()
    assert len(ntkfix.data.corrupt_labels(key, np.zeros(25, int), 2, 0.1)[1]) == 3  # 2.5 rounds up
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 1\]"):
        ntkfix.data.corrupt_labels(key, np.array([0, 5]), 2, 0.5)
    with pytest.raises(ValueError, match="n_classes must be an integer >= 2"):
        ntkfix.data.corrupt_labels(key, np.zeros(4, int), 1, 0.5)
    x = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(TypeError, match="dtype must be a floating dtype"):
        ntkfix.data.from_arrays(x, np.arange(20) % 2, key, dtype=np.int32)
