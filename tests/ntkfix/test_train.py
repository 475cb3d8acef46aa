"""Full-batch GD: FAP = kernel GD exactly, FAP = ReLU at step 0, seeds, recompilation, errors."""

import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkfix

N, NT, D, M = 6, 4, 10, 16
STEPS, EVERY = 300, 7  # 300 = 42 * 7 + 6: exercises the final partial chunk


def _data(k=1, seed=1):
    kx, kt = jax.random.split(jax.random.PRNGKey(seed))
    x = jax.random.normal(kx, (N, D))
    xt = jax.random.normal(kt, (NT, D))
    y = jnp.concatenate([jnp.sin(x[:, :1]), jnp.cos(x[:, 1:2])], axis=1)[:, :k]
    yt = jnp.concatenate([jnp.sin(xt[:, :1]), jnp.cos(xt[:, 1:2])], axis=1)[:, :k]
    return x, y, xt, yt


def _explicit_kernel_gd(model, p0, x, y, xt, lr, steps, layers):
    """Independent reference: full NTK by jacrev, linear recursion iterated in NumPy."""
    Kf = np.asarray(
        ntkfix.kernels.empirical_ntk_autodiff(model, p0, x, trace=False, trainable=layers)
    )
    Ks = np.asarray(
        ntkfix.kernels.empirical_ntk_autodiff(model, p0, xt, x, trace=False, trainable=layers)
    )
    n, k = y.shape
    Ktt = Kf.transpose(0, 2, 1, 3).reshape(n * k, n * k)
    Kst = Ks.transpose(0, 2, 1, 3).reshape(len(xt) * k, n * k)
    f, ft = np.asarray(model.apply(p0, x)).ravel(), np.asarray(model.apply(p0, xt)).ravel()
    yv, out, out_t, eta = np.asarray(y).ravel(), {}, {}, lr / n
    for t in range(max(steps) + 1):
        out[t], out_t[t] = f.reshape(n, k), ft.reshape(len(xt), k)
        r = f - yv
        f, ft = f - eta * Ktt @ r, ft - eta * Kst @ r
    return np.stack([out[t] for t in steps]), np.stack([out_t[t] for t in steps]), Ktt


@pytest.fixture(scope="module", params=[(1, None), (2, 0.5)], ids=["k1-nobias", "k2-bias"])
def fap_run(request):
    """One hidden layer, readout frozen (trainable=0): the FAP net is linear in W_0."""
    k, b_std = request.param
    spec = ntkfix.MLP(D, M, 1, out_dim=k, b_std=b_std)
    p0 = spec.init(jax.random.PRNGKey(0))
    model = ntkfix.FixedPattern(spec, p0)
    x, y, xt, yt = _data(k)
    res = ntkfix.train(
        model,
        p0,
        x,
        y,
        steps=STEPS,
        trainable=0,
        x_test=xt,
        y_test=yt,
        record_every=EVERY,
        track=("ntk", "linearized", "outputs"),
    )
    return dict(spec=spec, p0=p0, model=model, x=x, y=y, xt=xt, yt=yt, res=res)


