"""Experiment configs: TOML files with a ``[grid]`` (axes swept) and ``[params]`` (fixed).

    experiment = "kernel_distance"
    [grid]
    width = [64, 128, 256]
    seed = [0, 1, 2]
    [params]
    n = 256

Every experiment declares a schema (key -> default) in its module; a config may
override any key either as a grid axis (a non-empty list) or as a fixed parameter,
never both. Unknown keys, wrong types and impossible values raise ``ConfigError``
with one clear line.
"""

from __future__ import annotations

import dataclasses
import itertools
import tomllib
from pathlib import Path
from typing import Any

from analysis.provenance import stable_hash


class ConfigError(ValueError):
    """A config that cannot be run: the message is one line for the user."""


@dataclasses.dataclass(frozen=True)
class Config:
    """A validated experiment config.

    Attributes:
      experiment: registered experiment name.
      grid: axis name -> tuple of values (cartesian product = the cells).
      params: fixed knobs (defaults filled in).
      variant: "default" or "quick" (documentation only; part of the hash).
    """

    experiment: str
    grid: dict[str, tuple]
    params: dict[str, Any]
    variant: str = "custom"

    def cells(self) -> list[dict[str, Any]]:
        """Every grid cell as a dict of its knobs (fixed params included)."""
        keys = list(self.grid)
        out = []
        for values in itertools.product(*(self.grid[k] for k in keys)):
            cell = dict(self.params)
            cell.update(zip(keys, values, strict=True))
            out.append(cell)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "grid": {k: list(v) for k, v in self.grid.items()},
            "params": dict(self.params),
        }

    @property
    def hash(self) -> str:
        return stable_hash(self.as_dict())

    def to_toml(self) -> str:
        def fmt(v):
            if isinstance(v, bool):
                return "true" if v else "false"
            if isinstance(v, str):
                return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
            if isinstance(v, (list, tuple)):
                return "[" + ", ".join(fmt(x) for x in v) + "]"
            return repr(v)

        lines = [f'experiment = "{self.experiment}"', "", "[grid]"]
        lines += [f"{k} = {fmt(list(v))}" for k, v in self.grid.items()]
        lines += ["", "[params]"] + [f"{k} = {fmt(v)}" for k, v in self.params.items()]
        return "\n".join(lines) + "\n"


def _check_value(exp: str, key: str, value: Any, default: Any) -> Any:
    want = type(default)
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if want is list:
        if not isinstance(value, list):
            raise ConfigError(f"{exp}: '{key}' must be a list, got {value!r}")
        return value
    if isinstance(value, bool) != (want is bool) or not isinstance(value, want):
        raise ConfigError(f"{exp}: '{key}' must be of type {want.__name__}, got {value!r} ({type(value).__name__})")
    return value


def build_config(experiment: str, grid: dict, params: dict, schema: dict, variant: str = "custom") -> Config:
    """Validate ``grid``/``params`` against ``schema`` (key -> default value)."""
    for section, table in (("grid", grid), ("params", params)):
        if not isinstance(table, dict):
            raise ConfigError(f"{experiment}: [{section}] must be a table")
        unknown = sorted(set(table) - set(schema))
        if unknown:
            raise ConfigError(
                f"{experiment}: unknown key(s) {', '.join(unknown)} in [{section}]; "
                f"known keys: {', '.join(sorted(schema))}"
            )
    both = sorted(set(grid) & set(params))
    if both:
        raise ConfigError(f"{experiment}: key(s) {', '.join(both)} given both in [grid] and [params]")
    g = {}
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{experiment}: grid axis '{key}' must be a non-empty list, got {values!r}")
        g[key] = tuple(_check_value(experiment, key, v, schema[key]) for v in values)
    p = {k: v for k, v in schema.items() if k not in g}
    for key, value in params.items():
        p[key] = _check_value(experiment, key, value, schema[key])
    return Config(experiment=experiment, grid=g, params=p, variant=variant)


def parse_config(text: str, source: str = "<config>") -> tuple[str, dict, dict]:
    """(experiment, grid, params) from TOML text; ConfigError on syntax/shape problems."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: invalid TOML: {e}") from None
    unknown = sorted(set(data) - {"experiment", "grid", "params"})
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key(s) {', '.join(unknown)}; expected experiment, [grid], [params]")
    if not isinstance(data.get("experiment"), str):
        raise ConfigError(f"{source}: missing 'experiment = \"NAME\"'")
    return data["experiment"], data.get("grid", {}), data.get("params", {})


def read_config_file(path: str | Path) -> str:
    path = Path(path)
    try:
        return path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror or e}") from None
