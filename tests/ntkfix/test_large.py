"""Kernels written to disk tile by tile: exact, resumable, refused when they cannot fit."""

import json

import jax
import numpy as np
import pytest

import ntkfix
from ntkfix import empirical_ntk_to_disk
from ntkfix._kernels import budget as _budget
from ntkfix._kernels import disk as _large
from ntkfix.errors import KernelTooLarge

SPEC = ntkfix.MLP(3, 12, 2, out_dim=2, b_std=0.1)
P0 = SPEC.init(jax.random.PRNGKey(0))
X = np.random.default_rng(0).normal(size=(29, 3))


class Stop(Exception):
    pass


def _stop_after(k):
    def on_tile(done, total):
        if done == k:
            raise Stop

    return on_tile


@pytest.mark.parametrize("fap", [False, True], ids=["relu", "fap"])
def test_interrupted_run_resumes_to_the_one_shot_kernel(tmp_path, fap):
    model = ntkfix.FixedPattern(SPEC, P0) if fap else SPEC
    params = jax.tree_util.tree_map(lambda a: a * 1.05, P0) if fap else P0
    path = tmp_path / "K.npy"
    with pytest.raises(Stop):
        empirical_ntk_to_disk(
            model, params, X, path, block_size=8, on_tile=_stop_after(3), progress=False
        )
    lines = (tmp_path / "K.npy.progress").read_text().splitlines()
    assert json.loads(lines[0])["shape"] == [29, 29] and lines[1:] == ["0 0", "0 1", "0 2"]
    seen = []
    K = empirical_ntk_to_disk(
        model, params, X, path, block_size=8, on_tile=lambda d, t: seen.append(d), progress=False
    )
    assert seen == list(range(4, 11))  # 10 tiles (4 x 4 upper triangle): only 7 were left
    one_shot = empirical_ntk_to_disk(
        model, params, X, tmp_path / "K1.npy", block_size=8, progress=False
    )
    in_memory = ntkfix.empirical_ntk(model, params, X, block_size=8)
    np.testing.assert_array_equal(K, one_shot)
    np.testing.assert_array_equal(K, np.asarray(in_memory))
    again = empirical_ntk_to_disk(
        model, params, X, path, block_size=8, on_tile=_stop_after(0), progress=False
    )
    np.testing.assert_array_equal(again, K)  # finished: nothing recomputed


def test_torn_record_line_is_ignored_and_trainable_subsets_work(tmp_path):
    path = tmp_path / "K.npy"
    with pytest.raises(Stop):
        empirical_ntk_to_disk(
            SPEC,
            P0,
            X,
            path,
            block_size=8,
            trainable="hidden",
            on_tile=_stop_after(2),
            progress=False,
        )
    with open(str(path) + ".progress", "a") as f:
        f.write("0 ")  # a crash in the middle of a record
    K = empirical_ntk_to_disk(
        SPEC, P0, X, path, block_size=8, trainable="hidden", progress=False, durable=True
    )
    np.testing.assert_array_equal(
        K, np.asarray(ntkfix.empirical_ntk(SPEC, P0, X, block_size=8, trainable="hidden"))
    )


def test_parts_fill_one_file(tmp_path):
    path = tmp_path / "K.npy"
    for i in range(3):
        part = (np.int64(i), 3)  # numpy integers accepted
        empirical_ntk_to_disk(SPEC, P0, X, path, block_size=8, part=part, progress=False)
    assert len(list(tmp_path.glob("K.npy.part*of3.progress"))) == 3
    np.testing.assert_array_equal(
        np.load(path), np.asarray(ntkfix.empirical_ntk(SPEC, P0, X, block_size=8))
    )


