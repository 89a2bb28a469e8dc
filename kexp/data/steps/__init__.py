"""The x steps of ``preprocess.x``, by name: one table, derived from the step classes.

Each step class declares its spec argument model (``Args``), which names the step;
:data:`STEP_CLASSES` maps each name to the class that implements it.
:func:`make_step` makes the step for one spec item, :func:`check_order` checks that
raw steps come before array steps, :func:`apply_steps` runs them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from kexp.data.steps.base import RawStep, Step, step_classes, to_array
from kexp.data.steps.scale import (
    ColumnScaler,
    Flatten,
    MinMax,
    Reshape,
    Scale,
    SklearnScaler,
    Standardize,
)
from kexp.data.steps.tabular import GetDummies, Impute
from kexp.data.steps.text import Pad, Tokenize
from kexp.errors import ConfigError

__all__ = [
    "STEP_CLASSES", "ColumnScaler", "Flatten", "GetDummies", "Impute", "MinMax", "Pad", "RawStep",
    "Reshape", "Scale", "SklearnScaler", "Standardize", "Step", "Tokenize", "apply_steps",
    "check_order", "fit_stream", "make_step", "step_classes", "to_array",
]


def _step_table() -> dict[str, type[Step]]:
    table: dict[str, type[Step]] = {}
    for cls in step_classes():
        if cls.name in table:
            raise TypeError(
                f"{cls.__name__} and {table[cls.name].__name__} both implement the step {cls.name!r}"
            )
        table[cls.name] = cls
    return table


#: step name -> the class that implements it
STEP_CLASSES: dict[str, type[Step]] = _step_table()


def make_step(name: str, args: Any, loc: tuple) -> Any:
    """The step object for one ``preprocess.x`` item; scalers with ``columns`` work
    on those columns of the table only."""
    step: Step = STEP_CLASSES[name](args)
    if getattr(args, "columns", None) is not None and isinstance(step, SklearnScaler):
        step = ColumnScaler(step, args.columns)
    step.loc = loc + (name,)
    return step


def check_order(steps: list[Any], loc: tuple) -> None:
    """Raw steps (tables, text, sequences) must come before the first array step."""
    first_array = next((i for i, s in enumerate(steps) if not s.raw), None)
    for i, s in enumerate(steps):
        if s.raw and first_array is not None and i > first_array:
            raise ConfigError(
                loc + (i,),
                f"'{s.name}' works on the data as loaded (a table or sequences) and must come "
                f"before '{steps[first_array].name}', which works on the numeric array",
                hint=f"Move {s.name} up in preprocess.x",
            )


def apply_steps(steps: list[Any], x: Any, part: str, fit: bool, to_end: bool = True) -> Any:
    """Run the steps (fitting each first when ``fit``); the data becomes a float32
    array before the first step that needs one (and at the end, unless ``to_end`` is
    False: the data as the last step left it, for the next step to take)."""
    data = x
    converted = False
    for step in steps:
        if not step.raw and not converted:
            data, converted = to_array(data, ("data", part)), True
        if fit:
            step.fit(data)
        data = step.transform(data)
    return data if converted or not to_end else to_array(data, ("data", part))


def fit_stream(steps: list[Any], chunks: Callable[[], Iterable[Any]], part: str) -> None:
    """Fit the steps on data read chunk by chunk: one pass of ``chunks()`` for each step
    that learns from the data, every chunk run through the steps fitted before it."""
    for k, step in enumerate(steps):
        if not step.learns:
            continue
        before = steps[:k]
        step.fit_stream(apply_steps(before, chunk, part, fit=False, to_end=not step.raw)
                        for chunk in chunks())
