"""ntkfix: fixed-activation-pattern networks and their Neural Tangent Kernels, in JAX.

Public API (everything else lives in private modules):

- networks: ``MLP``, ``FixedPattern``, and ``Network``, the contract every network
  implements (subclass it to bring your own network type);
- kernels: ``empirical_ntk``, ``infinite_ntk``, ``infinite_nngp`` and their
  ``*_to_disk`` twins (resumable, for kernels larger than memory); the kernel objects
  behind them, the reference autodiff kernel and the operation counts in the submodule
  ``ntkfix.kernels``;
- metrics: ``kernel_distance``, ``spectrum``;
- generalization: ``complexity``, ``generalization_bound``, ``arora_kernel``,
  ``arora_spec``, ``arora_init``, ``kernel_regression``, ``ntk_regression``;
- training: ``train``, ``train_many`` (options: ``TrainOptions``),
  ``linearized_trajectory``, ``convergence_rates``, ``fit_geometric_rate``,
  ``predicted_loss_rate``, ``steps_to_reach``;
- conversion: ``to_relu``;
- submodules: ``ntkfix.data`` (datasets), ``ntkfix.kernels``, ``ntkfix.results`` (the
  result types), ``ntkfix.errors`` (exceptions and warnings), ``ntkfix.host`` (memory,
  throughput, whether neural-tangents imports here, progress).
"""

from importlib import metadata as _metadata

from ntkfix import data as data
from ntkfix import errors as errors
from ntkfix import host as host
from ntkfix import kernels as kernels
from ntkfix import results as results
from ntkfix._conversion.convert import to_relu as to_relu
from ntkfix._core.nt import prepare_import as _prepare_neural_tangents
from ntkfix._dynamics.linearized import linearized_trajectory as linearized_trajectory
from ntkfix._dynamics.options import TrainOptions as TrainOptions
from ntkfix._dynamics.rates import convergence_rates as convergence_rates
from ntkfix._dynamics.rates import fit_geometric_rate as fit_geometric_rate
from ntkfix._dynamics.rates import predicted_loss_rate as predicted_loss_rate
from ntkfix._dynamics.rates import steps_to_reach as steps_to_reach
from ntkfix._dynamics.train import train as train
from ntkfix._dynamics.train import train_many as train_many
from ntkfix._generalization.arora import arora_init as arora_init
from ntkfix._generalization.arora import arora_kernel as arora_kernel
from ntkfix._generalization.arora import arora_spec as arora_spec
from ntkfix._generalization.bounds import complexity as complexity
from ntkfix._generalization.bounds import generalization_bound as generalization_bound
from ntkfix._generalization.regression import kernel_regression as kernel_regression
from ntkfix._generalization.regression import ntk_regression as ntk_regression
from ntkfix._kernels.empirical import empirical_ntk as empirical_ntk
from ntkfix._kernels.empirical import empirical_ntk_to_disk as empirical_ntk_to_disk
from ntkfix._kernels.infinite import infinite_nngp as infinite_nngp
from ntkfix._kernels.infinite import infinite_nngp_to_disk as infinite_nngp_to_disk
from ntkfix._kernels.infinite import infinite_ntk as infinite_ntk
from ntkfix._kernels.infinite import infinite_ntk_to_disk as infinite_ntk_to_disk
from ntkfix._kernels.metrics import kernel_distance as kernel_distance
from ntkfix._kernels.metrics import spectrum as spectrum
from ntkfix._models.fixed import FixedPattern as FixedPattern
from ntkfix._models.mlp import MLP as MLP
from ntkfix._models.network import Network as Network

_prepare_neural_tangents()  # `from neural_tangents import stax` works after `import ntkfix`

try:  # the version is written once, in pyproject.toml
    __version__ = _metadata.version("ntkfix")
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "MLP",
    "FixedPattern",
    "Network",
    "empirical_ntk",
    "empirical_ntk_to_disk",
    "infinite_ntk",
    "infinite_nngp",
    "infinite_ntk_to_disk",
    "infinite_nngp_to_disk",
    "kernel_distance",
    "spectrum",
    "complexity",
    "generalization_bound",
    "arora_kernel",
    "arora_spec",
    "arora_init",
    "kernel_regression",
    "ntk_regression",
    "train",
    "train_many",
    "TrainOptions",
    "linearized_trajectory",
    "convergence_rates",
    "fit_geometric_rate",
    "predicted_loss_rate",
    "steps_to_reach",
    "to_relu",
    "data",
    "kernels",
    "results",
    "errors",
    "host",
]