def test_other_inputs_and_unknown_files_are_refused(tmp_path):
    path = tmp_path / "K.npy"
    with pytest.raises(Stop):
        empirical_ntk_to_disk(
            SPEC, P0, X, path, block_size=8, on_tile=_stop_after(1), progress=False
        )
    with pytest.raises(ValueError, match="records a run with another fingerprint"):
        empirical_ntk_to_disk(SPEC, P0, X + 1, path, block_size=8, progress=False)
    with pytest.raises(ValueError, match="another block"):
        empirical_ntk_to_disk(SPEC, P0, X, path, block_size=4, progress=False)
    other = tmp_path / "other.npy"
    np.save(other, np.zeros(3))
    with pytest.raises(FileExistsError, match="has no progress file"):
        empirical_ntk_to_disk(SPEC, P0, X, other, progress=False)
    bad = [
        (dict(part=(2, 2)), ValueError, "part must be"),
        (dict(part=3), ValueError, "part must be"),
        (dict(part=(0, 1, 2)), ValueError, "part must be"),
        (dict(max_seconds=-1.0), ValueError, "max_seconds"),
        (dict(max_seconds=float("nan")), ValueError, "max_seconds"),
        (dict(durable="no"), TypeError, "durable must be True or False"),
        (dict(on_tile=5), TypeError, "on_tile must be None or a callable"),
    ]
    for kw, exc, msg in bad:
        with pytest.raises(exc, match=msg):
            empirical_ntk_to_disk(SPEC, P0, X, tmp_path / "p.npy", progress=False, **kw)
    assert not (tmp_path / "p.npy").exists()
    with pytest.raises(IsADirectoryError, match="is a folder"):
        empirical_ntk_to_disk(SPEC, P0, X, tmp_path, progress=False)


def test_refused_when_disk_memory_or_time_are_short(tmp_path, monkeypatch):
    class Usage:
        free = 40 * 40 * 8  # room for an n = 40 float64 kernel

    monkeypatch.setattr(_budget.shutil, "disk_usage", lambda p: Usage)
    big = np.zeros((100, 3))
    with pytest.raises(
        KernelTooLarge, match="needs 78.1 KiB on disk .* the largest n that fits is 40"
    ):
        empirical_ntk_to_disk(SPEC, P0, big, tmp_path / "K.npy", progress=False)
    monkeypatch.undo()
    monkeypatch.setattr(_budget, "available_memory", lambda: 50_000)
    with pytest.raises(KernelTooLarge, match="of memory .* the largest n that fits is"):
        empirical_ntk_to_disk(SPEC, P0, big, tmp_path / "K.npy", block_size=8, progress=False)
    monkeypatch.undo()
    with pytest.raises(KernelTooLarge, match="max_seconds"):
        empirical_ntk_to_disk(
            SPEC, P0, big, tmp_path / "K.npy", block_size=8, max_seconds=1e-9, progress=False
        )
    assert not (tmp_path / "K.npy").exists() and not (tmp_path / "K.npy.progress").exists()


def test_progress_lines_without_a_terminal(tmp_path, capsys):
    empirical_ntk_to_disk(SPEC, P0, X, tmp_path / "K.npy", block_size=8, progress=True)
    err = capsys.readouterr().err
    assert "[ntkfix] n=29: 10 of 10 tiles of 8" in err and "10/10 tiles (100%)" in err


def test_stopped_right_after_creating_the_file_resumes(tmp_path, monkeypatch):
    """Killed between creating the .npy and the first tile: the next call resumes (the
    progress record is written before the file, so the file is never orphaned)."""
    real = _large.open_memmap

    def create_then_stop(*args, **kwargs):
        real(*args, **kwargs)
        raise Stop

    path = tmp_path / "K.npy"
    monkeypatch.setattr(_large, "open_memmap", create_then_stop)
    with pytest.raises(Stop):
        empirical_ntk_to_disk(SPEC, P0, X, path, block_size=8, progress=False)
    assert path.exists()
    monkeypatch.setattr(_large, "open_memmap", real)
    K = empirical_ntk_to_disk(SPEC, P0, X, path, block_size=8, progress=False)
    np.testing.assert_array_equal(K, np.asarray(ntkfix.empirical_ntk(SPEC, P0, X, block_size=8)))
