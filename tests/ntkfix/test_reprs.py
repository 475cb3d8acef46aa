"""Short reprs of the result objects: a few lines of shapes and key numbers, never arrays."""

import jax
import jax.numpy as jnp
import numpy as np

import ntkfix


def _short(text: str, max_lines: int = 4) -> None:
    assert "array(" not in text and "Array(" not in text and "[[" not in text, text
    assert len(text.splitlines()) <= max_lines, text
    assert len(text) < 400, text


def _problem(n=24, d=5):
    x = ntkfix.data.sphere(jax.random.PRNGKey(1), n, d)
    y = np.sign(np.asarray(jax.random.normal(jax.random.PRNGKey(2), (n, 1))))
    return x, y


def test_generalization_bound_and_complexity_reprs():
    x, y = _problem()
    K = np.asarray(ntkfix.arora_kernel(x), np.float64)
    bound = ntkfix.generalization_bound(K, y)
    text = repr(bound)
    _short(text)
    q = float(y[:, 0] @ np.linalg.solve(K, y[:, 0]))  # independent of the library's solver
    assert f"{np.sqrt(2 * q / len(y)):.4g}" in text
    assert f"n={len(y)}" in text and "lambda_min=" in text and "confidence" in text
    info = ntkfix.complexity(K, y, return_info=True)
    text = repr(info)
    _short(text, 1)
    assert text.startswith("Complexity(") and f"{q:.4g}" in text and f"n={len(y)}" in text


def test_train_result_and_history_reprs():
    x, y = _problem()
    spec = ntkfix.MLP(in_dim=5, width=16, depth=2)
    p0 = spec.init(jax.random.PRNGKey(0))
    res = ntkfix.train(spec, p0, x, y, steps=20, record_every=10)
    text = repr(res)
    _short(text, 5)
    n_numbers = sum(np.size(a) for a in jax.tree_util.tree_leaves(p0))
    assert f"{n_numbers:,} numbers" in text and "n_train=24" in text
    assert "3 recorded steps 0..20" in text and "train_loss" in text
    batch = ntkfix.train_many(spec, [0, 1, 2], x, y, steps=10, record_every=10)
    text = repr(batch)
    _short(text, 5)
    assert "3 seeds" in text


def test_certificate_repr_is_short():
    x, y = _problem()
    spec = ntkfix.MLP(in_dim=5, width=16, depth=1)
    p0 = spec.init(jax.random.PRNGKey(0))
    fap = ntkfix.FixedPattern(spec, p0)
    w = ntkfix.train(fap, p0, x, y, steps=20, record_every=20, track=()).params
    _, _, cert = ntkfix.to_relu(fap, w, x)
    _short(repr(cert), 2)
    _short(repr(cert.check(x)), 2)


def test_spectrum_repr_is_short_and_names_the_extremes():
    x = jax.random.normal(jax.random.PRNGKey(3), (60, 5))
    s = ntkfix.spectrum(ntkfix.arora_kernel(x / jnp.linalg.norm(x, axis=1, keepdims=True)))
    r = repr(s)
    assert len(r) < 200 and r.startswith("Spectrum(n=60, lambda_max=") and r.endswith(", ...])")
    assert f"lambda_min={s.lambda_min:.4g}" in r
