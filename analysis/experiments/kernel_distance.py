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
from analysis.experiments import Experiment, require
from analysis.experiments import _common as c

SCHEMA = {
    "width": 256,
    "depth": 3,
    "seed": 0,
    "n": 256,
    "d": 16,
    "data_seed": 0,
    "W_std": 2**0.5,
    "b_std": 0.0,
    "parameterization": "ntk",
    "metrics": ["fro", "spectral", "alignment", "cka"],
}


def run_cell(cell):
    spec = c.spec_for(cell)
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


def check(cfg):
    for key in ("width", "depth", "n", "d"):
        low = min(cfg.grid.get(key, (cfg.params.get(key),)))
        require(low >= 1, f"kernel_distance: '{key}' must be >= 1, got {low}")
    for par in cfg.grid.get("parameterization", (cfg.params.get("parameterization"),)):
        require(
            par in ("ntk", "standard"),
            f"kernel_distance: parameterization must be 'ntk' or 'standard', got {par!r}",
        )
    bad = set(cfg.params.get("metrics", [])) - set(ntkfix.KERNEL_METRICS)
    require(
        not bad,
        f"kernel_distance: unknown metric(s) {sorted(bad)}; known: {list(ntkfix.KERNEL_METRICS)}",
    )


EXPERIMENT = Experiment(
    name="kernel_distance",
    schema=SCHEMA,
    run_cell=run_cell,
    check=check,
    description="empirical NTK at init vs infinite-width NTK, over width and depth",
)
