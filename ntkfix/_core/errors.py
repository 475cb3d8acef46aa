"""Every exception class of ntkfix, in one place.

Each subclasses a built-in exception (``MemoryError``, ``ValueError``, ``ImportError``),
so generic handlers keep working; each message says what went wrong, with the values,
and how to fix it. ``USER_ERRORS`` are the ones a user's request causes (as opposed to
bugs): command-line tools report them as one line.
"""

from __future__ import annotations


class KernelTooLarge(MemoryError):
    """The requested kernel does not fit the disk, the memory or the time allowed."""


class IllConditionedKernel(ValueError):
    """A kernel Gram matrix is singular or too ill-conditioned to solve with reliably.

    Attributes:
      condition_number: the 1-norm condition estimate (inf when Cholesky failed).
      max_condition: the threshold that was exceeded.
      regularization: the diagonal term that had been added (0.0 if none).
    """

    def __init__(
        self, message: str, condition_number: float, max_condition: float, regularization: float
    ):
        super().__init__(message)
        self.condition_number = condition_number
        self.max_condition = max_condition
        self.regularization = regularization


class TrainingDiverged(FloatingPointError, ValueError):
    """Training loss became non-finite or exceeded ``divergence_factor`` x its reference.

    Detected at recorded steps (the loop runs inside jit): ``step`` is the first recorded
    step where it happened, ``loss`` the loss there, ``lr`` the step size, ``seed`` the
    seed label for ``train_many`` (the int seed, or the key's index), else None. A
    single run skips its remaining GD steps once diverged.
    """

    def __init__(self, step: int, loss: float, lr: float, seed: int | None = None):
        self.step, self.loss, self.lr, self.seed = step, loss, lr, seed
        where = "" if seed is None else f" (seed {seed})"
        super().__init__(
            f"training diverged{where}: train loss {loss:.6g} at recorded step {step} with "
            f"lr={lr:.6g}; try a smaller lr (lr=None picks n / lambda_max(Theta_0)) or a "
            f"smaller record_every to locate the step"
        )


class UnsupportedOperation(ValueError):
    """The network holds an operation this function cannot handle (named, with where it
    occurs in the user's code)."""


class PrecisionWarning(UserWarning):
    """A result holds, but with less precision than its certificate or tolerance asks."""


class InexactTwinWarning(PrecisionWarning):
    """A ReLU twin (``ntkfix.to_relu``) that equals the FAP net on only some of the rows it
    was built for: its certificate's ``rows_ok``, ``boundary_units`` and ``max_error``
    say where and by how much."""


class DataQualityWarning(UserWarning):
    """Data that loads but is likely to give meaningless kernels or optimistic test errors
    (features on very different scales, test rows repeated in the training set)."""


class NeuralTangentsUnavailable(ImportError):
    """neural-tangents cannot be imported here (not installed, or an incompatible jax)."""


USER_ERRORS = (
    KernelTooLarge,
    IllConditionedKernel,
    TrainingDiverged,
    UnsupportedOperation,
    NeuralTangentsUnavailable,
)
