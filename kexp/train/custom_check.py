"""A custom loss or metric (``package.module:function``, or a class of your own) called
once, before training, on two rows of the training targets and a prediction of the
model's output shape: code that does not fit the slot (a function of two arguments that
is no loss, a metric returning text) is an error naming its YAML key, not a failure deep
in Keras's first traced step.

:func:`kexp.model.custom.check` has already refused what is not a function or a subclass
of the slot's Keras class, and checked that a function takes ``(y_true, y_pred)``; this
is the call that check cannot make without the model's shapes. Only code the spec names
is called (Keras's own losses and metrics are not), with the arguments Keras calls it
with: ``y_true`` and ``y_pred`` as float32 tensors, as Keras's loss and metric wrappers
convert them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kexp import backend
from kexp.errors import ConfigError, exception_line
from kexp.imports import Loc
from kexp.model import custom
from kexp.model.blueprint import Shape
from kexp.spec import CompileConfig, format_path

#: the rows of the training targets the check calls the code on
ROWS = 2


def check_custom_objectives(cfg: CompileConfig, outputs: list[str], shapes: dict[str, Shape],
                            y_train: dict[str, Any]) -> None:
    """Call each custom loss and metric of ``cfg`` once on the first :data:`ROWS` targets of
    an output it applies to (``shapes``: the outputs' per-sample shapes) and a prediction
    of that output's shape; a ConfigError at its key when the call fails or gives no
    number."""
    tree = {"compile": cfg.model_dump(mode="python", by_alias=True)}
    for kind, name, loc in custom.references(tree):
        if kind not in ("loss", "metric"):
            continue
        out = loc[2] if len(loc) > 2 and loc[2] in outputs else outputs[0]
        obj = custom.load(kind, name, loc)
        args = _arguments(tree, loc) if loc[-1] == name else None
        fn = custom.instantiate(kind, name, obj, args, loc)
        _call(kind, name, fn, loc, y_train[out], shapes[out])


def _arguments(tree: dict[str, Any], loc: Loc) -> Any:
    """The arguments written beside a custom class: ``{module:Class: {arguments}}``."""
    value: Any = tree
    for key in loc:
        value = value[key]
    return value


def _call(kind: str, name: str, fn: Any, loc: Loc, y: Any, shape: Shape) -> None:
    ops = backend.keras().ops
    y_true = np.asarray(y[:ROWS], dtype="float32")
    sample = tuple(d if isinstance(d, int) else 1 for d in shape)
    y_pred = np.full((len(y_true), *sample), 0.5, dtype="float32")
    try:
        result = fn(ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred))
        value = np.asarray(ops.convert_to_numpy(result))
        numeric = np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_
    except Exception as exc:
        raise ConfigError(
            loc,
            f"custom {kind} '{name}' failed when called as Keras calls it, f(y_true, y_pred) on "
            f"{len(y_true)} rows (y_true {y_true.shape}, y_pred {y_pred.shape}): "
            f"{exception_line(exc)}",
            hint=f"Fix '{name}', or name a Keras {kind} at {format_path(loc)}",
        ) from None
    if not numeric:
        raise ConfigError(
            loc,
            f"custom {kind} '{name}' returned {value.dtype} values; a {kind} returns numbers "
            f"(a tensor of one value, or one per row)",
            hint=f"Fix '{name}' to return a tensor of numbers",
        )
