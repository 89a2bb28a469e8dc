"""A sweep's plan: the base spec, the parameter sets, and every trial's spec, each one
checked against the schema before the first trial trains.

A trial's spec is the base spec (its ``sweep:`` section removed) with the trial's values
written at their paths, as ``--set`` would; a mistake names the parameter that caused
it (``model.layers[1].repeat (from sweep.parameters: model.layers.1.repeat=7)``). A spec
without a seed gets one drawn here, the same for every trial, so that trials differ
only by their parameters.
"""

from __future__ import annotations

import dataclasses
import random
import re
from dataclasses import dataclass
from typing import Any

import yaml

from kexp import backend
from kexp.errors import ConfigError, ConfigErrors, UsageError
from kexp.rundir.read import higher_is_better
from kexp.spec import Config, Spec, apply_overrides, check_as_written, load_config
from kexp.spec.sweep import Distribution, SweepConfig
from kexp.sweep import tpe
from kexp.sweep.space import parameter_sets


@dataclass
class Trial:
    """One parameter set: its number (from 1), values by spec path, spec and folder name."""

    number: int
    params: dict[str, Any]
    spec: Spec
    folder: str


@dataclass
class SweepPlan:
    """Everything a sweep will run, checked."""

    base: Spec  # the spec without its sweep section, seed fixed
    cfg: Config  # the base spec's config
    sweep: SweepConfig
    trials: list[Trial]

    @property
    def goal(self) -> str:
        """``max`` or ``min``: as the spec says, else from the metric's name."""
        if self.sweep.goal is not None:
            return self.sweep.goal
        return "max" if higher_is_better(self.sweep.metric) else "min"

    @property
    def total(self) -> int:
        """How many trials the sweep has (``tpe``: ``trials``, proposed as it goes)."""
        return (self.sweep.trials or 0) if self.sweep.method == "tpe" else len(self.trials)


def shorthand(params: list[str]) -> SweepConfig:
    """``--param fit.batch_size=32,64,128`` (repeatable): a grid over those values."""
    parameters: dict[str, list[Any] | Distribution] = {}
    for item in params:
        path, sep, values = item.partition("=")
        if not sep or not path.strip() or not values.strip():
            raise UsageError(f"--param expects PATH=V1,V2,..., received {item!r} "
                             "(e.g. --param fit.batch_size=32,64)")
        parameters[path.strip()] = [yaml.safe_load(v) for v in _split_values(values)]
    return SweepConfig(method="grid", parameters=parameters)


def _split_values(text: str) -> list[str]:
    """Comma-separated values; commas inside [...] or {...} belong to the value."""
    out, depth, current = [], 0, ""
    for ch in text:
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            out.append(current)
            current = ""
        else:
            current += ch
    return [*out, current]


def make_plan(spec: Spec, sweep: SweepConfig | None = None, overrides: list[Any] | None = None) -> SweepPlan:
    """The sweep of ``spec`` (its ``sweep:`` section, or ``sweep`` given on the command line)
    with ``overrides`` (``--set``, ``--epochs``, ...) applied to every trial."""
    check_as_written(spec, overrides or [])
    full = apply_overrides(spec, overrides or [])
    data = {k: v for k, v in full.data.items() if k != "sweep"}
    base = dataclasses.replace(full, data=data)
    cfg = load_config(base)
    origin = "--param" if sweep is not None else "sweep.parameters"
    if sweep is None:
        sweep = _sweep_section(full)
    if cfg.seed is None:
        seed = random.SystemRandom().randrange(2**31)
        base = apply_overrides(base, [(f"seed={seed}", "a seed drawn for every trial of the sweep")])
        cfg = cfg.model_copy(update={"seed": seed})
    if cfg.backend in (None, "auto"):  # recorded: every trial, and a resume, on one backend
        name = backend.resolve(cfg.backend, cfg.model)
        base = apply_overrides(base, [(f"backend={name}", "the backend of every trial")])
        cfg = cfg.model_copy(update={"backend": name})
    if "backend" in sweep.parameters:
        raise ConfigError(("sweep", "parameters", "backend"),
                          "a sweep trains every trial in processes of one Keras backend",
                          hint="Sweep one backend at a time: kexp sweep SPEC --backend jax")
    tpe.check(cfg, sweep)  # tpe and prune: Optuna (kexp[sweep]) installed, validation data
    if sweep.method == "tpe":  # values proposed as it goes: every value and range end checked
        for params in tpe.probes(sweep):
            trial_spec(base, params, origin)
        return SweepPlan(base, cfg, sweep, [])
    trials = []
    for number, params in enumerate(parameter_sets(sweep, cfg.seed or 0), 1):
        try:
            spec_of_trial = trial_spec(base, params, origin)
        except ConfigError as exc:
            raise _in_trial(exc, number) from None
        except ConfigErrors as exc:
            raise ConfigErrors([_in_trial(e, number) for e in exc.errors]) from None
        trials.append(Trial(number, params, spec_of_trial, folder_name(number, params)))
    return SweepPlan(base, cfg, sweep, trials)


def trial_spec(base: Spec, params: dict[str, Any], origin: str) -> Spec:
    """``base`` with ``params`` written at their paths, checked against the schema; a
    ConfigError names the parameter (``from <origin>: <path>=<value>``)."""
    items = [(f"{path}={as_yaml(value)}", f"{origin}: {path}={as_yaml(value)}")
             for path, value in params.items()]
    spec = apply_overrides(base, items)
    load_config(spec)
    return spec


def _in_trial(exc: ConfigError, number: int) -> ConfigError:
    return ConfigError(exc.path, f"trial {number}: {exc.message}", line=exc.line, hint=exc.hint,
                       origin=exc.origin)


def _sweep_section(spec: Spec) -> SweepConfig:
    cfg = load_config(spec)
    sweep = getattr(cfg, "sweep", None)
    if sweep is None:
        raise UsageError("the spec has no sweep: section; add one, or give --param "
                         "PATH=V1,V2 (e.g. --param fit.batch_size=32,64)")
    return sweep


def as_yaml(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("\n...")


def label_value(value: Any) -> str:
    """A value as a trial label shows it (``0.001``, ``64``, ``adam``)."""
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (dict, list)):
        return as_yaml(value)
    return str(value)


def label(params: dict[str, Any]) -> str:
    """``repeat=2, learning_rate=0.001``: each path's last key with its value."""
    keys = [path.split(".")[-1] for path in params]
    names = [k if keys.count(k) == 1 else path for k, path in zip(keys, params, strict=True)]
    return ", ".join(f"{n}={label_value(v)}" for n, v in zip(names, params.values(), strict=True))


def folder_name(number: int, params: dict[str, Any]) -> str:
    """``003-repeat=2,learning_rate=0.001`` (safe as a folder name, at most 60 characters)."""
    text = re.sub(r"[^A-Za-z0-9._=,+-]+", "_", label(params).replace(", ", ","))
    return f"{number:03d}-{text}"[:60].rstrip("_,")
