"""The exceptions and warnings of ntkfix (public module ``ntkfix.errors``).

Each exception subclasses a built-in one (``MemoryError``, ``ValueError``,
``ImportError``), so generic handlers keep working; each message says what went wrong,
with the values, and how to fix it. ``USER_ERRORS`` are the ones a user's request causes
(as opposed to bugs): command-line tools report them as one line.
"""

from ntkfix._core.errors import USER_ERRORS as USER_ERRORS
from ntkfix._core.errors import DataQualityWarning as DataQualityWarning
from ntkfix._core.errors import IllConditionedKernel as IllConditionedKernel
from ntkfix._core.errors import InexactTwinWarning as InexactTwinWarning
from ntkfix._core.errors import KernelTooLarge as KernelTooLarge
from ntkfix._core.errors import NeuralTangentsUnavailable as NeuralTangentsUnavailable
from ntkfix._core.errors import PrecisionWarning as PrecisionWarning
from ntkfix._core.errors import TrainingDiverged as TrainingDiverged
from ntkfix._core.errors import UnsupportedOperation as UnsupportedOperation

__all__ = [
    "USER_ERRORS",
    "DataQualityWarning",
    "IllConditionedKernel",
    "InexactTwinWarning",
    "KernelTooLarge",
    "NeuralTangentsUnavailable",
    "PrecisionWarning",
    "TrainingDiverged",
    "UnsupportedOperation",
]
