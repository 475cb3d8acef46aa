"""Distance between the empirical NTK at initialization and the infinite-width NTK.

One cell = (width, depth, seed): draws the network with ``seed``, computes its
empirical NTK on n points uniform on the unit sphere S^{d-1} (drawn with
``data_seed``; ReLU == FAP at initialization, so one kernel serves both) and
compares it with the infinite-width NTK of the same architecture. Theory: the
relative Frobenius distance decays like width^(-1/2).

``arch = "cnn"`` (``_arch``): the same measurement for a stax CNN on digits images, the
finite FAP-CNN NTK (= the ReLU CNN's at theta_0) against neural-tangents' CNTK, with
``width`` the channels C of each of the ``depth`` conv layers (experiment
``kernel_distance_cnn``: the same cells with arch = "cnn" by default).
"""

from __future__ import annotations

import dataclasses

import jax

import ntkfix
from analysis.config import Knob, defaults
from analysis.experiments import Experiment, _arch
from analysis.experiments._task import knobs, spec_for

KNOBS = knobs(
    width=256,
    depth=3,
    seed=0,
    n=256,
    d=16,
    data_seed=0,
    W_std=2**0.5,
    b_std=0.0,
    parameterization=Knob("ntk", choices=("ntk", "standard")),
    metrics=Knob(["fro", "spectral", "alignment", "cka"], choices=tuple(ntkfix.kernels.METRICS)),
    **_arch.KNOBS,
)
SCHEMA = defaults(KNOBS)
CNN_KNOBS = {**KNOBS, "arch": dataclasses.replace(KNOBS["arch"], default="cnn")}


def model_and_inputs(cell):
    """(model, theta_0, inputs) of a cell: the MLP on the sphere or the CNN on digits."""
    if cell["arch"] == "cnn":
        x = _arch.digits_images(cell["data_seed"], cell["n"])
        triple = _arch.cnn(cell)
        return triple, _arch.cnn_params(triple, cell["seed"], x), x
    spec = spec_for(cell)
    x = ntkfix.data.sphere(jax.random.PRNGKey(cell["data_seed"]), cell["n"], cell["d"])
    return spec, spec.init(jax.random.PRNGKey(cell["seed"])), x


def run_cell(cell):
    model, params, x = model_and_inputs(cell)
    emp = ntkfix.empirical_ntk(model, params, x)
    inf = ntkfix.infinite_ntk(model, x)
    row = {f"dist_{m}": ntkfix.kernel_distance(emp, inf, m) for m in cell["metrics"]}
    s_emp, s_inf = ntkfix.spectrum(emp), ntkfix.spectrum(inf)
    row.update(
        lambda_min_empirical=s_emp.lambda_min,
        lambda_min_infinite=s_inf.lambda_min,
        lambda_max_empirical=s_emp.lambda_max,
        lambda_max_infinite=s_inf.lambda_max,
    )
    return row


EXPERIMENT = Experiment(
    name="kernel_distance",
    knobs=KNOBS,
    run_cell=run_cell,
    description="empirical NTK at init vs infinite-width NTK, over width and depth",
)
CNN_EXPERIMENT = Experiment(
    name="kernel_distance_cnn",
    knobs=CNN_KNOBS,
    run_cell=run_cell,
    description="finite FAP-CNN NTK at init vs neural-tangents' CNTK, over channels",
)
