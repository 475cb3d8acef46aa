"""Kernels read in row blocks: streamed kernel_distance and top-k spectrum == in memory."""

from __future__ import annotations

import numpy as np
import pytest

import ntkfix
from ntkfix._kernels import streamed


@pytest.fixture
def kernels(tmp_path, monkeypatch):
    monkeypatch.setattr(streamed, "STREAM_BYTES", 8 * 60 * 7)  # blocks of 7 rows
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5))
    A = (x @ x.T + 0.1 * np.eye(60)).astype(np.float32)
    B = A + (0.01 * rng.normal(size=(60, 60))).astype(np.float32)
    B = (B + B.T) / 2
    maps = []
    for name, K in (("A", A), ("B", B)):
        np.save(tmp_path / f"{name}.npy", K)
        maps.append(np.load(tmp_path / f"{name}.npy", mmap_mode="r"))
    return A, B, maps


@pytest.mark.parametrize("metric", ntkfix.kernels.METRICS)
def test_streamed_distance_equals_in_memory(kernels, metric):
    A, B, (mA, mB) = kernels
    ref = ntkfix.kernel_distance(A, B, metric)
    got = ntkfix.kernel_distance(mA, mB, metric)
    assert got == pytest.approx(ref, rel=1e-9 if metric != "spectral" else 1e-6)


def test_streamed_distance_errors(kernels, tmp_path):
    A, B, (mA, mB) = kernels
    np.save(tmp_path / "C.npy", A[:, :50])
    with pytest.raises(ValueError, match="shape mismatch"):
        ntkfix.kernel_distance(mA, np.load(tmp_path / "C.npy", mmap_mode="r"))
    with pytest.raises(ValueError, match="cka"):
        m = np.load(tmp_path / "C.npy", mmap_mode="r")
        ntkfix.kernel_distance(m, m, "cka")


def test_top_k_spectrum_equals_the_full_one(kernels):
    A, _, (mA, _) = kernels
    full = ntkfix.spectrum(A.astype(np.float64))
    top = ntkfix.spectrum(mA, top_k=4)
    np.testing.assert_allclose(top.eigenvalues, full.eigenvalues[:4], rtol=1e-9)
    assert top.lambda_max == pytest.approx(full.lambda_max, rel=1e-9)
    with pytest.raises(ValueError, match="top_k must be < n"):
        ntkfix.spectrum(mA, top_k=60)
    with pytest.raises(ValueError, match="top_k"):
        ntkfix.spectrum(mA, top_k=0)
