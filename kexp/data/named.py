"""Data keyed by the model's input and output names: the one shape data takes inside kexp.

Every model has named inputs and outputs; a Sequential model has one of each (``x`` and
``y``). Data is a dict ``{name: array or frame}`` from the moment it is loaded until it
reaches Keras, where :func:`for_keras` passes a model with one input (output) its array
alone and a model with several the dict (Keras's own format for named inputs and
outputs). :class:`NamedPreprocessor` preprocesses each input and output with its own
:class:`~kexp.data.preprocess.Preprocessor`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kexp.data.images import ImageFiles
from kexp.errors import ConfigError, DataError, did_you_mean
from kexp.spec import Config, FunctionalModel

Named = dict[str, Any]

#: The input and output names of a Sequential model.
SEQUENTIAL_NAMES = (["x"], ["y"])


def names_of(cfg: Config) -> tuple[list[str], list[str]]:
    """The model's input and output names."""
    if isinstance(cfg.model, FunctionalModel):
        return list(cfg.model.inputs), list(cfg.model.outputs)
    return list(SEQUENTIAL_NAMES[0]), list(SEQUENTIAL_NAMES[1])


def n_rows(a: Named) -> int:
    """Samples in the data (every name has the same number)."""
    return len(next(iter(a.values())))


def sample_shapes(a: Named) -> dict[str, tuple[int, ...]]:
    """The per-sample shape of each name's array."""
    return {k: tuple(np.shape(v)[1:]) for k, v in a.items()}


def rows_at(a: Any, idx: Any) -> Any:
    """Rows ``idx`` of an array, frame or series, or of each one in a dict by name (None
    stays None)."""
    if a is None:
        return None
    if isinstance(a, dict):
        return {k: rows_at(v, idx) for k, v in a.items()}
    if isinstance(a, ImageFiles):
        return a[np.asarray(idx)]
    return a.iloc[idx] if isinstance(a, (pd.DataFrame, pd.Series)) else np.asarray(a)[idx]


def rows(a: Any) -> int:
    """Samples in raw data: an array or frame, or a dict of them by name."""
    return n_rows(a) if isinstance(a, dict) else len(a)


def first_value(a: Named) -> Any:
    """The first name's data (the first output's targets stratify splits)."""
    return next(iter(a.values()))


def label(part: str, name: str, a: Named) -> str:
    """``x_train`` for a model's only input, ``x_train.image`` for one of several."""
    return part if len(a) == 1 else f"{part}.{name}"


def for_keras(a: Named | None) -> Any:
    """What Keras takes for a model with these inputs (outputs): the array alone for one
    name, the dict for several."""
    if a is None:
        return None
    return first_value(a) if len(a) == 1 else a


def from_keras(value: Any, names: list[str]) -> Named:
    """A model's predictions keyed by output name (Keras gives an array for one output)."""
    if isinstance(value, dict):
        return {n: np.asarray(value[n]) for n in names}
    if isinstance(value, (list, tuple)):
        return {n: np.asarray(v) for n, v in zip(names, value, strict=True)}
    return {names[0]: np.asarray(value)}


def check_finite(a: Named | None, part: str) -> None:
    """Refuse NaN or infinite values (training would silently produce NaN)."""
    for name, arr in (a or {}).items():
        if arr is None or isinstance(arr, ImageFiles) or getattr(arr, "dtype", None) is None or arr.dtype.kind != "f":
            continue
        bad = ~np.isfinite(arr)
        if bad.any():
            rows = np.unique(np.nonzero(bad)[0])
            raise DataError(
                f"{label(part, name, a or {})}: {int(bad.sum())} missing or infinite value(s) "
                f"(NaN/inf) in {len(rows)} row(s), first rows: {rows[:5].tolist()}. Remove those "
                "rows or fill them before training"
            )


def data_key(cfg: Config, what: str) -> tuple:
    """Where the spec names the data of the model's inputs (``x``) or outputs (``y``)."""
    source = cfg.data.source
    if source == "csv":
        return ("data", "features" if what == "x" else "target")
    if source == "npz":
        return ("data", f"{what}_train")
    if source == "images":
        return ("data", "path")
    if source == "python":
        return ("data", "object")
    return ("data", "source")


def name_data(cfg: Config, x: Any, y: Any, part: str = "train") -> tuple[Named, Named | None]:
    """``x`` and ``y`` keyed by the model's input and output names.

    Data as loaded is one array (frame) or a dict per name: one array goes to the model's
    only input (output); a dict must name exactly the model's inputs (outputs). Data per
    name needs a functional model (data named already is returned as it is). ``y`` may
    be None (``kexp predict`` without targets).
    """
    ins, outs = names_of(cfg)
    foreign_x = isinstance(x, dict) and list(x) != ins
    foreign_y = isinstance(y, dict) and list(y) != outs
    if not isinstance(cfg.model, FunctionalModel) and (foreign_x or foreign_y):
        raise ConfigError(
            data_key(cfg, "x" if foreign_x else "y"),
            "data per named input or output needs a functional model; this model is "
            "sequential (one input, one output)",
            hint="Use model.type: functional with named inputs and outputs, or give one "
            "group of columns",
        )
    x_named = _named(cfg, x, ins, "x", "input", part)
    return x_named, None if y is None else _named(cfg, y, outs, "y", "output", part)


def _named(cfg: Config, a: Any, names: list[str], what: str, kind: str, part: str) -> Named:
    key = data_key(cfg, what)
    if not isinstance(a, dict):
        if len(names) == 1:
            return {names[0]: a}
        example = ", ".join(f"{n}: ..." for n in names)
        raise ConfigError(
            key,
            f"the model has {len(names)} {kind}s ({', '.join(names)}) but the data gives one "
            f"{'group of features' if what == 'x' else 'target'}",
            hint=f"Give the data per {kind} name, e.g. {key[-1]}: {{{example}}}",
        )
    for name in a:
        if name not in names:
            raise ConfigError(
                key + (name,),
                f"'{name}' is not a model {kind} (the model's {kind}s: {', '.join(names)})",
                hint=did_you_mean(str(name), names) or f"Name the model's {kind}s",
            )
    missing = [n for n in names if n not in a]
    if missing:
        raise ConfigError(
            key,
            f"no {part} data for model {kind}(s) {', '.join(missing)}",
            hint=f"Add {', '.join(f'{m}: ...' for m in missing)} to {'.'.join(key)}",
        )
    return {n: a[n] for n in names}
