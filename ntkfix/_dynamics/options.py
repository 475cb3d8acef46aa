"""The knobs of a training run: ``TrainOptions`` (``train`` and ``train_many`` take them as
keywords, validated here at the boundary)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ntkfix._core.validate import (
    check_choice,
    check_nonneg_float,
    check_positive_int,
    unknown_fields,
)

TRACKABLE = ("ntk", "linearized", "outputs")
DEFAULT_TRACK = ("ntk", "linearized")
DIVERGENCE_FACTOR = 1e6


def _check_track(track: Any) -> tuple[str, ...]:
    if isinstance(track, str):
        track = (track,)
    try:
        items = tuple(track)
    except TypeError:
        raise TypeError(
            f"track must be a sequence of names from {TRACKABLE}, got {track!r}"
        ) from None
    for t in items:
        check_choice(t, "track entry", TRACKABLE)
    return items


def _check_divergence_factor(value) -> float:
    """> 0; ``inf`` turns divergence detection off (non-finite losses still stop)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"divergence_factor must be a number > 0, got {value!r}") from None
    if not v > 0:
        raise ValueError(f"divergence_factor must be > 0 (inf disables the check), got {value!r}")
    return v


@dataclasses.dataclass(frozen=True)
class TrainOptions:
    """How a network is trained (``ntkfix.train``, ``ntkfix.train_many``).

    Attributes:
      steps: number of GD steps (>= 1).
      lr: step size, or None for n / lambda_max(Theta_0) (Theta_0 the full NTK of the
        trainable layers at the initial params), reported in ``result.lr``.
      trainable: the parameters updated (and whose NTK is measured): for an ``MLP`` None
        (all), a layer index, a sequence of indices (-1 = readout), "hidden" or
        "readout"; for any other network None (every parameter).
      record_every: diagnostics every this many steps (and at the last step).
      track: diagnostics beyond the losses: "ntk" (drift, lambda_min), "linearized" (gap
        to the closed-form linearized trajectory), "outputs" (keep f_t on train and test
        at recorded steps in the result).
      divergence_factor: a recorded loss above this factor x (L_0 + ||Y||^2/(2n)), or a
        non-finite one, raises ``TrainingDiverged`` (``inf``: only non-finite losses).
    """

    steps: int
    lr: float | None = None
    trainable: Any = None
    record_every: int = 1
    track: tuple[str, ...] = DEFAULT_TRACK
    divergence_factor: float = DIVERGENCE_FACTOR

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)
        set_("steps", check_positive_int(self.steps, "steps"))
        if self.lr is not None:
            lr = check_nonneg_float(self.lr, "lr")
            if lr == 0:
                raise ValueError("lr must be > 0 (or None for n / lambda_max(Theta_0))")
            set_("lr", lr)
        set_("record_every", check_positive_int(self.record_every, "record_every"))
        set_("track", _check_track(self.track))
        set_("divergence_factor", _check_divergence_factor(self.divergence_factor))

    @classmethod
    def of(cls, options: dict, who: str) -> TrainOptions:
        """``TrainOptions(**options)``, naming a missing ``steps`` or an unknown option."""
        unknown, known = unknown_fields(cls, options)
        if unknown:
            raise TypeError(
                f"{who}() got unknown option(s) {', '.join(unknown)}; its options are "
                f"{', '.join(known)} (and x_test, y_test)"
            )
        if "steps" not in options:
            raise TypeError(f"{who}() needs steps=... (the number of GD steps)")
        return cls(**options)
