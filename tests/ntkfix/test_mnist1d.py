"""ntkfix.data.mnist1d: the package's own data and split, tasks as for digits."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from ntkfix import data

mnist1d_data = pytest.importorskip("mnist1d.data")


@pytest.fixture(scope="module")
def raw():
    args = mnist1d_data.get_dataset_args()
    args.num_samples, args.seed = 300, 7
    return mnist1d_data.make_dataset(args)


def test_standard_split_and_features_are_the_packages(raw):
    ds = data.mnist1d(jax.random.PRNGKey(0), num_samples=300, seed=7, center=False, sphere=False)
    assert ds.x_train.shape == (240, 40) and ds.x_test.shape == (60, 40)
    np.testing.assert_allclose(ds.x_train, raw["x"], rtol=1e-6)
    np.testing.assert_allclose(ds.x_test, raw["x_test"], rtol=1e-6)
    np.testing.assert_array_equal(ds.meta["labels_train"], raw["y"])
    np.testing.assert_array_equal(np.argmax(np.asarray(ds.y_test), 1), raw["y_test"])
    assert ds.name == "mnist1d[multiclass]" and ds.meta["seed"] == 7


def test_binary_tasks_and_options(raw):
    key = jax.random.PRNGKey(1)
    ds = data.mnist1d(key, "3v8", num_samples=300, seed=7)
    keep = np.isin(raw["y"], (3, 8))
    assert ds.x_train.shape == (keep.sum(), 40) and ds.y_train.shape == (keep.sum(), 1)
    np.testing.assert_array_equal(np.asarray(ds.y_train)[:, 0] > 0, raw["y"][keep] == 3)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(ds.x_train), axis=1), 1, rtol=1e-6)
    eo = data.mnist1d(key, "even_odd", num_samples=300, seed=7, n_train=100, n_test=20)
    assert eo.x_train.shape == (100, 40) and eo.x_test.shape == (20, 40)
    with pytest.raises(ValueError, match="n_train must be in 1..240"):
        data.mnist1d(key, num_samples=300, seed=7, n_train=1000)
    with pytest.raises(ValueError, match="test_fraction"):
        data.mnist1d(key, num_samples=300, seed=7, test_fraction=0.5)
    with pytest.raises(ValueError, match="unknown task"):
        data.mnist1d(key, "cats", num_samples=300)
