"""Table-level x steps: one-hot categories, fill missing values, scale chosen columns.

These steps run on the data as loaded (a pandas DataFrame), before it becomes one
numeric array; like every step they are fitted on the training part only and keep
their fitted state as plain JSON (``preprocess.json``), so ``kexp predict``
applies exactly the same encoding to new rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kexp.config import GetDummiesStep, ImputeStep
from kexp.errors import ConfigError, did_you_mean

Loc = tuple[Any, ...]


class RawStep:
    """A step that takes the data as loaded (a table or sequences), not a float array.

    ``loc`` is the step's YAML path (``preprocess.x[2].get_dummies``), set by the
    Preprocessor so that errors name it.
    """

    name = ""
    raw = True
    loc: Loc = ("preprocess", "x")

    def fit(self, x: Any) -> RawStep:
        return self

    def transform(self, x: Any) -> Any:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        return {}

    def load(self, state: dict[str, Any]) -> None:
        pass


def frame_of(x: Any, loc: Loc) -> pd.DataFrame:
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


def _plain(value: Any) -> Any:
    """A JSON-able Python scalar."""
    return value.item() if isinstance(value, np.generic) else value


def _all_missing(col: Any, n: int, loc: Loc, what: str) -> ConfigError:
    return ConfigError(
        loc,
        f"column {col!r} has no values in the training data (all {n} missing); nothing to {what}",
        hint="Remove it from the step's columns (or from data.features)",
    )


class GetDummies(RawStep):
    """``pd.get_dummies`` with categories fixed on the training part.

    Each listed column is replaced by one 0/1 column per category, named
    ``<column><prefix_sep><category>`` and appended after the other columns (as
    pandas does). A missing value or a category not seen in training gives an
    all-zero row. With ``separator`` a cell holds several categories
    (``"a/b"``), as with ``Series.str.get_dummies('/')``.
    """

    name = "get_dummies"

    def __init__(self, args: GetDummiesStep) -> None:
        self.args = args
        self.categories: list[tuple[Any, list[str]]] = []

    def _values(self, series: pd.Series) -> list[list[str]]:
        cells: list[list[str]] = []
        for v in series.tolist():
            if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
                cells.append([])
            elif self.args.separator:
                cells.append([p.strip() for p in str(v).split(self.args.separator) if p.strip()])
            else:
                cells.append([str(v)])
        return cells

    def fit(self, x: Any) -> GetDummies:
        df = frame_of(x, self.loc)
        self.categories = []
        for j, col in enumerate(self.args.columns):
            cloc = self.loc + ("columns", j)
            name = column_of(df, col, cloc)
            cats = sorted({c for cell in self._values(df[name]) for c in cell})
            if not cats:
                raise _all_missing(name, len(df), cloc, "one-hot encode")
            self.categories.append((name, cats))
        return self

    def transform(self, x: Any) -> pd.DataFrame:
        df = frame_of(x, self.loc)
        keep = df.drop(columns=[name for name, _ in self.categories if name in df.columns])
        parts = [keep]
        for j, (name, cats) in enumerate(self.categories):
            if name not in df.columns:
                column_of(df, name, self.loc + ("columns", j))  # raises, naming the column
            index = {c: k for k, c in enumerate(cats)}
            out = np.zeros((len(df), len(cats)), dtype=np.float32)
            for i, cell in enumerate(self._values(df[name])):
                for c in cell:
                    k = index.get(c)
                    if k is not None:
                        out[i, k] = 1.0
            labels = [f"{name}{self.args.prefix_sep}{c}" for c in cats]
            parts.append(pd.DataFrame(out, columns=labels, index=df.index))
        return pd.concat(parts, axis=1)

    def state(self) -> dict[str, Any]:
        return {"categories": [[_plain(n), cats] for n, cats in self.categories]}

    def load(self, state: dict[str, Any]) -> None:
        self.categories = [(n, list(cats)) for n, cats in state["categories"]]


class Impute(RawStep):
    """Fill missing values with the training part's mean / median / most frequent
    value, or a constant."""

    name = "impute"

    def __init__(self, args: ImputeStep) -> None:
        self.args = args
        self.fill: list[tuple[Any, Any]] = []

    def fit(self, x: Any) -> Impute:
        df = frame_of(x, self.loc)
        strategy = self.args.strategy
        if self.args.columns is None:
            targets = [(c, self.loc) for c in df.columns if df[c].isna().any()]
        else:
            targets = [
                (column_of(df, c, self.loc + ("columns", j)), self.loc + ("columns", j))
                for j, c in enumerate(self.args.columns)
            ]
        self.fill = []
        for col, cloc in targets:
            values = df[col].dropna()
            if strategy == "constant":
                self.fill.append((col, _plain(self.args.fill_value)))
                continue
            if values.empty:
                raise _all_missing(col, len(df), cloc, f"compute a {strategy} from")
            if strategy in ("mean", "median") and not pd.api.types.is_numeric_dtype(values):
                raise ConfigError(
                    cloc,
                    f"strategy {strategy} needs numbers, but column {col!r} holds text "
                    f"(e.g. {values.iloc[0]!r})",
                    hint="Use strategy: most_frequent or constant for categorical columns",
                )
            if strategy == "mean":
                value = float(values.mean())
            elif strategy == "median":
                value = float(values.median())
            else:  # most_frequent: the smallest of the most common values, as sklearn
                counts = values.value_counts()
                value = sorted(counts[counts == counts.max()].index.tolist())[0]
            self.fill.append((col, _plain(value)))
        return self

    def transform(self, x: Any) -> pd.DataFrame:
        df = frame_of(x, self.loc)
        for col, _ in self.fill:
            if col not in df.columns:
                column_of(df, col, self.loc + ("columns",))
        filled = df.copy()
        for col, value in self.fill:
            filled[col] = filled[col].fillna(value)
        return filled

    def state(self) -> dict[str, Any]:
        return {"fill": [[_plain(c), v] for c, v in self.fill]}

    def load(self, state: dict[str, Any]) -> None:
        self.fill = [(c, v) for c, v in state["fill"]]


class ColumnScaler(RawStep):
    """An array scaler (standardize / minmax) applied to chosen columns of a table;
    the other columns pass through unchanged."""

    def __init__(self, inner: Any, columns: list[Any]) -> None:
        self.inner = inner
        self.name = inner.name
        self.columns = columns
        self.resolved: list[Any] = []

    def fit(self, x: Any) -> ColumnScaler:
        df = frame_of(x, self.loc)
        self.resolved = []
        for j, col in enumerate(self.columns):
            cloc = self.loc + ("columns", j)
            name = column_of(df, col, cloc)
            if not pd.api.types.is_numeric_dtype(df[name]):
                raise ConfigError(
                    cloc,
                    f"column {name!r} is not numeric (e.g. {df[name].dropna().iloc[0]!r}); "
                    f"{self.name} scales numbers",
                    hint="Encode it with get_dummies, or leave it out of columns",
                )
            if df[name].isna().all():
                raise _all_missing(name, len(df), cloc, "scale")
            self.resolved.append(name)
        self.inner.fit(df[self.resolved].to_numpy(dtype=np.float64))
        return self

    def transform(self, x: Any) -> pd.DataFrame:
        df = frame_of(x, self.loc)
        for j, col in enumerate(self.resolved):
            if col not in df.columns:
                column_of(df, col, self.loc + ("columns", j))
        out = df.copy()
        scaled = self.inner.transform(df[self.resolved].to_numpy(dtype=np.float64))
        for k, col in enumerate(self.resolved):
            out[col] = scaled[:, k]
        return out

    def state(self) -> dict[str, Any]:
        return {"columns": [_plain(c) for c in self.resolved], "scaler": self.inner.state()}

    def load(self, state: dict[str, Any]) -> None:
        self.resolved = list(state["columns"])
        self.inner.load(state["scaler"])
