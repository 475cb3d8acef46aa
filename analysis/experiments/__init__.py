"""Registry of named experiments and their shipped configs (``analysis/configs``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from importlib import import_module, resources
from pathlib import Path
from typing import Any

from analysis.config import (
    Config,
    ConfigError,
    Knob,
    build_config,
    defaults,
    parse_config,
    read_config_file,
)


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A named experiment.

    Attributes:
      name: registry name (also the config's ``experiment``).
      knobs: every knob, declared with its default, range and choices (``Knob``).
      run_cell: knobs of one cell -> one row (dict) or a list of rows.
      check: optional validation across knobs of a whole config (raise ConfigError).
      description: one line for ``--help`` and the report.
    """

    name: str
    knobs: dict[str, Knob]
    run_cell: Callable[[dict[str, Any]], Any]
    description: str
    check: Callable[[Config], None] | None = None

    @property
    def schema(self) -> dict[str, Any]:
        """Every knob with its default value."""
        return defaults(self.knobs)


_MODULES = {
    "kernel_distance": "analysis.experiments.kernel_distance",
    "kernel_distance_cnn": "analysis.experiments.kernel_distance:CNN_EXPERIMENT",
    "dynamics": "analysis.experiments.dynamics",
    "dynamics_cnn": "analysis.experiments.dynamics:CNN_EXPERIMENT",
    "width_threshold": "analysis.experiments.threshold",
    "width_threshold_depth": "analysis.experiments.threshold:DEPTH_EXPERIMENT",
    "dynamics_depth": "analysis.experiments.dynamics:DEPTH_EXPERIMENT",
    "conversion": "analysis.experiments.conversion",
    "conversion_cnn": "analysis.experiments.conversion:CNN_EXPERIMENT",
    "generalization_noise": "analysis.experiments.generalization_noise",
    "generalization_size": "analysis.experiments.generalization_size",
    "generalization_scale": "analysis.experiments.generalization_scale",
    "generalization_trained": "analysis.experiments.generalization_trained",
}


def names() -> list[str]:
    return list(_MODULES)


def get_experiment(name: str) -> Experiment:
    if name not in _MODULES:
        raise ConfigError(f"unknown experiment '{name}'; known: {', '.join(_MODULES)}")
    module, _, attr = _MODULES[name].partition(":")
    return getattr(import_module(module), attr or "EXPERIMENT")


def config_from_text(text: str, source: str = "<config>", variant: str = "custom") -> Config:
    name, grid, params = parse_config(text, source)
    exp = get_experiment(name)
    cfg = build_config(name, grid, params, exp.knobs, variant)
    if exp.check is not None:
        exp.check(cfg)
    return cfg


def load_config(path: str | Path) -> Config:
    """Config from a TOML file."""
    return config_from_text(read_config_file(path), str(path))


def shipped_config(name: str, quick: bool = False) -> Config:
    """The default (or ``quick``) config shipped as ``name``.toml (``name``_quick.toml): an
    experiment's, or another config of one (e.g. generalization_noise_cnn)."""
    fname = f"{name}{'_quick' if quick else ''}.toml"
    path = resources.files("analysis.configs").joinpath(fname)
    if name not in _MODULES and not path.is_file():  # a config of another name, or a typo
        get_experiment(name)
    text = path.read_text()
    return config_from_text(text, fname, "quick" if quick else "default")


def require(cond: bool, message: str) -> None:
    """Raise ConfigError(message) unless ``cond`` (for experiments' cross-knob ``check``)."""
    if not cond:
        raise ConfigError(message)
