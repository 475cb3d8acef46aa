"""The result types of ntkfix (public module ``ntkfix.results``): frozen dataclasses that
the public functions return, each field's shape documented on the class."""

from ntkfix._conversion.certificate import ConversionCertificate as ConversionCertificate
from ntkfix._conversion.certificate import EquivalenceCheck as EquivalenceCheck
from ntkfix._dynamics.linearized import LinearizedTrajectory as LinearizedTrajectory
from ntkfix._dynamics.rates import GeometricFit as GeometricFit
from ntkfix._dynamics.rates import Rates as Rates
from ntkfix._dynamics.results import History as History
from ntkfix._dynamics.results import TrainResult as TrainResult
from ntkfix._generalization.bounds import Complexity as Complexity
from ntkfix._generalization.bounds import GeneralizationBound as GeneralizationBound
from ntkfix._generalization.regression import KernelPrediction as KernelPrediction
from ntkfix._kernels.metrics import Spectrum as Spectrum

__all__ = [
    "Complexity",
    "ConversionCertificate",
    "EquivalenceCheck",
    "GeneralizationBound",
    "GeometricFit",
    "History",
    "KernelPrediction",
    "LinearizedTrajectory",
    "Rates",
    "Spectrum",
    "TrainResult",
]
