"""ntkfix: fixed-activation-pattern networks and their Neural Tangent Kernels, in JAX.

Public API (everything else lives in private modules):

- networks: ``MLP``, ``FixedPattern``
- kernels: ``empirical_ntk``, ``empirical_ntk_autodiff``, ``infinite_ntk``, ``infinite_nngp``
- metrics: ``kernel_distance``, ``spectrum``, ``Spectrum``
- environment: ``neural_tangents_available``, ``NeuralTangentsUnavailable``
"""

from ntkfix._infinite import infinite_nngp as infinite_nngp
from ntkfix._infinite import infinite_ntk as infinite_ntk
from ntkfix._metrics import Spectrum as Spectrum
from ntkfix._metrics import kernel_distance as kernel_distance
from ntkfix._metrics import spectrum as spectrum
from ntkfix._nets import MLP as MLP
from ntkfix._nets import FixedPattern as FixedPattern
from ntkfix._nt import NeuralTangentsUnavailable as NeuralTangentsUnavailable
from ntkfix._nt import available as neural_tangents_available
from ntkfix._ntk import empirical_ntk as empirical_ntk
from ntkfix._ntk import empirical_ntk_autodiff as empirical_ntk_autodiff

__version__ = "0.1.0"

__all__ = [
    "MLP",
    "FixedPattern",
    "NeuralTangentsUnavailable",
    "Spectrum",
    "empirical_ntk",
    "empirical_ntk_autodiff",
    "infinite_nngp",
    "infinite_ntk",
    "kernel_distance",
    "neural_tangents_available",
    "spectrum",
]
