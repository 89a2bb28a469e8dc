"""The names a compiled model logs (``loss``, ``accuracy``, ``out1_loss``, and each with
``val_``), and every ``monitor`` checked against them before anything is loaded: a
callback watching ``val_los`` would otherwise fail (or silently do nothing) only after
the first epoch.

The names follow Keras 3's ``compile`` (``keras.src.trainers.compile_utils``): a metric
given as a string is logged under that string, a metric object under its ``name``, a
function under its ``__name__``; with several outputs every loss and metric is prefixed
with its output's name, beside the total ``loss``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kexp.errors import ConfigError, did_you_mean
from kexp.spec import named

#: what kexp's own callbacks add to the logs (the learning rate, ``history.csv``'s column)
EXTRA_LOGS = ("learning_rate", "lr")


def metric_name(metric: Any) -> str:
    """The name Keras logs a compiled metric under."""
    if isinstance(metric, str):
        return metric
    name = getattr(metric, "name", None)
    if isinstance(name, str) and name:
        return name
    return str(getattr(metric, "__name__", type(metric).__name__))


def logged_names(metrics: Any, outputs: list[str]) -> list[str]:
    """The training log's names (without ``val_``) of a model with ``outputs`` compiled
    with ``metrics`` (:func:`kexp.train.compile.compile_args`'s: a list, or a list per
    output when there are several)."""
    names = ["loss"]
    if len(outputs) > 1:
        per_output = metrics if isinstance(metrics, dict) else {o: metrics for o in outputs}
        for out in outputs:
            names.append(f"{out}_loss")
            names += [f"{out}_{metric_name(m)}" for m in per_output.get(out) or []]
    else:
        names += [metric_name(m) for m in metrics or []]
    return list(dict.fromkeys(names))


def check_monitor(value: Any, loc: tuple, names: Iterable[str], what: str = "monitor") -> None:
    """ConfigError at ``loc`` when ``value`` is not a name the model logs (``names``, each
    also with ``val_``), with the closest one."""
    names = list(names)
    known = [*names, *(f"val_{n}" for n in names), *EXTRA_LOGS]
    if not isinstance(value, str) or value in known:
        return
    raise ConfigError(
        loc,
        f"{what} '{value}' is not a value the model logs (it logs: "
        f"{', '.join(n for n in known if n not in EXTRA_LOGS)})",
        hint=did_you_mean(value, known) or "Name one of those; val_ ones need validation "
                                           "(fit.validation_split or validation_data)",
    )


def check_callback_monitors(callbacks: list[Any], names: Iterable[str]) -> None:
    """Each callback's ``monitor`` (EarlyStopping, ReduceLROnPlateau, ModelCheckpoint, a
    custom one's) names a value the model logs."""
    names = list(names)
    for i, item in enumerate(callbacks):
        if not isinstance(item, (str, dict)) or (isinstance(item, dict) and len(item) != 1):
            continue  # reported by the callback's own check
        name, args = named(item)
        if isinstance(args, dict) and "monitor" in args:
            check_monitor(args["monitor"], ("fit", "callbacks", i, name, "monitor"), names)
