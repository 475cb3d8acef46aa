"""Infinite-width kernels written to disk: == in memory, resumable (also after kill -9),
refused when disk or time are short."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import ntkfix
from ntkfix._kernels import budget as _budget

SPEC = ntkfix.MLP(in_dim=5, width=1, depth=2, b_std=0.2)
X = np.random.default_rng(0).normal(size=(40, 5))
ROOT = Path(__file__).resolve().parents[2]


class Stop(Exception):
    pass


def _stop_after(k):
    def on_tile(done, total):
        if done == k:
            raise Stop

    return on_tile


@pytest.mark.parametrize(
    "to_disk, in_memory, kw",
    [
        (ntkfix.infinite_ntk_to_disk, ntkfix.infinite_ntk, {}),
        (ntkfix.infinite_ntk_to_disk, ntkfix.infinite_ntk, {"trainable": "hidden"}),
        (ntkfix.infinite_nngp_to_disk, ntkfix.infinite_nngp, {}),
    ],
)
def test_on_disk_equals_in_memory_and_resumes_after_an_interruption(
    tmp_path, to_disk, in_memory, kw
):
    path = tmp_path / "K.npy"
    with pytest.raises(Stop):
        to_disk(SPEC, X, path, block_size=8, on_tile=_stop_after(4), progress=False, **kw)
    assert len((tmp_path / "K.npy.progress").read_text().splitlines()) == 1 + 4
    K = to_disk(SPEC, X, path, block_size=8, progress=False, **kw)
    ref = np.asarray(in_memory(SPEC, X, backend="closed_form", block_size=8, **kw))
    np.testing.assert_array_equal(K, ref)
    # other inputs for the same file are refused
    with pytest.raises(ValueError, match="another fingerprint"):
        to_disk(SPEC, X + 1, path, block_size=8, progress=False, **kw)


_CHILD = """
import sys, time, numpy as np, jax
jax.config.update("jax_enable_x64", True)
import ntkfix
spec = ntkfix.MLP(in_dim=5, width=1, depth=2, b_std=0.2)
x = np.random.default_rng(0).normal(size=(300, 5))
ntkfix.infinite_ntk_to_disk(spec, x, sys.argv[1], block_size=20, progress=False,
                            on_tile=lambda d, t: time.sleep(0.02))
"""


def test_resumes_after_kill_9(tmp_path):
    path = tmp_path / "K.npy"
    side = tmp_path / "K.npy.progress"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(path)], env=env, cwd=ROOT)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if side.exists() and len(side.read_text().splitlines()) > 10:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the child finished (or failed) before it was killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    done = len(side.read_text().splitlines()) - 1
    assert 10 <= done < 120  # 120 tiles in all: 15 blocks of 20, i <= j
    x = np.random.default_rng(0).normal(size=(300, 5))
    K = ntkfix.infinite_ntk_to_disk(SPEC, x, path, block_size=20, progress=False)
    ref = np.asarray(ntkfix.infinite_ntk(SPEC, x, backend="closed_form", block_size=20))
    np.testing.assert_array_equal(K, ref)


def test_refused_when_disk_or_time_are_short(tmp_path, monkeypatch):
    class Usage:
        free = 30 * 30 * 8  # room for an n = 30 float64 kernel

    monkeypatch.setattr(_budget.shutil, "disk_usage", lambda p: Usage)
    with pytest.raises(
        ntkfix.errors.KernelTooLarge, match="on disk .* the largest n that fits is 30"
    ):
        ntkfix.infinite_ntk_to_disk(SPEC, X, tmp_path / "K.npy", progress=False)
    monkeypatch.undo()
    with pytest.raises(ntkfix.errors.KernelTooLarge, match="max_seconds"):
        ntkfix.infinite_nngp_to_disk(
            SPEC, X, tmp_path / "K.npy", block_size=8, max_seconds=1e-9, progress=False
        )
    assert not (tmp_path / "K.npy").exists()
    with pytest.raises(TypeError, match="spec must be an ntkfix.MLP"):
        ntkfix.infinite_ntk_to_disk("mlp", X, tmp_path / "K.npy")
    with pytest.raises(ValueError, match="x"):
        ntkfix.infinite_ntk_to_disk(SPEC, X[:, :3], tmp_path / "K.npy")
