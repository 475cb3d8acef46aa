"""Sample-size sweep: NTK complexity and test errors as n_train grows, at fixed label noise.

One cell = (dataset, p, n_train, seed); the rows and their columns are documented in
``analysis.experiments.generalization``. Set ``n_test`` explicitly so that every n_train
shares the same test set (for the real datasets it depends only on the seed and n_test).
"""

from __future__ import annotations

import functools

from analysis.experiments import Experiment
from analysis.experiments.generalization import SCHEMA, check, run_cell

EXPERIMENT = Experiment(
    name="generalization_size",
    schema=SCHEMA,
    run_cell=run_cell,
    check=functools.partial(check, name="generalization_size"),
    description="NTK complexity and test error of kernels and trained FAP/ReLU nets vs n_train",
)