def test_fap_one_hidden_frozen_readout_is_kernel_gd(fap_run):
    r = fap_run
    res = r["res"]
    steps = list(range(0, STEPS + 1, EVERY)) + [STEPS]
    assert res.history.step.tolist() == steps
    ref, ref_t, Ktt = _explicit_kernel_gd(
        r["model"], r["p0"], r["x"], r["y"], r["xt"], res.lr, steps, 0
    )
    lam = np.linalg.eigvalsh(Ktt)
    np.testing.assert_allclose(res.lr, N / lam[-1], rtol=1e-10)
    np.testing.assert_allclose([res.lambda_min0, res.lambda_max0], lam[[0, -1]], rtol=1e-9)
    scale = np.abs(np.asarray(r["model"].apply(r["p0"], r["x"]) - r["y"])).max()
    np.testing.assert_allclose(res.outputs_train, ref, rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(res.outputs_test, ref_t, rtol=0, atol=1e-9 * scale)
    h = res.history
    assert np.all(h.lin_gap_train <= 1e-9 * scale) and np.all(h.lin_gap_test <= 1e-9 * scale)
    assert np.all(h.ntk_drift <= 1e-12)  # gates and readout fixed: the kernel cannot move
    # the recorded losses are those of the reference outputs
    loss = 0.5 * ((ref - np.asarray(r["y"])) ** 2).sum((1, 2)) / N
    loss_t = 0.5 * ((ref_t - np.asarray(r["yt"])) ** 2).sum((1, 2)) / NT
    np.testing.assert_allclose(h.train_loss, loss, rtol=1e-9, atol=1e-12 * loss[0])
    np.testing.assert_allclose(h.test_loss, loss_t, rtol=1e-9, atol=1e-12 * loss_t[0])


def test_kernel_gd_loss_is_monotone(fap_run):
    """lr = n / lambda_max: every mode contracts by 0 <= 1 - lr lam / n <= 1."""
    loss = fap_run["res"].history.train_loss
    assert np.all(np.diff(loss) <= 1e-14 * loss[0])
    assert loss[-1] < 1e-3 * loss[0]


def test_predicted_rate_matches_fap_run(fap_run):
    res = fap_run["res"]
    rates = res.rates(eps=1e-8)
    lam_min, lam_max, lr = res.lambda_min0, res.lambda_max0, res.lr
    assert rates.predicted_rate == pytest.approx((1 - lr * lam_min / N) ** 2, rel=1e-12)
    assert lam_max * lr / N == pytest.approx(1.0, rel=1e-12)
    assert rates.fit.r2 > 1 - 1e-5  # (pinned jax: 1 - 2e-13; other PRNG draws fit less cleanly)
    assert rates.fitted_rate == pytest.approx(rates.predicted_rate, rel=2e-3)  # pinned jax: 9e-8
    # kernel GD: L_t <= rho^(2t) L_0, so the predicted count bounds the measured one
    assert (
        rates.steps_measured is not None and rates.steps_measured <= rates.steps_predicted + EVERY
    )


def test_fap_equals_relu_at_step_zero():
    spec = ntkfix.MLP(D, 8, 2, out_dim=2, b_std=0.1)
    p0 = spec.init(jax.random.PRNGKey(3))
    x, y, xt, yt = _data(2)
    kw = dict(steps=4, record_every=2, x_test=xt, y_test=yt)
    relu = ntkfix.train(spec, p0, x, y, **kw)
    fap = ntkfix.train(ntkfix.FixedPattern(spec, p0), p0, x, y, **kw)
    row_r, row_f = relu.to_frame().iloc[0], fap.to_frame().iloc[0]
    np.testing.assert_allclose(row_f.to_numpy(float), row_r.to_numpy(float), rtol=1e-12, atol=1e-15)
    assert relu.lr == pytest.approx(fap.lr, rel=1e-12) and relu.history.ntk_drift[0] == 0.0
    assert relu.history.lin_gap_train[0] <= 1e-14
    # after training they differ: the ReLU net's gates move
    assert not np.allclose(relu.history.train_loss[-1], fap.history.train_loss[-1], rtol=1e-8)
    assert relu.history.ntk_drift[-1] > 0 and fap.history.ntk_drift[-1] > 0


def test_relu_loss_decreases_and_frame():
    spec = ntkfix.MLP(D, 32, 2)
    p0 = spec.init(jax.random.PRNGKey(0))
    x, y, _, _ = _data(1)
    res = ntkfix.train(spec, p0, x, y[:, 0], steps=40, record_every=10)
    df = res.to_frame()
    assert list(df.columns) == [
        "step",
        "train_loss",
        "ntk_drift",
        "lambda_min",
        "lin_gap_train",
        "lr",
    ]
    assert df["step"].tolist() == [0, 10, 20, 30, 40]
    assert np.all(np.diff(df["train_loss"]) < 0)
    # frozen layers keep their values, trained ones move
    res0 = ntkfix.train(spec, p0, x, y, steps=3, trainable="readout", track=())
    for l, (W, _) in enumerate(spec.dense(res0.params)):
        moved = not np.array_equal(np.asarray(W), np.asarray(p0[2 * l][0]))
        assert moved == (l == spec.depth)


@pytest.mark.parametrize("network", ["fap", "relu"])
def test_vmapped_seeds_equal_single_runs(network):
    spec = ntkfix.MLP(D, 8, 2, b_std=0.2)
    x, y, xt, yt = _data(1)
    kw = dict(steps=9, record_every=4, x_test=xt, y_test=yt)
    many = ntkfix.train_many(spec, [5, 11], x, y, network=network, **kw)
    frame = many.to_frame()
    assert frame["seed"].tolist() == [5] * 4 + [11] * 4
    for i, s in enumerate([5, 11]):
        p0 = spec.init(jax.random.PRNGKey(s))
        model = ntkfix.FixedPattern(spec, p0) if network == "fap" else spec
        one = ntkfix.train(model, p0, x, y, **kw)
        got = frame[frame.seed == s].drop(columns="seed").reset_index(drop=True)
        np.testing.assert_allclose(
            got.to_numpy(float), one.to_frame().to_numpy(float), rtol=1e-10, atol=1e-14
        )
        for a, b in zip(
            jax.tree_util.tree_leaves(many.params),
            jax.tree_util.tree_leaves(one.params),
            strict=True,
        ):
            np.testing.assert_allclose(a[i], b, rtol=1e-10, atol=1e-14)
        assert ntkfix.convergence_rates(many, seed=i).predicted_rate == pytest.approx(
            one.rates().predicted_rate, rel=1e-10
        )


def test_no_recompile_and_deterministic(caplog):
    spec = ntkfix.MLP(D, 8, 2)
    p0 = spec.init(jax.random.PRNGKey(0))
    x, y, xt, yt = _data(1)
    kw = dict(steps=5, record_every=2, x_test=xt, y_test=yt, lr=0.3)
    first = ntkfix.train(spec, p0, x, y, **kw)
    again = ntkfix.train(spec, p0, x, y, **kw)
    for c in first.to_frame().columns:
        np.testing.assert_array_equal(first.to_frame()[c], again.to_frame()[c])
    kw["lr"] = 0.2
    x2, y2 = np.asarray(2 * x), np.asarray(y + 1)  # same shapes, new values
    with caplog.at_level(logging.WARNING, logger="jax"), jax.log_compiles():
        ntkfix.train(spec, p0, x2, y2, **kw)
    # only the training run matters (newer jax also logs small eager helper ops)
    compiles = [m for r in caplog.records if "Compiling" in (m := r.getMessage()) and "_run" in m]
    assert compiles == []


def test_divergence_reports_first_recorded_step():
    """FAP frozen-readout run at lr = 3 n / lambda_max: the stiffest mode grows by 2 per step."""
    spec = ntkfix.MLP(D, M, 1)
    p0 = spec.init(jax.random.PRNGKey(0))
    model = ntkfix.FixedPattern(spec, p0)
    x, y, _, _ = _data(1)
    Kf = ntkfix.empirical_ntk(model, p0, x, trainable=0)
    lr = 3 * N / np.linalg.eigvalsh(np.asarray(Kf))[-1]
    f0 = np.asarray(model.apply(p0, x))
    traj = ntkfix.linearized_trajectory(Kf, y, f0, lr, np.arange(61))
    loss = 0.5 * ((traj.train - np.asarray(y)) ** 2).sum((1, 2)) / N
    ref = loss[0] + 0.5 * (np.asarray(y) ** 2).sum() / N
    factor = 1e4
    first = int(np.argmax(loss > factor * ref))
    assert first > 0
    with pytest.raises(
        ntkfix.errors.TrainingDiverged, match=rf"at recorded step {first} with lr={lr:.6g}"
    ) as e:
        ntkfix.train(
            model, p0, x, y, steps=60, lr=lr, trainable=0, divergence_factor=factor, track=()
        )
    assert isinstance(e.value, ValueError) and isinstance(e.value, FloatingPointError)
    assert e.value.step == first and e.value.loss == pytest.approx(loss[first], rel=1e-6)
    with pytest.raises(ntkfix.errors.TrainingDiverged, match=r"training diverged \(seed 4\)"):
        ntkfix.train_many(spec, [4], x, y, steps=4000, lr=1e3 * lr, record_every=1000, track=())


def test_nonfinite_loss_is_divergence():
    spec = ntkfix.MLP(D, 4, 1)
    p = spec.init(jax.random.PRNGKey(0))
    p[0] = (p[0][0].at[0, 0].set(np.inf), None)
    x, y, _, _ = _data(1)
    with pytest.raises(
        ntkfix.errors.TrainingDiverged, match="train loss (nan|inf) at recorded step 0"
    ):
        ntkfix.train(spec, p, x, y, steps=2, lr=0.1, track=())


SPEC = ntkfix.MLP(D, 4, 1)
P0 = SPEC.init(jax.random.PRNGKey(0))
X, Y, XT, YT = (np.asarray(a) for a in _data(1))


def _train(**kw):
    args = dict(model=SPEC, params=P0, x=X, y=Y, steps=2)
    args.update(kw)
    return ntkfix.train(**args)


@pytest.mark.parametrize(
    "kw, exc, msg",
    [
        (
            dict(y=np.ones((N, 2))),
            ValueError,
            r"y must have shape \(n, out_dim\) = \(n, 1\), got \(6, 2\)",
        ),
        (dict(y=np.ones((N - 1, 1))), ValueError, "y has 5 rows but x has 6"),
        (dict(y=np.ones((N, 1, 1))), ValueError, r"y must have shape \(n, out_dim\)"),
        (dict(y=np.full((N, 1), np.nan)), ValueError, "y contains NaN or inf"),
        (
            dict(
                model=ntkfix.MLP(D, 4, 1, out_dim=2),
                params=ntkfix.MLP(D, 4, 1, out_dim=2).init(jax.random.PRNGKey(0)),
                y=np.ones(N),
            ),
            ValueError,
            "1-D targets are only accepted for out_dim=1",
        ),
        (dict(x_test=XT), ValueError, "x_test was given without y_test"),
        (dict(y_test=YT), ValueError, "y_test was given without x_test"),
        (dict(x_test=XT, y_test=YT[:2]), ValueError, "y_test has 2 rows but x_test has 4"),
        (
            dict(x_test=XT[:, :2], y_test=YT),
            ValueError,
            "x_test has 2 features but the network expects in_dim=10",
        ),
        (dict(x=X[:, :2]), ValueError, "x has 2 features"),
        (dict(steps=0), ValueError, "steps must be an integer >= 1, got 0"),
        (dict(steps=2.5), TypeError, "steps must be an integer >= 1"),
        (dict(record_every=0), ValueError, "record_every must be an integer >= 1"),
        (dict(lr=-1.0), ValueError, "lr must be a finite number >= 0"),
        (dict(lr=0.0), ValueError, "lr must be > 0"),
        (dict(lr=np.nan), ValueError, "lr must be a finite number"),
        (dict(trainable=5), ValueError, "trainable index 5 is out of range"),
        (dict(track=("ntk", "weights")), ValueError, "unknown track entry 'weights'"),
        (dict(track=3), TypeError, "track must be a sequence of names"),
        (dict(model="net"), TypeError, "model must be an ntkfix.MLP"),
        (dict(params=P0[:1]), ValueError, "params has 1 entries"),
        (
            dict(divergence_factor=-1),
            ValueError,
            r"divergence_factor must be > 0 \(inf disables the check\)",
        ),
    ],
)
def test_train_errors(kw, exc, msg):
    with pytest.raises(exc, match=msg):
        _train(**kw)


@pytest.mark.parametrize(
    "call, exc, msg",
    [
        (
            lambda: ntkfix.train_many(SPEC, [], X, Y, steps=1),
            ValueError,
            "seeds must be a non-empty 1-D sequence",
        ),
        (lambda: ntkfix.train_many(SPEC, [[1.0]], X, Y, steps=1), ValueError, "seeds must be"),
        (
            lambda: ntkfix.train_many(SPEC, [0], X, Y, steps=1, network="gated"),
            ValueError,
            "unknown network 'gated'",
        ),
        (
            lambda: ntkfix.train_many(ntkfix.FixedPattern(SPEC, P0), [0], X, Y, steps=1),
            TypeError,
            "spec must be an ntkfix.MLP",
        ),
        (
            lambda: ntkfix.train(SPEC, P0, np.zeros((N, D)), Y, steps=1, trainable=0, track=()),
            ValueError,
            r"lr=None needs lambda_max\(Theta_0\) > 0",
        ),
    ],
)
def test_train_many_and_lr_errors(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


def test_one_dimensional_targets_accepted():
    a = _train(y=Y[:, 0], track=())
    b = _train(track=())
    np.testing.assert_array_equal(a.history.train_loss, b.history.train_loss)


def test_public_names():
    training = """train train_many TrainOptions linearized_trajectory convergence_rates
    fit_geometric_rate predicted_loss_rate steps_to_reach to_relu""".split()
    assert set(training) <= set(ntkfix.__all__)
    results = """TrainResult History LinearizedTrajectory Rates GeometricFit
    ConversionCertificate EquivalenceCheck""".split()
    assert set(results) <= set(ntkfix.results.__all__)
    assert "TrainingDiverged" in ntkfix.errors.__all__
    for name in ntkfix.__all__:
        assert getattr(ntkfix, name) is not None, name


# ---- found in review (moved from test_review_fixes.py) ----
@pytest.mark.parametrize("factor, exc", [(0.0, ValueError), (-1.0, ValueError), ("a", TypeError)])
def test_divergence_factor_validation(factor, exc):
    spec = ntkfix.MLP(3, 4, 1)
    p = spec.init(jax.random.PRNGKey(0))
    with pytest.raises(exc, match="divergence_factor"):
        ntkfix.train(spec, p, np.ones((2, 3)), np.ones((2, 1)), steps=1, divergence_factor=factor)
    res = ntkfix.train(
        spec, p, np.eye(3)[:2], np.ones((2, 1)), steps=2, divergence_factor=float("inf")
    )
    assert np.isfinite(res.history.train_loss).all()


def test_a_kernel_too_large_for_the_eigensolver_is_refused_before_any_work():
    """n k above jax's dense-eigensolver limit (LAPACK's 32-bit workspace: a (40000,
    40000) Theta_0 crashed inside the compiled run with an OverflowError) is refused up
    front, naming n, k and the largest n that fits."""
    spec = ntkfix.MLP(2, 4, 1, out_dim=10)
    p0 = spec.init(jax.random.PRNGKey(0))
    x, y = jnp.ones((3300, 2)), jnp.zeros((3300, 10))
    with pytest.raises(ValueError, match=r"\(33000, 33000\) NTK .* use n <= 3276 points"):
        ntkfix.train(spec, p0, x, y, steps=1)
