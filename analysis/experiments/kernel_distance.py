"""Distance between the empirical NTK at initialization and the infinite-width NTK.

One cell = (width, depth, seed): draws the network with ``seed``, computes its
empirical NTK on n points uniform on the unit sphere S^{d-1} (drawn with
``data_seed``; ReLU == FAP at initialization, so one kernel serves both) and
compares it with the infinite-width NTK of the same architecture. Theory: the
relative Frobenius distance decays like width^(-1/2).
"""

from __future__ import annotations

import jax

import ntkfix
from analysis.config import Knob, defaults
from analysis.experiments import Experiment
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
    metrics=Knob(["fro", "spectral", "alignment", "cka"], choices=tuple(ntkfix.KERNEL_METRICS)),
)
SCHEMA = defaults(KNOBS)


def run_cell(cell):
    spec = spec_for(cell)
    x = ntkfix.data.sphere(jax.random.PRNGKey(cell["data_seed"]), cell["n"], cell["d"])
    params = spec.init(jax.random.PRNGKey(cell["seed"]))
    emp = ntkfix.empirical_ntk(spec, params, x)
    inf = ntkfix.infinite_ntk(spec, x)
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
