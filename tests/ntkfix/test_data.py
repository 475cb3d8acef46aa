"""ntkfix.data: synthetic and bundled datasets, preprocessing, splits, label corruption.

Checked against independent recomputation from the raw arrays (scikit-learn's loaders,
numpy) using the indices the loaders report in ``Dataset.meta``.
"""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits

import ntkfix
from ntkfix import data
from tests.helpers import RTOL

R = RTOL["float64"]
KEY = jax.random.PRNGKey(0)


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# ---- synthetic ----------------------------------------------------------------------------
def test_sphere_uniform_moments():
    n, d = 4000, 3
    x = np.asarray(data.sphere(KEY, n, d))
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=R)
    # uniform on S^{d-1}: E[x] = 0, E[x x^T] = I / d; entries' sd <= 1/sqrt(n)
    assert np.abs(x.mean(axis=0)).max() < 5 / math.sqrt(n)
    assert np.abs(x.T @ x / n - np.eye(d) / d).max() < 5 / math.sqrt(n)
    np.testing.assert_array_equal(x, np.asarray(data.sphere(KEY, n, d)))


def test_synthetic_teacher_labels_and_noise():
    ds = data.synthetic(KEY, 30, 10, 4)
    t = ds.meta["teacher"]
    assert isinstance(t, data.Teacher) and (t.spec.depth, t.spec.width) == (1, 64)
    # unit output variance on the sphere: NNGP(x, x) = out_W_std^2 W_std^2 / (2 d) = 1/d
    np.testing.assert_allclose(t.scale, math.sqrt(4), rtol=R)
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=R)
        ref = 2.0 * np.asarray(t.spec.apply(t.params, x))
        np.testing.assert_allclose(y, ref, rtol=1e-9, atol=1e-12)
    assert ds.meta["kind"] == "regression" and ds.meta["mean"] is None  # no centering here

    f = lambda x: jnp.sin(3 * x[:, 0]) + x[:, 1]
    noisy = data.synthetic(KEY, 2000, 0, 3, target=f, noise=0.1)
    resid = np.asarray(noisy.y_train[:, 0]) - np.asarray(f(noisy.x_train))
    assert abs(resid.std() / 0.1 - 1) < 4 / math.sqrt(2 * 2000) and abs(
        resid.mean()
    ) < 4 * 0.1 / math.sqrt(2000)
    assert noisy.n_test == 0 and noisy.x_test.shape == (0, 3)

    b = data.synthetic(KEY, 40, 10, 3, target=f, binary=True, p=0.25)
    clean = np.where(np.asarray(f(b.x_train)) >= 0, 1.0, -1.0)
    flipped = np.flatnonzero(clean != np.asarray(b.y_train[:, 0]))
    np.testing.assert_array_equal(flipped, b.meta["corrupted"])
    assert len(flipped) == 10
    np.testing.assert_array_equal(np.where(np.asarray(f(b.x_test)) >= 0, 1.0, -1.0), b.y_test[:, 0])


# ---- bundled data -------------------------------------------------------------------------
def test_digits_pair_preprocessing():
    ds = data.digits(KEY, "3 vs 8")
    raw = load_digits()
    rows = np.flatnonzero((raw.target == 3) | (raw.target == 8))
    x, t = raw.data[rows], raw.target[rows]
    tr, te = ds.meta["train_index"], ds.meta["test_index"]
    assert len(tr) + len(te) == len(rows) and len(te) == round(0.2 * len(rows))
    assert len(np.intersect1d(tr, te)) == 0
    mean = x[tr].mean(axis=0)
    np.testing.assert_allclose(ds.x_train, _unit(x[tr] - mean), rtol=R, atol=R)
    np.testing.assert_allclose(ds.x_test, _unit(x[te] - mean), rtol=R, atol=R)
    np.testing.assert_array_equal(ds.y_train[:, 0], np.where(t[tr] == 3, 1.0, -1.0))
    np.testing.assert_array_equal(ds.y_test[:, 0], np.where(t[te] == 3, 1.0, -1.0))
    assert ds.name == "digits[3v8]" and list(ds.meta["classes"]) == [8, 3]
    assert ds.x_train.dtype == jnp.float64 and ds.y_train.shape == (ds.n_train, 1)
    for same in ((3, 8), "3v8", "3-8"):
        np.testing.assert_array_equal(data.digits(KEY, same).x_train, ds.x_train)


