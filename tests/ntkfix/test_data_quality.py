"""Data-quality checks at load time (``ntkfix.data._quality``) and the IllConditionedKernel
hint for nearly parallel inputs; every number against a direct recomputation."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import ntkfix
from ntkfix import data
from ntkfix._generalization.linalg import parallel_share

KEY = jax.random.PRNGKey(0)


def _scaled_csv(path, n=60, big=1000.0, seed=0):
    """n rows, 5 features of unit scale and one of scale ``big``; labels from feature 0."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    x[:, 5] = big * (3.0 + rng.normal(size=n))
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(6)])
    frame["label"] = (x[:, 0] > 0).astype(int)
    frame.to_csv(path, index=False)
    return frame


def test_scale_warning_names_the_spread_and_standardize(tmp_path):
    frame = _scaled_csv(tmp_path / "t.csv")
    with pytest.warns(
        ntkfix.errors.DataQualityWarning, match=r"t\.csv: feature scales differ"
    ) as rec:
        ds = data.from_csv(tmp_path / "t.csv", "label", KEY)
    assert "pass standardize=True" in str(rec[0].message)
    raw = frame.drop(columns="label").to_numpy()[ds.meta["train_index"]]
    std = raw.std(axis=0)
    want = std.max() / np.median(std)
    assert ds.meta["scale_spread"] == pytest.approx(want, rel=1e-12)
    assert f"{want:.3g}x" in str(rec[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data.from_csv(tmp_path / "t.csv", "label", KEY, standardize=True)  # no warning


def test_duplicates_across_split_reported_and_dropped(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 3))
    x[30:] = x[:10]  # rows 30..39 repeat rows 0..9
    y = (x[:, 0] > 0).astype(int)
    with pytest.warns(ntkfix.errors.DataQualityWarning, match=r"of 10 test rows have an exact dup"):
        ds = data.from_arrays(x, y, KEY, n_test=10)
    tr, te = ds.meta["train_index"], ds.meta["test_index"]
    want = [i for i in te if any(np.array_equal(x[i], x[j]) for j in tr)]
    assert sorted(ds.meta["duplicates"].tolist()) == sorted(want) and len(want) > 0
    assert not ds.meta["duplicates_dropped"]
    with pytest.warns(ntkfix.errors.DataQualityWarning, match=r"dropped from the test set"):
        dd = data.from_arrays(x, y, KEY, n_test=10, drop_duplicates=True)
    assert dd.n_test == 10 - len(want)
    assert set(dd.meta["test_index"].tolist()) == set(te.tolist()) - set(want)
    np.testing.assert_array_equal(dd.meta["train_index"], tr)
    with pytest.raises(TypeError, match="drop_duplicates must be True or False"):
        data.from_arrays(x, y, KEY, drop_duplicates="yes")


def test_parallel_share_direct():
    A = np.array([[1.0, 0.995, 0.1], [0.995, 1.0, 0.2], [0.1, 0.2, 4.0]])
    # normalized: (0,1) 0.995 > 0.99; (0,2) 0.05, (1,2) 0.1: 2 of the 6 ordered pairs
    assert parallel_share(A) == pytest.approx(2 / 6)


def wine_csv(path):
    """scikit-learn's wine, classes 0 and 1, written as a CSV with a 'label' column."""
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame.rename(columns={"target": "label"})
    frame[frame.label < 2].to_csv(path, index=False)
    return path


def _ntk(ds):
    spec = ntkfix.MLP(in_dim=ds.in_dim, width=512, depth=2)
    return ntkfix.empirical_ntk(spec, spec.init(KEY, jnp.float32), ds.x_train)


@pytest.mark.filterwarnings("ignore::ntkfix.errors.DataQualityWarning")
def test_ill_conditioned_kernel_suggests_standardize(tmp_path):
    path = wine_csv(tmp_path / "wine01.csv")
    ds = data.from_csv(path, "label", KEY, dtype=jnp.float32)  # a user's default dtype
    K = _ntk(ds)
    for jitter in (0.0, "auto"):
        with pytest.raises(ntkfix.errors.IllConditionedKernel, match=r"standardize=True") as e:
            ntkfix.complexity(K, ds.y_train, jitter=jitter)
    share = parallel_share(np.asarray(K, np.float64))
    assert share > 0.05
    assert f"{share:.0%} of its pairs of rows are nearly parallel" in str(e.value)
    ok = data.from_csv(path, "label", KEY, standardize=True, dtype=jnp.float32)
    assert ntkfix.complexity(_ntk(ok), ok.y_train) > 0
    # duplicates alone: singular, but no advice to standardize
    x = np.asarray(ok.x_train)
    x = np.concatenate([x, x[:2]])
    with pytest.raises(ntkfix.errors.IllConditionedKernel) as e:
        ntkfix.complexity(ntkfix.arora_kernel(x), np.ones(len(x)))
    assert "standardize" not in str(e.value)
