"""Losses, metrics, optimizers, initializers, regularizers, constraints, activations,
learning-rate schedules and callbacks by name, through Keras's ``get()`` resolvers.

Only a short list of Keras 2 spellings that Keras 3 renamed or silently ignores is
kept here, each applied with a note.
"""

from __future__ import annotations

import copy
import importlib.util
import inspect
from pathlib import Path
from typing import Any

from kexp.errors import ConfigError, did_you_mean, format_path
from kexp.model.resolve import (
    CUSTOM_RE,
    Loc,
    class_for,
    first_line,
    keras,
    kwarg_hint,
    public_names,
    resolve,
)
from kexp.spec import named

#: Keras 2 loss names that Keras 3 no longer resolves -> Keras 3 name.
LEGACY_LOSSES = {
    "logcosh": "log_cosh",
    "kullback_leibler_divergence": "kl_divergence",
    "cosine_proximity": "cosine_similarity",
}
#: Keras 2 metric names that Keras 3 no longer resolves -> Keras 3 name.
LEGACY_METRICS = {**LEGACY_LOSSES, "logcosh": "log_cosh_error"}
#: Metric strings that ``model.compile`` understands itself (it picks the right
#: accuracy or crossentropy for the loss and output shape).
COMPILE_METRIC_STRINGS = {"accuracy", "acc", "crossentropy", "ce"}
#: Callbacks kexp adds itself, or that are Keras internals.
RESERVED_CALLBACKS = {"Callback", "CallbackList", "History", "ProgbarLogger", "CSVLogger"}

def initializer(obj: Any, loc: Loc) -> Any:
    k = keras()
    return resolve("initializer", k.initializers, k.initializers.get, obj, loc)


def regularizer(obj: Any, loc: Loc) -> Any:
    k = keras()
    return resolve("regularizer", k.regularizers, k.regularizers.get, obj, loc)


def constraint(obj: Any, loc: Loc) -> Any:
    k = keras()
    return resolve("constraint", k.constraints, k.constraints.get, obj, loc)


def activation(obj: Any, loc: Loc) -> Any:
    k = keras()
    if isinstance(obj, str) and not CUSTOM_RE.match(obj):
        resolve("activation", k.activations, k.activations.get, obj, loc)
        return obj  # keep the name: it serializes into model.keras as is
    return resolve("activation", k.activations, k.activations.get, obj, loc)


def loss(obj: Any, loc: Loc, notes: list[str]) -> Any:
    k = keras()
    name, args = named(obj)
    if name in LEGACY_LOSSES:
        new = LEGACY_LOSSES[name]
        notes.append(f"{format_path(loc)}: Keras 2 loss '{name}' is '{new}' in Keras 3; used '{new}'")
        obj = new if args is None else {new: args}
    return resolve("loss", k.losses, k.losses.get, obj, loc)


def metric(obj: Any, loc: Loc, notes: list[str]) -> Any:
    k = keras()
    name, args = named(obj)
    if args is None and name in COMPILE_METRIC_STRINGS:
        return name
    if name in LEGACY_METRICS:
        new = LEGACY_METRICS[name]
        notes.append(f"{format_path(loc)}: Keras 2 metric '{name}' is '{new}' in Keras 3; used '{new}'")
        name, obj = new, new if args is None else {new: args}
    if args is None and not CUSTOM_RE.match(name):
        try:
            k.metrics.get(name)
        except ValueError:
            raise ConfigError(
                loc,
                f"unknown metric '{name}'",
                hint=did_you_mean(name, [*public_names(k.metrics), *COMPILE_METRIC_STRINGS]),
            ) from None
        return name  # compile() names the history columns after the string given
    return resolve("metric", k.metrics, k.metrics.get, obj, loc)


def lr_schedule(obj: Any, loc: Loc) -> Any:
    k = keras()
    sched = k.optimizers.schedules

    def getter(name: str) -> Any:
        raise ValueError(name)  # schedules need arguments

    return resolve("learning-rate schedule", sched, getter, obj, loc)


def optimizer(obj: Any, loc: Loc, notes: list[str]) -> Any:
    """Resolve an optimizer, translating Keras 2's ``lr`` and ``decay`` exactly."""
    k = keras()
    name, args = named(obj)
    if args is None or CUSTOM_RE.match(name):
        return resolve("optimizer", k.optimizers, k.optimizers.get, obj, loc)
    if not isinstance(args, dict):
        raise ConfigError(
            loc + (name,), f"expected a mapping of arguments, received {args!r}",
            hint=f"e.g. {{{name}: {{learning_rate: 0.01}}}}",
        )
    aloc = loc + (name,)
    args = keras3_optimizer_args(name, args, aloc, notes)
    if isinstance(args.get("learning_rate"), (dict, str)):
        args["learning_rate"] = lr_schedule(args["learning_rate"], aloc + ("learning_rate",))
    return resolve("optimizer", k.optimizers, k.optimizers.get, {name: args}, loc)


