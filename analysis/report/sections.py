"""The table of report sections: experiment name -> the function that builds its section.

The order is the report's (``analysis.report.suite.SUITE``).
"""

from __future__ import annotations

from analysis.report.cnn import dynamics_cnn_section, kernel_distance_cnn_section
from analysis.report.depth import dynamics_depth_section, width_threshold_depth_section
from analysis.report.generalization import (
    generalization_noise_section,
    generalization_scale_section,
    generalization_size_section,
)
from analysis.report.kernels import kernel_distance_section
from analysis.report.section import SectionFn
from analysis.report.trained import generalization_trained_section
from analysis.report.training import conversion_section, dynamics_section, width_threshold_section

SECTIONS: dict[str, SectionFn] = {
    "kernel_distance": kernel_distance_section,
    "kernel_distance_cnn": kernel_distance_cnn_section,
    "dynamics": dynamics_section,
    "dynamics_cnn": dynamics_cnn_section,
    "width_threshold": width_threshold_section,
    "conversion": conversion_section,
    "conversion_cnn": conversion_section,  # the conversion table, arch = "cnn"
    "generalization_noise": generalization_noise_section,
    "generalization_size": generalization_size_section,
    "width_threshold_depth": width_threshold_depth_section,
    "dynamics_depth": dynamics_depth_section,
    "generalization_scale": generalization_scale_section,
    "generalization_trained": generalization_trained_section,
}
# Sections ``ntkfix plot`` draws but ``ntkfix report`` does not run (none now: the report
# runs generalization_scale's default grid, n to 4,000, about 30 s; its point is n =
# 50,000, generalization_scale_full.toml, with results in docs/benchmarks.md).
NOT_IN_SUITE: tuple[str, ...] = ()
