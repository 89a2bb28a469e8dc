"""What every x step shares: the Step interface, and turning data into arrays or tables.

A step is fitted on the training part only, transforms any part, and keeps its
fitted state as plain JSON (``preprocess.json``) so that ``kexp predict`` applies
exactly the same transform to new data. ``raw`` steps (tables, text, sequences)
take the data as loaded and come first; the others take the numeric float32 array.
A step class declares its spec argument model (``Args = ScaleStep``): its ``name`` is
that model's ``step``, and :func:`step_classes` finds every implementation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from kexp.errors import ConfigError, DataError, did_you_mean
from kexp.spec import StepArgs

Loc = tuple[Any, ...]


def to_array(x: Any, key: tuple = ("data",)) -> np.ndarray:
    """Numeric float32 array from an array or frame; names non-numeric columns."""
    if isinstance(x, pd.Series):
        x = x.to_frame()
    if isinstance(x, pd.DataFrame):
        bad = [str(c) for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]
        if bad:
            raise DataError(
                f"{'.'.join(map(str, key))}: column(s) {', '.join(bad[:5])} are not numeric; "
                "select numeric feature columns (data.features) or encode them first"
            )
        x = x.to_numpy()
    arr = np.asarray(x)
    if arr.dtype.kind == "O" and arr.ndim == 1 and len(arr) and isinstance(arr[0], (list, np.ndarray)):
        raise DataError(
            f"{'.'.join(map(str, key))}: samples are sequences of different lengths; "
            "add {pad: {maxlen: N}} to preprocess.x to make them one length"
        )
    if arr.dtype.kind not in "fiub":
        raise DataError(f"{'.'.join(map(str, key))}: expected numeric data, received dtype {arr.dtype}")
    return arr.astype(np.float32, copy=False)


class Step:
    """A fitted transform of x: fit on training data, then transform any part.

    ``Args`` is the spec model of the step's arguments; a class that declares it
    implements the step ``Args.step``, which becomes its ``name``. ``loc`` is the
    step's YAML path (``preprocess.x[2].get_dummies``), set by
    :func:`kexp.data.steps.make_step` so that errors name it.
    """

    Args: ClassVar[type[StepArgs] | None] = None
    name: str = ""
    raw = False
    loc: Loc = ("preprocess", "x")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        args = cls.__dict__.get("Args")
        if args is not None:
            cls.name = args.step

    def __init__(self, args: Any = None) -> None:
        self.args = args

    #: whether fit learns from the data (False: the step's arguments are all it needs)
    learns = True

    def fit(self, x: Any) -> Step:
        return self

    def fit_stream(self, chunks: Iterable[Any]) -> Step:
        """Fit on the training part read chunk by chunk (a streamed CSV): one pass over
        ``chunks``, each as :meth:`fit` takes it. A step without a way to do so is a
        ConfigError naming it, before training."""
        if not self.learns:
            return self
        raise ConfigError(self.loc, f"the {self.name} step cannot be fitted chunk by chunk, so "
                          "it cannot preprocess a streamed CSV",
                          hint="Set data.stream: false to read the file whole, or remove the step")

    def transform(self, x: Any) -> Any:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        return {}

    def load(self, state: dict[str, Any]) -> None:
        pass


class RawStep(Step):
    """A step that takes the data as loaded (a table or sequences), not a float array."""

    raw = True


def step_classes(base: type[Step] = Step) -> list[type[Step]]:
    """The classes below ``base`` that implement a spec step (declare their own ``Args``)."""
    found: list[type[Step]] = []
    for cls in base.__subclasses__():
        if cls.__dict__.get("Args") is not None:
            found.append(cls)
        found += step_classes(cls)
    return found


def frame_of(x: Any, loc: Loc) -> pd.DataFrame:
    """The data as a table with named columns (table steps need one)."""
    if isinstance(x, pd.Series):
        return x.to_frame()
    if isinstance(x, pd.DataFrame):
        return x
    raise ConfigError(
        loc,
        f"expected a table with named columns (CSV data), received an array of shape "
        f"{np.shape(x)}",
        hint="Table steps (get_dummies, impute, columns:) work on source: csv",
    )


def column_of(df: pd.DataFrame, col: Any, loc: Loc) -> Any:
    """The frame's column named (or numbered, for files without a header) ``col``."""
    cols = list(df.columns)
    if col in cols:
        return col
    if isinstance(col, int) and not isinstance(col, bool) and -len(cols) <= col < len(cols):
        if not any(isinstance(c, int) for c in cols):
            return cols[col]
    names = [str(c) for c in cols]
    raise ConfigError(
        loc,
        f"no column {col!r} in the features (columns: {', '.join(names[:20])})",
        hint=did_you_mean(str(col), names) or "Check data.features and the CSV header",
    )


def plain(value: Any) -> Any:
    """A JSON-able Python scalar."""
    return value.item() if isinstance(value, np.generic) else value


def all_missing(col: Any, n: int, loc: Loc, what: str) -> ConfigError:
    """The error for a column with no value in the training part."""
    return ConfigError(
        loc,
        f"column {col!r} has no values in the training data (all {n} missing); nothing to {what}",
        hint="Remove it from the step's columns (or from data.features)",
    )