def test_digits_even_odd_and_multiclass():
    raw = load_digits()
    eo = data.digits(KEY, "even_odd", n_train=200, n_test=50)
    assert (eo.n_train, eo.n_test) == (200, 50)
    t = raw.target[eo.meta["train_index"]]
    np.testing.assert_array_equal(eo.y_train[:, 0], np.where(t % 2 == 0, 1.0, -1.0))

    mc = data.digits(KEY, "multiclass", n_train=100, n_test=20)
    t = raw.target[mc.meta["train_index"]]
    np.testing.assert_array_equal(mc.y_train, np.eye(10)[t])
    np.testing.assert_array_equal(mc.meta["labels_train"], t)
    cen = data.digits(KEY, "multiclass", n_train=100, n_test=20, targets="centered")
    np.testing.assert_allclose(cen.y_train, np.eye(10)[t] - 0.1, rtol=R, atol=R)
    np.testing.assert_allclose(np.asarray(cen.y_train).sum(axis=1), 0.0, atol=1e-12)


def test_breast_cancer_standardized():
    ds = data.breast_cancer(KEY, standardize=True, test_fraction=0.25)
    raw = load_breast_cancer()
    tr, te = ds.meta["train_index"], ds.meta["test_index"]
    x = raw.data
    mu, sd = x[tr].mean(axis=0), x[tr].std(axis=0)
    np.testing.assert_allclose(ds.x_train, _unit((x[tr] - mu) / sd), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ds.x_test, _unit((x[te] - mu) / sd), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(
        ds.y_test[:, 0], np.where(raw.target[te] == 1, 1.0, -1.0)
    )  # benign +1
    assert (ds.n_train, ds.n_test, ds.in_dim) == (569 - 142, 142, 30)


# ---- corruption, determinism ---------------------------------------------------------------
@pytest.mark.parametrize("p", [0.0, 0.1, 1 / 3, 0.5, 1.0])
def test_binary_corruption_flips_exactly_round_pn(p):
    clean = data.digits(KEY, "0v1")
    noisy = data.digits(KEY, "0v1", p=p)
    np.testing.assert_array_equal(noisy.x_train, clean.x_train)
    np.testing.assert_array_equal(noisy.y_test, clean.y_test)
    changed = np.flatnonzero(np.asarray(noisy.y_train != clean.y_train)[:, 0])
    np.testing.assert_array_equal(changed, noisy.meta["corrupted"])
    assert len(changed) == round(p * clean.n_train)
    np.testing.assert_array_equal(noisy.y_train[changed], -clean.y_train[changed])


def test_multiclass_corruption_uses_other_classes():
    clean = data.digits(KEY, "multiclass", n_train=300, n_test=10)
    noisy = data.digits(KEY, "multiclass", n_train=300, n_test=10, p=0.4)
    a, b = clean.meta["labels_train"], noisy.meta["labels_train"]
    bad = noisy.meta["corrupted"]
    assert len(bad) == 120
    np.testing.assert_array_equal(np.flatnonzero(a != b), bad)
    np.testing.assert_array_equal(noisy.y_train, np.eye(10)[b])
    shifts = (b[bad] - a[bad]) % 10  # uniform on 1..9
    assert set(np.unique(shifts)) <= set(range(1, 10)) and len(np.unique(shifts)) >= 8
    two = data.corrupt_labels(KEY, np.array([0, 1, 1, 0]), 2, 1.0)[0]
    np.testing.assert_array_equal(two, [1, 0, 0, 1])


def test_same_key_same_numbers_other_key_other_split():
    a = data.digits(KEY, "even_odd", n_train=50, n_test=20, p=0.2)
    b = data.digits(jax.random.PRNGKey(0), "even_odd", n_train=50, n_test=20, p=0.2)
    for f in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    np.testing.assert_array_equal(a.meta["corrupted"], b.meta["corrupted"])
    c = data.digits(jax.random.PRNGKey(1), "even_odd", n_train=50, n_test=20, p=0.2)
    assert not np.array_equal(a.meta["train_index"], c.meta["train_index"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.name = "other"
    with pytest.raises(TypeError):
        a.meta["p"] = 0.0


# ---- user files ---------------------------------------------------------------------------
def test_npz_and_csv_match_arrays(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = np.array(["cat", "dog"] * 20)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(40) % 3)
    ref = data.from_arrays(x, np.arange(40) % 3, KEY)
    got = data.from_npz(tmp_path / "d.npz", KEY)
    assert got.meta["kind"] == "multiclass" and got.name == "d.npz"
    np.testing.assert_array_equal(got.x_train, ref.x_train)
    np.testing.assert_array_equal(got.y_train, ref.y_train)

    import pandas as pd

    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "kind": y, "c": x[:, 2]}).to_csv(
        tmp_path / "d.csv", index=False
    )
    ds = data.from_csv(tmp_path / "d.csv", "kind", KEY, p=0.25)
    ref = data.from_arrays(x, y, KEY, p=0.25)
    np.testing.assert_allclose(ds.x_train, ref.x_train, rtol=1e-12)
    np.testing.assert_array_equal(ds.y_train, ref.y_train)
    assert list(ds.meta["classes"]) == ["cat", "dog"] and len(ds.meta["corrupted"]) == 8
    tr = ds.meta["train_index"]
    clean = np.where(y[tr] == "dog", 1.0, -1.0)  # the larger label in sorted order is +1
    assert (clean != np.asarray(ds.y_train[:, 0])).sum() == 8

    reg = data.from_arrays(x, x[:, 0] * 0.5 + 0.1, KEY, sphere=False, center=False)
    assert reg.meta["kind"] == "regression"
    np.testing.assert_allclose(
        reg.y_train[:, 0], 0.5 * np.asarray(reg.x_train[:, 0]) + 0.1, rtol=1e-12
    )


def _csv(tmp_path, **cols):
    import pandas as pd

    path = tmp_path / "bad.csv"
    pd.DataFrame(cols).to_csv(path, index=False)
    return path


X4 = np.arange(8.0).reshape(4, 2) + 1.0


@pytest.mark.parametrize(
    "call, exc, msg",
    [
        (lambda t: data.digits(KEY, "banana"), ValueError, r"unknown task 'banana'"),
        (lambda t: data.digits(KEY, "3v3"), ValueError, r"two different digits"),
        (lambda t: data.digits(KEY, (1, 2, 3)), ValueError, r"unknown task"),
        (lambda t: data.digits(KEY, p=-0.1), ValueError, r"p must lie in \[0, 1\]"),
        (lambda t: data.digits(KEY, p=1.5), ValueError, r"p must lie in \[0, 1\]"),
        (lambda t: data.digits(KEY, p="x"), TypeError, r"p must be a real number"),
        (lambda t: data.digits(0), TypeError, r"key must be a jax.random key"),
        (
            lambda t: data.digits(KEY, test_fraction=1.0),
            ValueError,
            r"test_fraction must lie in \[0, 1\)",
        ),
        (
            lambda t: data.digits(KEY, n_train=10**6),
            ValueError,
            r"n_train must be an integer in \[1, 288\]",
        ),
        (
            lambda t: data.digits(KEY, n_test=360),
            ValueError,
            r"n_test must be an integer in \[0, 359\]",
        ),
        (
            lambda t: data.digits(KEY, "multiclass", targets="pm"),
            ValueError,
            r"unknown targets 'pm'",
        ),
        (
            lambda t: data.breast_cancer(KEY, colour=1),
            TypeError,
            r"unexpected keyword argument 'colour'",
        ),
        (
            lambda t: data.synthetic(KEY, 10, 2, 3, target=3),
            TypeError,
            r"target must be 'teacher' or a callable",
        ),
        (
            lambda t: data.synthetic(KEY, 10, 2, 3, target="student"),
            ValueError,
            r"unknown target 'student'",
        ),
        (
            lambda t: data.synthetic(KEY, 10, 2, 3, noise=-1),
            ValueError,
            r"noise must be a finite number >= 0",
        ),
        (lambda t: data.synthetic(KEY, 10, 2, 3, p=0.1), ValueError, r"regression task"),
        (lambda t: data.synthetic(KEY, 10, -1, 3), ValueError, r"n_test must be an integer >= 0"),
        (
            lambda t: data.synthetic(KEY, 10, 2, 3, target=lambda x: jnp.ones(12), binary=True),
            ValueError,
            r"fewer than 2 classes",
        ),
        (
            lambda t: data.synthetic(KEY, 10, 2, 3, target=lambda x: x[:3]),
            ValueError,
            r"target\(x\) must return shape",
        ),
        (lambda t: data.from_arrays(X4, [1, 1, 1, 1], KEY), ValueError, r"fewer than 2 classes"),
        (
            lambda t: data.from_arrays(X4, [0, 1, 2, 0], KEY, task="binary"),
            ValueError,
            r"exactly 2 classes",
        ),
        (
            lambda t: data.from_arrays(X4, [0, 1, 1, 0], KEY, task="ordinal"),
            ValueError,
            r"unknown task 'ordinal'",
        ),
        (
            lambda t: data.from_arrays(np.where(X4 > 3, np.nan, X4), [0, 1, 1, 0], KEY),
            ValueError,
            r"x contains NaN or inf \(5 entries, first at row 1, column 1\)",
        ),
        (
            lambda t: data.from_arrays(X4.astype(str), [0, 1, 1, 0], KEY),
            TypeError,
            r"x must hold numbers",
        ),
        (lambda t: data.from_arrays(X4, [0, 1, 1], KEY), ValueError, r"y has 3 rows but x has 4"),
        (lambda t: data.from_arrays(X4, [0.5, np.nan, 1, 0], KEY), ValueError, r"y contains NaN"),
        (
            lambda t: data.from_arrays(X4 * 0 + 1.0, [0, 1, 1, 0], KEY, test_fraction=0.5),
            ValueError,
            r"zero norm",
        ),
        (
            lambda t: data.from_npz(t / "missing.npz", KEY),
            FileNotFoundError,
            r"path: no such file .*missing.npz",
        ),
        (lambda t: data.from_npz(3, KEY), TypeError, r"path must be a file path"),
        (lambda t: data.from_csv(t / "missing.csv", "y", KEY), FileNotFoundError, r"no such file"),
        (
            lambda t: data.from_csv(_csv(t, a=[1.0, 2, 3, 4], y=[0, 1, 0, 1]), "label", KEY),
            ValueError,
            r"label column 'label' is not in .*columns are \['a', 'y'\]",
        ),
        (
            lambda t: data.from_csv(_csv(t, a=["u", "v", "w", "z"], y=[0, 1, 0, 1]), "y", KEY),
            TypeError,
            r"non-numeric: \['a'\]",
        ),
        (
            lambda t: data.from_csv(_csv(t, a=[1.0, np.nan, 3, 4], y=[0, 1, 0, 1]), "y", KEY),
            ValueError,
            r"missing values \(NaN\) in columns \['a'\]",
        ),
        (
            lambda t: data.from_csv(_csv(t, y=[0, 1, 0, 1]), "y", KEY),
            ValueError,
            r"no feature columns",
        ),
    ],
)
@pytest.mark.filterwarnings("ignore::ntkfix.errors.DataQualityWarning")  # constant rows repeat
def test_bad_input(tmp_path, call, exc, msg):
    with pytest.raises(exc, match=msg):
        call(tmp_path)


def test_npz_missing_array(tmp_path):
    np.savez(tmp_path / "d.npz", features=X4, y=[0, 1, 1, 0])
    with pytest.raises(
        ValueError, match=r"has no array 'x' \(argument x\); it holds \['features', 'y'\]"
    ):
        data.from_npz(tmp_path / "d.npz", KEY)
    ds = data.from_npz(tmp_path / "d.npz", KEY, x="features", test_fraction=0.5, center=False)
    assert ds.in_dim == 2 and ds.meta["kind"] == "binary"


def test_dataset_feeds_the_bounds():
    """End to end: complexity of clean vs fully corrupted labels (Arora kernel)."""
    clean = data.digits(KEY, "0v1", n_train=60, n_test=10)
    noisy = data.digits(KEY, "0v1", n_train=60, n_test=10, p=0.5)
    H = ntkfix.arora_kernel(clean.x_train)
    assert ntkfix.complexity(H, clean.y_train) < ntkfix.complexity(H, noisy.y_train)


# ---- found in review (moved from test_review_fixes.py) ----
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


# ---- the knobs of prepare: Split and Preprocessing ----
def test_split_and_preprocessing_records_validate_their_fields():
    assert data.Split().test_fraction == 0.2 and data.Preprocessing() == data.Preprocessing()
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.Split().n_train = 3
    for call, exc, msg in [
        (lambda: data.Split(test_fraction=1.0), ValueError, r"test_fraction must lie in \[0, 1\)"),
        (lambda: data.Split(n_train=0), ValueError, r"n_train must be None or an integer >= 1"),
        (lambda: data.Split(n_test=2.5), ValueError, r"n_test must be None or an integer >= 0"),
        (lambda: data.Split(drop_duplicates=1), TypeError, "drop_duplicates must be True or"),
        (lambda: data.Split(indices=[1, 2, 3]), TypeError, r"indices must be None or a pair"),
        (lambda: data.Split(indices=(np.zeros((2, 2)), [1])), ValueError, "train indices must"),
        (lambda: data.Preprocessing(center="yes"), TypeError, "center must be True or False"),
        (lambda: data.Preprocessing(p=2), ValueError, r"p must lie in \[0, 1\]"),
        (lambda: data.Preprocessing(targets="pm"), ValueError, "unknown targets 'pm'"),
        (lambda: data.Preprocessing(dtype=np.int32), TypeError, "dtype must be a floating"),
    ]:
        with pytest.raises(exc, match=msg):
            call()
    fixed = data.Split(indices=([0, 1], [2]))
    assert fixed.indices[0].dtype == np.int64 and not fixed.indices[0].flags.writeable


def test_prepare_takes_the_records_and_loaders_the_keywords():
    x = np.random.default_rng(0).normal(size=(20, 3))
    y = np.arange(20) % 2
    split, prep = data.Split(n_test=5, drop_duplicates=True), data.Preprocessing(p=0.2)
    ds = data.prepare(
        x,
        y,
        KEY,
        kind="binary",
        name="toy",
        classes=np.array([0, 1]),
        split=split,
        preprocessing=prep,
    )
    same = data.from_arrays(x, y, KEY, name="toy", n_test=5, drop_duplicates=True, p=0.2)
    for a in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(ds, a), getattr(same, a))
    assert ds.meta["p"] == 0.2 and ds.meta["duplicates_dropped"] is True
    with pytest.raises(TypeError, match=r"split must be an ntkfix.data.Split"):
        data.prepare(x, y, KEY, kind="binary", name="toy", classes=[0, 1], split=(y, y))
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'; the options are"):
        data.from_arrays(x, y, KEY, colour=1)
    by_old_name = data.from_arrays(x, y, KEY, split=(np.arange(15), np.arange(15, 20)))
    by_new_name = data.from_arrays(x, y, KEY, indices=(np.arange(15), np.arange(15, 20)))
    np.testing.assert_array_equal(by_old_name.meta["test_index"], np.arange(15, 20))
    np.testing.assert_array_equal(by_old_name.x_train, by_new_name.x_train)
    with pytest.raises(TypeError, match="pass the fixed split once"):
        data.from_arrays(x, y, KEY, split=(y, y), indices=(y, y))
