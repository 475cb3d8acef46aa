"""ntkfix: fixed-activation-pattern networks and their Neural Tangent Kernels, in JAX.

Public API (everything else lives in private modules):

- networks: ``MLP``, ``FixedPattern``
- kernels: ``empirical_ntk``, ``empirical_ntk_autodiff``, ``infinite_ntk``, ``infinite_nngp``,
  ``empirical_ntk_to_disk``, ``infinite_ntk_to_disk``, ``infinite_nngp_to_disk``
  (resumable, for kernels larger than memory), ``KernelTooLarge``,
  ``ntk_flops`` (the operation count of ``empirical_ntk``)
- metrics: ``kernel_distance``, ``spectrum``, ``Spectrum``
- bounds: ``complexity``, ``Complexity``, ``generalization_bound``, ``GeneralizationBound``,
  ``arora_kernel``, ``arora_spec``, ``arora_init``, ``IllConditionedKernel``
- regression: ``kernel_regression``, ``ntk_regression``, ``KernelPrediction``
- training: ``train``, ``train_many``, ``TrainResult``, ``History``, ``TrainingDiverged``,
  ``linearized_trajectory``, ``LinearizedTrajectory``
- rates: ``convergence_rates``, ``fit_geometric_rate``, ``predicted_loss_rate``, ``Rates``,
  ``GeometricFit``
- conversion: ``to_relu``, ``ConversionCertificate``, ``EquivalenceCheck``
- data: the submodule ``ntkfix.data``, ``DataQualityWarning``
- environment: ``neural_tangents_available``, ``NeuralTangentsUnavailable``
"""

from importlib import metadata as _metadata

from ntkfix import data as data
from ntkfix._conversion.certificate import ConversionCertificate as ConversionCertificate
from ntkfix._conversion.certificate import EquivalenceCheck as EquivalenceCheck
from ntkfix._conversion.mlp import to_relu as to_relu
from ntkfix._core.errors import DataQualityWarning as DataQualityWarning
from ntkfix._core.errors import IllConditionedKernel as IllConditionedKernel
from ntkfix._core.errors import KernelTooLarge as KernelTooLarge
from ntkfix._core.errors import NeuralTangentsUnavailable as NeuralTangentsUnavailable
from ntkfix._core.errors import PrecisionWarning as PrecisionWarning
from ntkfix._core.errors import TrainingDiverged as TrainingDiverged
from ntkfix._core.errors import UnsupportedOperation as UnsupportedOperation
from ntkfix._core.nt import available as neural_tangents_available
from ntkfix._core.nt import prepare_import as _prepare_neural_tangents
from ntkfix._dynamics.linearized import LinearizedTrajectory as LinearizedTrajectory
from ntkfix._dynamics.linearized import linearized_trajectory as linearized_trajectory
from ntkfix._dynamics.rates import GeometricFit as GeometricFit
from ntkfix._dynamics.rates import Rates as Rates
from ntkfix._dynamics.rates import convergence_rates as convergence_rates
from ntkfix._dynamics.rates import fit_geometric_rate as fit_geometric_rate
from ntkfix._dynamics.rates import predicted_loss_rate as predicted_loss_rate
from ntkfix._dynamics.results import History as History
from ntkfix._dynamics.results import TrainResult as TrainResult
from ntkfix._dynamics.train import train as train
from ntkfix._dynamics.train import train_many as train_many
from ntkfix._generalization.arora import arora_init as arora_init
from ntkfix._generalization.arora import arora_kernel as arora_kernel
from ntkfix._generalization.arora import arora_spec as arora_spec
from ntkfix._generalization.bounds import Complexity as Complexity
from ntkfix._generalization.bounds import GeneralizationBound as GeneralizationBound
from ntkfix._generalization.bounds import complexity as complexity
from ntkfix._generalization.bounds import generalization_bound as generalization_bound
from ntkfix._generalization.regression import KernelPrediction as KernelPrediction
from ntkfix._generalization.regression import kernel_regression as kernel_regression
from ntkfix._generalization.regression import ntk_regression as ntk_regression
from ntkfix._kernels.disk import empirical_ntk_to_disk as empirical_ntk_to_disk
from ntkfix._kernels.disk import infinite_nngp_to_disk as infinite_nngp_to_disk
from ntkfix._kernels.disk import infinite_ntk_to_disk as infinite_ntk_to_disk
from ntkfix._kernels.empirical import empirical_ntk as empirical_ntk
from ntkfix._kernels.empirical import empirical_ntk_autodiff as empirical_ntk_autodiff
from ntkfix._kernels.infinite import infinite_nngp as infinite_nngp
from ntkfix._kernels.infinite import infinite_ntk as infinite_ntk
from ntkfix._kernels.infinite import stax_kernel as stax_kernel
from ntkfix._kernels.metrics import METRICS as KERNEL_METRICS
from ntkfix._kernels.metrics import Spectrum as Spectrum
from ntkfix._kernels.metrics import kernel_distance as kernel_distance
from ntkfix._kernels.metrics import spectrum as spectrum
from ntkfix._kernels.structured import ntk_flops as ntk_flops
from ntkfix._models.fixed import FixedPattern as FixedPattern
from ntkfix._models.mlp import MLP as MLP

_prepare_neural_tangents()  # `from neural_tangents import stax` works after `import ntkfix`

try:  # the version is written once, in pyproject.toml
    __version__ = _metadata.version("ntkfix")
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "KERNEL_METRICS",
    "MLP",
    "FixedPattern",
    "NeuralTangentsUnavailable",
    "PrecisionWarning",
    "DataQualityWarning",
    "Spectrum",
    "empirical_ntk",
    "empirical_ntk_autodiff",
    "empirical_ntk_to_disk",
    "ntk_flops",
    "KernelTooLarge",
    "UnsupportedOperation",
    "infinite_nngp",
    "infinite_nngp_to_disk",
    "infinite_ntk",
    "infinite_ntk_to_disk",
    "stax_kernel",
    "kernel_distance",
    "kernel_regression",
    "ntk_regression",
    "KernelPrediction",
    "complexity",
    "Complexity",
    "generalization_bound",
    "GeneralizationBound",
    "arora_kernel",
    "arora_spec",
    "arora_init",
    "IllConditionedKernel",
    "data",
    "train",
    "train_many",
    "TrainResult",
    "History",
    "TrainingDiverged",
    "linearized_trajectory",
    "LinearizedTrajectory",
    "convergence_rates",
    "fit_geometric_rate",
    "predicted_loss_rate",
    "Rates",
    "GeometricFit",
    "to_relu",
    "ConversionCertificate",
    "EquivalenceCheck",
    "neural_tangents_available",
    "spectrum",
]
