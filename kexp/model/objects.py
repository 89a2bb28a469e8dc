"""Losses, metrics, optimizers, initializers, regularizers, constraints, activations,
learning-rate schedules and callbacks by name, through Keras's ``get()`` resolvers.

Only a short list of Keras 2 spellings that Keras 3 renamed or silently ignores is
kept here, each applied with a note.
"""

from __future__ import annotations

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
    if args is None and not CUSTOM_RE.match(name) and name not in LEGACY_LOSSES:
        try:
            k.metrics.get(name)
        except ValueError:
            raise ConfigError(
                loc,
                f"unknown metric '{name}'",
                hint=did_you_mean(name, [*public_names(k.metrics), *COMPILE_METRIC_STRINGS]),
            ) from None
        return name  # compile() names the history columns after the string given
    if name in LEGACY_LOSSES:
        new = LEGACY_LOSSES[name]
        notes.append(f"{format_path(loc)}: Keras 2 metric '{name}' is '{new}' in Keras 3; used '{new}'")
        obj = new if args is None else {new: args}
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
    args = dict(args)
    aloc = loc + (name,)
    cls = class_for(k.optimizers, name)
    if "lr" in args:
        if "learning_rate" in args:
            raise ConfigError(aloc + ("lr",), "give learning_rate or lr (Keras 2), not both")
        args["learning_rate"] = args.pop("lr")
        notes.append(f"{format_path(aloc + ('lr',))}: Keras 2 'lr' is 'learning_rate' in Keras 3; used it")
    if isinstance(args.get("learning_rate"), (dict, str)) and not isinstance(
        args.get("learning_rate"), bool
    ):
        args["learning_rate"] = lr_schedule(args["learning_rate"], aloc + ("learning_rate",))
    decay = args.pop("decay", None)
    if decay:
        if cls is None:
            raise ConfigError(aloc, f"unknown optimizer class '{name}'")
        lr = args.get("learning_rate")
        if lr is None:
            lr = inspect.signature(cls).parameters["learning_rate"].default
        if not isinstance(lr, (int, float)):
            raise ConfigError(
                aloc + ("decay",), "decay needs a constant learning_rate, not a schedule"
            )
        args["learning_rate"] = k.optimizers.schedules.InverseTimeDecay(
            initial_learning_rate=float(lr), decay_steps=1, decay_rate=float(decay)
        )
        notes.append(
            f"{format_path(aloc + ('decay',))}: Keras 3 ignores 'decay'; applied Keras 2's "
            f"lr / (1 + {decay} * iterations) as InverseTimeDecay({lr}, decay_steps=1, "
            f"decay_rate={decay})"
        )
    return resolve("optimizer", k.optimizers, k.optimizers.get, {name: args}, loc)


def callback(obj: Any, loc: Loc, run_dir: Path | None) -> Any:
    """A ``keras.callbacks`` class by name; relative paths land in the run folder."""
    k = keras()
    name, args = named(obj)
    args = dict(args or {}) if not isinstance(obj, str) else {}
    cloc = loc + (name,) if not isinstance(obj, str) else loc
    if CUSTOM_RE.match(name):
        return resolve("callback", k.callbacks, lambda n: None, obj, loc)
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
