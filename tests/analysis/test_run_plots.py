"""Single-run figures: a TrainResult or History in one call (``analysis.run_plots``); the
drawn lines are the run's recorded numbers."""

import jax
import numpy as np
import pytest

import ntkfix
from analysis import plots, run_plots


@pytest.fixture(scope="module")
def runs():
    x = ntkfix.data.sphere(jax.random.PRNGKey(0), 12, 4)
    xt = ntkfix.data.sphere(jax.random.PRNGKey(1), 6, 4)
    y = jax.numpy.sign(x[:, :1])
    yt = jax.numpy.sign(xt[:, :1])
    spec = ntkfix.MLP(4, 32, 2)
    p0 = spec.init(jax.random.PRNGKey(2))
    common = dict(steps=20, record_every=5, x_test=xt, y_test=yt, track=("ntk", "linearized"))
    fap = ntkfix.train(ntkfix.FixedPattern(spec, p0), p0, x, y, **common)
    relu = ntkfix.train(spec, p0, x, y, **common)
    many = ntkfix.train_many(spec, [0, 1], x, y, steps=20, record_every=5)
    return fap, relu, many


def _lines(fig):
    return {ln.get_label(): ln for ax in fig.axes for ln in ax.get_lines()}


def test_loss_curves_takes_a_train_result(runs, tmp_path):
    fap, _, _ = runs
    fig = plots.loss_curves(fap, path=tmp_path / "run")  # the call that raised KeyError: 'depth'
    assert (tmp_path / "run.png").exists() and (tmp_path / "run.pdf").exists()
    assert [ax.get_title() for ax in fig.axes] == ["loss", "drift", "linearized gap"]
    lines = _lines(fig)
    h = fap.history
    for label, values in (
        ("train loss", h.train_loss),
        ("test loss", h.test_loss),
        ("ntk drift", h.ntk_drift),
        ("lin gap train", h.lin_gap_train),
        ("lin gap test", h.lin_gap_test),
    ):
        np.testing.assert_array_equal(lines[label].get_xdata(), h.step)
        np.testing.assert_allclose(lines[label].get_ydata(), np.where(values > 0, values, np.nan))


def test_history_frame_and_dict_of_runs(runs):
    fap, relu, many = runs
    for run in (fap.history, fap.to_frame(), fap.history.to_frame()):
        lines = _lines(run_plots.training_run(run))
        np.testing.assert_allclose(lines["train loss"].get_ydata(), fap.history.train_loss)
    lines = _lines(plots.loss_curves({"FAP": fap, "ReLU": relu}))
    drift = relu.history.ntk_drift
    np.testing.assert_allclose(lines["ReLU ntk drift"].get_ydata()[1:], drift[1:])
    assert drift[0] == 0 and np.isnan(lines["ReLU ntk drift"].get_ydata()[0])
    np.testing.assert_allclose(lines["FAP train loss"].get_ydata(), fap.history.train_loss)
    fig = run_plots.training_run(many)  # train_many: a line per seed
    lines = _lines(fig)
    assert {"train loss seed 0", "train loss seed 1"} <= set(lines)
    np.testing.assert_allclose(lines["train loss seed 1"].get_ydata(), many.history.train_loss[1])


def test_not_a_run():
    with pytest.raises(TypeError, match="run must be a TrainResult, a History"):
        run_plots.training_run({"a": 3})
    with pytest.raises(ValueError, match="empty dict"):
        run_plots.training_run({})