def keras3_optimizer_args(name: str, args: dict[str, Any], aloc: Loc, notes: list[str]) -> dict[str, Any]:
    """An optimizer's arguments as Keras 3 takes them, still in spec form: Keras 2's
    ``lr`` is ``learning_rate``, ``decay`` the ``InverseTimeDecay`` schedule it meant."""
    if "lr" in args:
        if "learning_rate" in args:
            raise ConfigError(aloc + ("lr",), "give learning_rate or lr (Keras 2), not both")
        notes.append(f"{format_path(aloc + ('lr',))}: Keras 2 'lr' is 'learning_rate' in Keras 3; used it")
    args = {("learning_rate" if key == "lr" else key): value for key, value in args.items()}
    decay = args.pop("decay", None)
    if not decay:
        return args
    cls = class_for(keras().optimizers, name)
    if cls is None:
        raise ConfigError(aloc, f"unknown optimizer class '{name}'")
    lr = args.get("learning_rate")
    if lr is None:
        lr = inspect.signature(cls).parameters["learning_rate"].default
    if not isinstance(lr, (int, float)) or isinstance(lr, bool):
        raise ConfigError(aloc + ("decay",), "decay needs a constant learning_rate, not a schedule")
    args["learning_rate"] = {"InverseTimeDecay": {
        "initial_learning_rate": float(lr), "decay_steps": 1, "decay_rate": float(decay),
    }}
    notes.append(
        f"{format_path(aloc + ('decay',))}: Keras 3 ignores 'decay'; applied Keras 2's "
        f"lr / (1 + {decay} * iterations) as InverseTimeDecay({lr}, decay_steps=1, "
        f"decay_rate={decay})"
    )
    return args


def _renamed(obj: Any, table: dict[str, str]) -> Any:
    """A loss or metric (a name, ``{name: args}``, a list or a mapping per output name)
    under its Keras 3 name."""
    if isinstance(obj, str):
        return table.get(obj, obj)
    if isinstance(obj, list):
        return [_renamed(a, table) for a in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1:
        name, args = next(iter(obj.items()))
        if name in table:
            return {table[name]: args}
    return {k: _renamed(v, table) if isinstance(v, (str, list, dict)) else v for k, v in obj.items()}


def as_used(tree: dict[str, Any]) -> dict[str, Any]:
    """A resolved config with Keras 2 spellings written as what was used (``lr`` ->
    ``learning_rate``, ``decay`` -> ``InverseTimeDecay``, ``logcosh`` -> ``log_cosh``);
    it validates again. The spec as written keeps the original spelling."""
    out = copy.deepcopy(tree)
    comp = out.get("compile")
    if not isinstance(comp, dict):
        return out
    opt = comp.get("optimizer")
    if isinstance(opt, dict) and len(opt) == 1:
        name, args = next(iter(opt.items()))
        if isinstance(args, dict) and not CUSTOM_RE.match(name):
            comp["optimizer"] = {name: keras3_optimizer_args(name, args, ("compile", "optimizer", name), [])}
    for key, table in (("loss", LEGACY_LOSSES), ("metrics", LEGACY_METRICS)):
        if key in comp:
            comp[key] = _renamed(comp[key], table)
    return out


def callback(obj: Any, loc: Loc, run_dir: Path | None) -> Any:
    """A ``keras.callbacks`` class by name; relative paths land in the run folder."""
    k = keras()
    name, args = named(obj)
    if CUSTOM_RE.match(name):
        return resolve("callback", k.callbacks, lambda n: None, obj, loc)
    cloc = loc + (name,) if not isinstance(obj, str) else loc
    if args is not None and not isinstance(args, dict):
        raise ConfigError(cloc, f"expected a mapping of arguments, received {args!r}",
                          hint=f"e.g. {{{name}: {{patience: 3}}}}")
    args = dict(args or {})
    cls = getattr(k.callbacks, name, None)
    names = [
        n
        for n in dir(k.callbacks)
        if isinstance(getattr(k.callbacks, n), type)
        and issubclass(getattr(k.callbacks, n), k.callbacks.Callback)
        and n not in RESERVED_CALLBACKS
    ]
    if name in RESERVED_CALLBACKS:
        raise ConfigError(
            cloc, f"callback '{name}' is added by kexp itself (history.csv, progress)",
            hint="Remove it",
        )
    if not (isinstance(cls, type) and issubclass(cls, k.callbacks.Callback)):
        raise ConfigError(cloc, f"unknown callback '{name}'", hint=did_you_mean(name, names))
    if name == "TensorBoard" and importlib.util.find_spec("tensorboard") is None:
        raise ConfigError(
            cloc,
            "the TensorBoard callback needs the tensorboard package, which is not installed",
            hint="pip install 'kexp[tensorboard]' (or pip install tensorboard), or remove the callback",
        )
    defaults = {
        "ModelCheckpoint": ("filepath", "checkpoint.keras"),
        "TensorBoard": ("log_dir", "tensorboard"),
        "BackupAndRestore": ("backup_dir", "backup"),
    }
    if name in defaults:
        key, default = defaults[name]
        value = Path(args.get(key, default))
        if run_dir is not None and not value.is_absolute():
            value = run_dir / value
        args[key] = str(value)
    try:
        return cls(**args)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            cloc, f"invalid arguments for {name}: {first_line(exc)}", hint=kwarg_hint(cls, args)
        ) from None
