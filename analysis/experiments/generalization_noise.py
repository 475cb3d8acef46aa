"""Label-noise sweep: NTK complexity and test errors as the label corruption p grows.

Arora et al.'s (2019, arXiv:1901.08584) classic experiment, with the finite-width FAP
NTK next to the infinite-width NTK and H^infty, and trained FAP and ReLU nets. One cell
= (dataset, p, seed); the rows and their columns are documented in
``analysis.experiments.generalization``.
"""

from __future__ import annotations

from analysis.experiments import generalization

EXPERIMENT = generalization.experiment(
    "generalization_noise",
    "NTK complexity and test error of kernels and trained FAP/ReLU nets vs label noise",
)
