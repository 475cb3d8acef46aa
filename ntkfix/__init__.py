"""ntkfix: fixed-activation-pattern networks and their Neural Tangent Kernels, in JAX.

Public API (everything else lives in private modules):

- networks: ``MLP``, ``FixedPattern``
- kernels: ``empirical_ntk``, ``empirical_ntk_autodiff``, ``infinite_ntk``, ``infinite_nngp``,
  ``empirical_ntk_to_disk`` (resumable, for kernels larger than memory), ``KernelTooLarge``
- metrics: ``kernel_distance``, ``spectrum``, ``Spectrum``
- bounds: ``complexity``, ``Complexity``, ``generalization_bound``, ``GeneralizationBound``,
  ``arora_kernel``, ``arora_spec``, ``arora_init``, ``IllConditionedKernel``
- regression: ``kernel_regression``, ``ntk_regression``, ``KernelPrediction``
- training: ``train``, ``train_many``, ``TrainResult``, ``History``, ``TrainingDiverged``,
  ``linearized_trajectory``, ``LinearizedTrajectory``
- rates: ``convergence_rates``, ``fit_geometric_rate``, ``predicted_loss_rate``, ``Rates``,
  ``GeometricFit``
- conversion: ``to_relu``, ``ConversionCertificate``, ``EquivalenceCheck``
- data: the submodule ``ntkfix.data``
- environment: ``neural_tangents_available``, ``NeuralTangentsUnavailable``
"""

from ntkfix import data as data
from ntkfix._arora import arora_init as arora_init
from ntkfix._arora import arora_kernel as arora_kernel
from ntkfix._arora import arora_spec as arora_spec
from ntkfix._bounds import Complexity as Complexity
from ntkfix._bounds import GeneralizationBound as GeneralizationBound
from ntkfix._bounds import complexity as complexity
from ntkfix._bounds import generalization_bound as generalization_bound
from ntkfix._convert import ConversionCertificate as ConversionCertificate
from ntkfix._convert import EquivalenceCheck as EquivalenceCheck
from ntkfix._convert import to_relu as to_relu
from ntkfix._infinite import infinite_nngp as infinite_nngp
from ntkfix._infinite import infinite_ntk as infinite_ntk
from ntkfix._large import KernelTooLarge as KernelTooLarge
from ntkfix._large import empirical_ntk_to_disk as empirical_ntk_to_disk
from ntkfix._linalg import IllConditionedKernel as IllConditionedKernel
from ntkfix._linearized import LinearizedTrajectory as LinearizedTrajectory
from ntkfix._linearized import linearized_trajectory as linearized_trajectory
from ntkfix._metrics import METRICS as KERNEL_METRICS
from ntkfix._metrics import Spectrum as Spectrum
from ntkfix._metrics import kernel_distance as kernel_distance
from ntkfix._metrics import spectrum as spectrum
from ntkfix._nets import MLP as MLP
from ntkfix._nets import FixedPattern as FixedPattern
from ntkfix._nt import NeuralTangentsUnavailable as NeuralTangentsUnavailable
from ntkfix._nt import available as neural_tangents_available
from ntkfix._ntk import empirical_ntk as empirical_ntk
from ntkfix._ntk import empirical_ntk_autodiff as empirical_ntk_autodiff
from ntkfix._rates import GeometricFit as GeometricFit
from ntkfix._rates import Rates as Rates
from ntkfix._rates import convergence_rates as convergence_rates
from ntkfix._rates import fit_geometric_rate as fit_geometric_rate
from ntkfix._rates import predicted_loss_rate as predicted_loss_rate
from ntkfix._regression import KernelPrediction as KernelPrediction
from ntkfix._regression import kernel_regression as kernel_regression
from ntkfix._regression import ntk_regression as ntk_regression
from ntkfix._train import History as History
from ntkfix._train import TrainingDiverged as TrainingDiverged
from ntkfix._train import TrainResult as TrainResult
from ntkfix._train import train as train
from ntkfix._train import train_many as train_many

__version__ = "0.1.0"

__all__ = [
    "KERNEL_METRICS",
    "MLP",
    "FixedPattern",
    "NeuralTangentsUnavailable",
    "Spectrum",
    "empirical_ntk",
    "empirical_ntk_autodiff",
    "empirical_ntk_to_disk",
    "KernelTooLarge",
    "infinite_nngp",
    "infinite_ntk",
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
