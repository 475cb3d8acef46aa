"""Sample-size sweep: NTK complexity and test errors as n_train grows, at fixed label noise.

One cell = (dataset, p, n_train, seed); the rows and their columns are documented in
``analysis.experiments.generalization``. Set ``n_test`` explicitly so that every n_train
shares the same test set (for the real datasets it depends only on the seed and n_test).
"""

from __future__ import annotations

from analysis.experiments import generalization

EXPERIMENT = generalization.experiment(
    "generalization_size",
    "NTK complexity and test error of kernels and trained FAP/ReLU nets vs n_train",
)
