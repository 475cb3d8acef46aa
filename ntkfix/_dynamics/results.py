"""Results of a training run: ``History`` (diagnostics at recorded steps) and
``TrainResult``; tidy tables from both (``to_frame``). Definitions of the diagnostics:
``ntkfix._dynamics.train``."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from ntkfix._models.mlp import Params

if TYPE_CHECKING:  # pandas is imported when a table is asked for, not with ntkfix
    import pandas as pd

COLUMNS = ("train_loss", "test_loss", "ntk_drift", "lambda_min", "lin_gap_train", "lin_gap_test")


@dataclasses.dataclass(frozen=True, eq=False)
class History:
    """Diagnostics at the recorded steps (module docstring for the definitions).

    Attributes:
      step: (T,) recorded step numbers.
      train_loss, test_loss, ntk_drift, lambda_min, lin_gap_train, lin_gap_test:
        (T,) arrays, or (S, T) for ``train_many``; None where not tracked.
      seeds: (S,) seed labels for ``train_many``, else None.
    """

    step: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray | None = None
    ntk_drift: np.ndarray | None = None
    lambda_min: np.ndarray | None = None
    lin_gap_train: np.ndarray | None = None
    lin_gap_test: np.ndarray | None = None
    seeds: np.ndarray | None = None

    def to_frame(self) -> pd.DataFrame:
        """Tidy table, one row per recorded step (and seed); untracked columns omitted."""
        import pandas as pd

        cols = {c: getattr(self, c) for c in COLUMNS if getattr(self, c) is not None}
        if self.seeds is None:
            return pd.DataFrame({"step": self.step, **cols})
        S, T = len(self.seeds), len(self.step)
        return pd.DataFrame(
            {
                "seed": np.repeat(self.seeds, T),
                "step": np.tile(self.step, S),
                **{c: np.asarray(v).reshape(S * T) for c, v in cols.items()},
            }
        )


@dataclasses.dataclass(frozen=True, eq=False)
class TrainResult:
    """Outcome of ``train`` / ``train_many`` (batched fields get a leading seed axis S).

    Attributes:
      params: final parameters (stax.serial layout).
      lr: step size used (float, or (S,) for ``train_many``).
      history: ``History`` at the recorded steps.
      n_train: number of training points n (the loss is 1/(2n) ||f - Y||^2).
      lambda_min0, lambda_max0: extreme eigenvalues of the full (n k x n k) NTK at theta_0
        of the trainable layers: the kernel that drives linearized GD.
      outputs_train: (T, n, k) f_t(X) at recorded steps when ``"outputs"`` is tracked.
      outputs_test: (T, n*, k) f_t(x*) likewise (None without test data).
    """

    params: Params
    lr: float | np.ndarray
    history: History
    n_train: int
    lambda_min0: float | np.ndarray
    lambda_max0: float | np.ndarray
    outputs_train: np.ndarray | None = None
    outputs_test: np.ndarray | None = None

    def to_frame(self) -> pd.DataFrame:
        """``history.to_frame()`` with the step size as an extra column."""
        df = self.history.to_frame()
        lr = np.asarray(self.lr)
        df["lr"] = lr if lr.ndim == 0 else np.repeat(lr, len(self.history.step))
        return df

    def rates(self, eps: float = 1e-6, **fit_kwargs) -> Any:
        """``ntkfix.convergence_rates(self, eps=eps, **fit_kwargs)``."""
        from ntkfix._dynamics.rates import convergence_rates

        return convergence_rates(self, eps=eps, **fit_kwargs)
