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


def _num(v: Any) -> str:
    """A number as 4 significant digits; a batch of S numbers (one per seed) as its range."""
    a = np.asarray(v, np.float64)
    if a.ndim == 0:
        return f"{float(a):.4g}"
    return f"{np.nanmin(a):.4g}..{np.nanmax(a):.4g}"


def _leaves(tree: Any) -> list:
    import jax

    return jax.tree_util.tree_leaves(tree)


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

    def __repr__(self) -> str:
        steps = np.asarray(self.step)
        span = f"{int(steps[0])}..{int(steps[-1])}" if steps.size else "none"
        tracked = ", ".join(c for c in COLUMNS if getattr(self, c) is not None)
        seeds = "" if self.seeds is None else f", {len(self.seeds)} seeds"
        return f"History({steps.size} recorded steps {span}{seeds}; {tracked})"

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

    def __repr__(self) -> str:
        loss = np.asarray(self.history.train_loss, np.float64)
        leaves = [np.asarray(a) for a in _leaves(self.params)]
        size = sum(a.size for a in leaves)
        lines = [
            f"TrainResult(n_train={self.n_train}, {self.history!r}",
            f"  lr={_num(self.lr)}, lambda_min0={_num(self.lambda_min0)}, "
            f"lambda_max0={_num(self.lambda_max0)}",
        ]
        if loss.size:
            first, last = loss[..., 0], loss[..., -1]
            lines.append(f"  train_loss {_num(first)} -> {_num(last)}")
        lines.append(f"  params: {len(leaves)} leaves, {size:,} numbers)")
        return "\n".join(lines)

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
