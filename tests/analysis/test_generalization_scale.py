"""generalization_scale: NTK regression vs n on MNIST-1D, one solve for every noise level,
kernels on disk past memory; its numbers re-derived with numpy in float64."""

import jax
import numpy as np
import pytest

import ntkfix
from analysis import experiments
from analysis.config import ConfigError
from analysis.experiments import generalization_scale as gs
from analysis.runner import run_experiment

CONFIG = """
experiment = "generalization_scale"
[grid]
on_disk = ["never", "always"]
[params]
dataset = "mnist1d_3v5"
n_train = 150
n_test = 80
noise = [0.0, 0.25]
seed = 1
"""


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    cfg = experiments.config_from_text(CONFIG)
    return run_experiment(cfg, tmp_path_factory.mktemp("scale"), progress=False)


def test_every_noise_level_from_one_solve_matches_numpy(rows):
    assert len(rows) == 4 and set(rows["p"]) == {0.0, 0.25}
    k_data, _ = jax.random.split(jax.random.PRNGKey(1))
    for p in (0.0, 0.25):
        ds = ntkfix.data.mnist1d(k_data, "3v5", n_train=150, n_test=80, p=p)
        x, xt = np.asarray(ds.x_train, np.float64), np.asarray(ds.x_test, np.float64)
        y, yt = np.asarray(ds.y_train).reshape(-1), np.asarray(ds.y_test).reshape(-1)
        # depth 1, hidden layer only: Theta = (2/d) x.x' (pi - t) / (2 pi) on the sphere
        c = np.clip(x @ x.T, -1, 1)
        K = 2 / x.shape[1] * c * (np.pi - np.arccos(c)) / (2 * np.pi)
        ct = np.clip(xt @ x.T, -1, 1)
        Kt = 2 / x.shape[1] * ct * (np.pi - np.arccos(ct)) / (2 * np.pi)
        alpha = np.linalg.solve(K, y)
        want_c = np.sqrt(2 * y @ alpha / len(y))
        want_e = np.mean(np.where(Kt @ alpha >= 0, 1, -1) != yt)
        got = rows[rows["p"] == p]
        assert list(got["kernel_on_disk"]) == [False, True]
        assert list(got["solver_used"]) == ["cholesky", "float32_pcg"]  # a memory map: PCG
        np.testing.assert_allclose(got["complexity"], want_c, rtol=1e-4)
        assert list(got["test_error"]) == [want_e] * 2
        assert (got["n_corrupted"] == round(p * 150)).all()
        np.testing.assert_allclose(got["kernel_scale"], 2 * np.mean(np.diag(K)), rtol=1e-6)
    # label noise raises the complexity (0.25 of the labels flipped)
    by_p = rows.groupby("p")["complexity"].mean()
    assert by_p[0.25] > by_p[0.0]


def test_configs_validate_and_errors_name_the_sizes():
    for variant in (True, False):
        experiments.shipped_config("generalization_scale", quick=variant)
    experiments.load_config(
        experiments.resources.files("analysis.configs") / "generalization_scale_full.toml"
    )
    with pytest.raises(ConfigError, match="4000 training and 1000 test rows.*num_samples"):
        experiments.config_from_text(
            CONFIG.replace("n_train = 150", "n_train = 4001").replace(
                "mnist1d_3v5", "mnist1d_even_odd"
            )
        )
    with pytest.raises(ConfigError, match="unknown dataset 'mnist1d_3v3'"):
        experiments.config_from_text(CONFIG.replace("mnist1d_3v5", "mnist1d_3v3"))
    with pytest.raises(ConfigError, match="scratch = '/no/such/dir' is not an existing folder"):
        experiments.config_from_text(
            CONFIG.replace("seed = 1", "seed = 1\nscratch = '/no/such/dir'")
        )
    with pytest.raises(ConfigError, match="noise"):
        experiments.config_from_text(CONFIG.replace("[0.0, 0.25]", "[0.0, 1.5]"))


def test_kernels_go_to_disk_when_memory_is_short(monkeypatch):
    monkeypatch.setattr(gs, "available_memory", lambda: 16 * 1000**2 - 1)
    assert gs.kernel_on_disk(1000, "auto") and not gs.kernel_on_disk(999, "auto")
    assert gs.kernel_on_disk(10, "always") and not gs.kernel_on_disk(10**6, "never")


def test_mnist1d_split_sizes_follow_the_generator():
    from analysis.experiments._datasets import mnist1d_split

    ds = ntkfix.data.mnist1d(jax.random.PRNGKey(0), "even_odd", num_samples=1234, sphere=False)
    assert mnist1d_split("even_odd", 1234) == (ds.n_train, ds.n_test) == (984, 246)
    ds = ntkfix.data.mnist1d(jax.random.PRNGKey(0), "3v5", sphere=False)
    assert mnist1d_split("3v5", 5000) == (ds.n_train, ds.n_test)
