"""Experiment configs: TOML files with a ``[grid]`` (axes swept) and ``[params]`` (fixed).

    experiment = "kernel_distance"
    [grid]
    width = [64, 128, 256]
    seed = [0, 1, 2]
    [params]
    n = 256

Every experiment declares its knobs in its module, each a ``Knob``: the default value
(whose type is enforced), and the range or choices a value must lie in. A config may
override any knob either as a grid axis (a non-empty list) or as a fixed parameter,
never both. Unknown keys, wrong types and impossible values raise ``ConfigError`` with
one clear line.
"""

from __future__ import annotations

import dataclasses
import itertools
import tomllib
from pathlib import Path
from typing import Any

from analysis.errors import ConfigError
from analysis.provenance import stable_hash


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

    def values(self, key: str) -> tuple:
        """Every value knob ``key`` takes (its grid axis, or its fixed value)."""
        return tuple(self.grid[key]) if key in self.grid else (self.params[key],)

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


@dataclasses.dataclass(frozen=True)
class Knob:
    """One knob of an experiment: its default and the values a config may give it.

    The type is the default's (an int is accepted for a float knob, never a bool for a
    number). A list knob (a list default) takes a non-empty list, and the constraints
    below apply to each entry, whose type is the default's first entry's.

    Attributes:
      default: the value when a config does not set the knob.
      low, high: bounds of the value (None: unbounded).
      strict: the bounds that exclude their value: "low", "high" or "both" ("": neither).
      choices: the only values allowed (None: any).
      note: what the range means, shown in messages (e.g. "0: all the rest").
      per_cell: a list read whole inside each cell: only in [params], no duplicates.
    """

    default: Any
    low: float | None = None
    high: float | None = None
    strict: str = ""
    choices: tuple | None = None
    note: str = ""
    per_cell: bool = False

    def _range(self) -> str:
        """The bounds in words: ">= 1", "> 0", "in [0, 1]", "in (0, 1]"."""
        lo_open, hi_open = self.strict in ("low", "both"), self.strict in ("high", "both")
        if self.high is None:
            return f"{'>' if lo_open else '>='} {self.low:g}"
        if self.low is None:
            return f"{'<' if hi_open else '<='} {self.high:g}"
        return f"in {'(' if lo_open else '['}{self.low:g}, {self.high:g}{')' if hi_open else ']'}"

    def _in_range(self, v) -> bool:
        lo_open, hi_open = self.strict in ("low", "both"), self.strict in ("high", "both")
        above = self.low is None or (v > self.low if lo_open else v >= self.low)
        below = self.high is None or (v < self.high if hi_open else v <= self.high)
        return above and below

    def _choices(self) -> str:
        return ", ".join(map(repr, self.choices))

    def check(self, exp: str, key: str, value: Any) -> Any:
        """``value`` (an int made a float for a float knob) if it is allowed; else ConfigError."""
        value = _typed(exp, key, value, self.default)
        if isinstance(self.default, list):
            self._check_list(exp, key, value)
        elif self.choices is not None and value not in self.choices:
            raise ConfigError(f"{exp}: '{key}' must be one of {self._choices()}, got {value!r}")
        elif (self.low is not None or self.high is not None) and not self._in_range(value):
            note = f" ({self.note})" if self.note else ""
            raise ConfigError(f"{exp}: '{key}' must be {self._range()}{note}, got {value}")
        return value

    def _check_list(self, exp: str, key: str, values: list) -> None:
        if self.choices is not None:
            if not values:
                raise ConfigError(f"{exp}: '{key}' must be a non-empty list of {self._choices()}")
            bad = [v for v in values if v not in self.choices]
            if bad:
                raise ConfigError(
                    f"{exp}: '{key}' entries must be in {self._choices()}, got {bad!r}"
                )
        else:
            want = type(self.default[0])
            ranged = self.low is not None or self.high is not None
            ok = all(
                isinstance(v, want)
                and not isinstance(v, bool)
                and (not ranged or self._in_range(v))
                for v in values
            )
            if not values or not ok:
                what = {int: "integers", float: "numbers", str: "strings"}.get(want, want.__name__)
                what += f" {self._range()}" if ranged else ""
                raise ConfigError(
                    f"{exp}: '{key}' must be a non-empty list of {what}, got {values!r}"
                )
        if self.per_cell and len(set(values)) != len(values):
            raise ConfigError(f"{exp}: '{key}' has duplicates: {values!r}")


def defaults(knobs: dict[str, Knob]) -> dict[str, Any]:
    """Knob name -> default value (an experiment's ``SCHEMA``)."""
    return {key: knob.default for key, knob in knobs.items()}


def _typed(exp: str, key: str, value: Any, default: Any) -> Any:
    want = type(default)
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if want is list:
        if not isinstance(value, list):
            raise ConfigError(f"{exp}: '{key}' must be a list, got {value!r}")
        return value
    if isinstance(value, bool) != (want is bool) or not isinstance(value, want):
        raise ConfigError(
            f"{exp}: '{key}' must be of type {want.__name__}, got {value!r} "
            f"({type(value).__name__})"
        )
    return value


def build_config(
    experiment: str, grid: dict, params: dict, knobs: dict[str, Knob], variant: str = "custom"
) -> Config:
    """Validate ``grid``/``params`` against ``knobs`` (key -> ``Knob``)."""
    for section, table in (("grid", grid), ("params", params)):
        if not isinstance(table, dict):
            raise ConfigError(f"{experiment}: [{section}] must be a table")
        unknown = sorted(set(table) - set(knobs))
        if unknown:
            raise ConfigError(
                f"{experiment}: unknown key(s) {', '.join(unknown)} in [{section}]; "
                f"known keys: {', '.join(sorted(knobs))}"
            )
    both = sorted(set(grid) & set(params))
    if both:
        raise ConfigError(
            f"{experiment}: key(s) {', '.join(both)} given both in [grid] and [params]"
        )
    g = {}
    for key, values in grid.items():
        if knobs[key].per_cell:
            raise ConfigError(
                f"{experiment}: '{key}' is a list inside each cell, put it in [params]"
            )
        if not isinstance(values, list) or not values:
            raise ConfigError(
                f"{experiment}: grid axis '{key}' must be a non-empty list, got {values!r}"
            )
        g[key] = tuple(knobs[key].check(experiment, key, v) for v in values)
    p = {k: knob.default for k, knob in knobs.items() if k not in g}
    for key, value in params.items():
        p[key] = knobs[key].check(experiment, key, value)
    for key in p.keys() - params.keys():  # defaults obey the declaration too
        knobs[key].check(experiment, key, p[key])
    return Config(experiment=experiment, grid=g, params=p, variant=variant)


def parse_config(text: str, source: str = "<config>") -> tuple[str, dict, dict]:
    """(experiment, grid, params) from TOML text; ConfigError on syntax/shape problems."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: invalid TOML: {e}") from None
    unknown = sorted(set(data) - {"experiment", "grid", "params"})
    if unknown:
        raise ConfigError(
            f"{source}: unknown top-level key(s) {', '.join(unknown)}; "
            "expected experiment, [grid], [params]"
        )
    if not isinstance(data.get("experiment"), str):
        raise ConfigError(f"{source}: missing 'experiment = \"NAME\"'")
    return data["experiment"], data.get("grid", {}), data.get("params", {})


def read_config_file(path: str | Path) -> str:
    path = Path(path)
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as e:  # missing, unreadable, not text
        why = getattr(e, "strerror", None) or e
        raise ConfigError(f"cannot read config {path}: {why}") from None
