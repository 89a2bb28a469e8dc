"""What a sweep on Optuna (``method: tpe``, ``prune``) needs, checked before anything
trains: Optuna installed (the optional extra ``kexp[sweep]``), validation data for pruning
to watch, and every value a ``tpe`` sweep may propose (:func:`probes`); and how a
``sweep.parameters`` entry becomes Optuna's ``suggest_*`` call. Optuna is imported only to
check that it is there.
"""

from __future__ import annotations

import json
from typing import Any

from kexp.errors import ConfigError
from kexp.spec import Config
from kexp.spec.sweep import Distribution, SweepConfig
from kexp.sweep.prune import monitored

INSTALL = "pip install 'kexp[sweep]'"
PRIMITIVE = (str, int, float, bool, type(None))


def needs_optuna(sweep: SweepConfig) -> bool:
    """Whether the sweep runs on Optuna (``method: tpe`` or ``prune``)."""
    return sweep.method == "tpe" or sweep.prune is not None


def check(cfg: Config, sweep: SweepConfig) -> None:
    """Before anything trains: Optuna is installed when the sweep needs it, and pruning has
    validation data to watch. ConfigError naming the key otherwise."""
    if not needs_optuna(sweep):
        return
    key, what = ("sweep.method", "method tpe") if sweep.method == "tpe" else ("sweep.prune", "prune")
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise ConfigError(key, f"{what} needs Optuna, which is not installed",
                          hint=f"Install it with: {INSTALL}") from None
    has_validation = cfg.data.validation is not None or cfg.fit.validation_split or cfg.fit.validation_data
    if sweep.prune is not None and not has_validation:
        raise ConfigError("sweep.prune", f"pruning watches {monitored(sweep.metric)} each epoch, "
                          "which needs validation data; the spec has none",
                          hint="add fit.validation_split: 0.2 (or data.validation), or remove prune")


def _ends(space: Any) -> list[Any]:
    if isinstance(space, Distribution):
        low, high = space.bounds
        return [low, high - 1] if space.kind == "randint" else [low, high]
    return list(space)


def probes(sweep: SweepConfig) -> list[dict[str, Any]]:
    """The parameter sets a ``tpe`` sweep checks before anything trains: every listed value
    and both ends of every range, one parameter at a time (the others at their first)."""
    first = {path: _ends(space)[0] for path, space in sweep.parameters.items()}
    out = [first]
    for path, space in sweep.parameters.items():
        out += [{**first, path: value} for value in _ends(space)[1:]]
    return out


def choices(values: list[Any]) -> list[Any]:
    """Optuna's categories for a list: the values, or their JSON text when not all plain."""
    if all(isinstance(v, PRIMITIVE) for v in values):
        return list(values)
    return [json.dumps(v, sort_keys=True) for v in values]


def suggest(trial: Any, path: str, space: Any) -> Any:
    """Trial ``path``'s value, asked of the Optuna ``trial`` (a list's own item, not its text)."""
    if isinstance(space, Distribution):
        low, high = space.bounds
        if space.kind == "randint":
            return trial.suggest_int(path, low, high - 1)
        return trial.suggest_float(path, low, high, log=space.kind == "loguniform")
    options = choices(space)
    return space[options.index(trial.suggest_categorical(path, options))]


def fixed(sweep: SweepConfig, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` as Optuna stores them (a category's JSON text where the list needs it)."""
    out = {}
    for path, value in params.items():
        space = sweep.parameters[path]
        out[path] = value if isinstance(space, Distribution) else choices(space)[space.index(value)]
    return out
