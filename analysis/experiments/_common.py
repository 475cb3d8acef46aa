"""Training a batch of seeds, the shared step of ``dynamics``, ``width_threshold`` and
``conversion``: ``ntkfix.train_many`` that survives diverged seeds (``train_seeds``), on
a cell's task with its seeds, steps, lr and trainable layers (``train_cell``).

The task and network of a cell are in ``_task``, kernel GD in ``_kernel_gd``, table
values in ``_rows``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax

import ntkfix
from analysis.experiments._task import Task, lr_arg, trainable_arg


@dataclasses.dataclass(frozen=True, eq=False)
class SeedRuns:
    """Outcome of ``train_seeds``.

    Attributes:
      result: the ``TrainResult`` of the seeds that did not diverge (None if all did).
      trained: those seeds, in the order of ``result``'s seed axis.
      diverged: seed -> the ``TrainingDiverged`` it raised (or the ValueError of a
        vanishing NTK at theta_0).
    """

    result: ntkfix.results.TrainResult | None
    trained: tuple[int, ...]
    diverged: dict[int, ntkfix.errors.TrainingDiverged]

    def position(self, seed: int) -> int | None:
        """Index of ``seed`` on ``result``'s seed axis (None if it diverged)."""
        return self.trained.index(seed) if seed in self.trained else None

    def params(self, seed: int) -> list:
        """Final parameters of ``seed`` (unbatched)."""
        i = self.position(seed)
        return jax.tree_util.tree_map(lambda a: a[i], self.result.params)


DEAD = "needs lambda_max(Theta_0) > 0"  # train_many's refusal of a vanishing NTK (lr=None)


def _dead_seeds(spec, seeds, x, y, kwargs) -> list[int]:
    """The seeds whose theta_0 has a vanishing NTK (every ReLU dead): one GD step each."""
    dead = []
    for seed in seeds:
        try:
            ntkfix.train_many(spec, [seed], x, y, **{**kwargs, "steps": 1, "record_every": 1})
        except ValueError as e:  # TrainingDiverged of one step: alive, not dead
            if DEAD in str(e):
                dead.append(seed)
    if not dead:
        raise RuntimeError("train_many refused a vanishing NTK but no seed alone has one")
    return dead


def train_seeds(spec: ntkfix.MLP, seeds, x, y, **kwargs) -> SeedRuns:
    """``ntkfix.train_many(spec, seeds, x, y, **kwargs)``, dropping seeds that diverge.

    ``train_many`` raises on the first diverged seed; that seed is recorded and the
    remaining ones are run again (one extra run per diverged seed), so the other seeds'
    results are kept and identical to a run without the diverged one. A seed whose NTK
    vanishes at theta_0 (a narrow deep net with every ReLU dead, when lr is
    n / lambda_max) cannot be trained: it is recorded the same way (its ValueError).
    """
    todo = [int(s) for s in seeds]
    diverged: dict[int, ntkfix.errors.TrainingDiverged] = {}
    while todo:
        try:
            res = ntkfix.train_many(spec, todo, x, y, **kwargs)
        except ntkfix.errors.TrainingDiverged as e:
            seed = todo[0] if e.seed is None else int(e.seed)
            diverged[seed] = e
            todo.remove(seed)
            continue
        except ValueError as e:  # lr=None and some seed's NTK vanishes (a dead narrow net)
            if DEAD not in str(e):
                raise
            for seed in _dead_seeds(spec, todo, x, y, kwargs):
                diverged[seed] = e
                todo.remove(seed)
            continue
        return SeedRuns(res, tuple(todo), diverged)
    return SeedRuns(None, (), diverged)


def train_cell(cell: dict[str, Any], spec: ntkfix.MLP, task: Task, network: str, **kwargs):
    """``train_seeds`` on ``task``'s training set with the cell's seeds, steps, lr and
    trainable layers; ``kwargs`` go to ``ntkfix.train_many``."""
    return train_seeds(
        spec,
        cell["seeds"],
        task.x,
        task.y,
        network=network,
        steps=cell["steps"],
        lr=lr_arg(cell),
        trainable=trainable_arg(cell),
        **kwargs,
    )
