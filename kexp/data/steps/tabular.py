"""Table steps: one-hot categories (get_dummies) and missing values (impute, with
``sklearn.impute.SimpleImputer``).

These steps run on the data as loaded (a pandas DataFrame), before it becomes one
numeric array; like every step they are fitted on the training part only and keep
their fitted state as plain JSON (``preprocess.json``), so ``kexp predict``
applies exactly the same encoding to new rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kexp.data.steps.base import Loc, RawStep, all_missing, column_of, frame_of, plain
from kexp.errors import ConfigError
from kexp.spec import GetDummiesStep, ImputeStep


class GetDummies(RawStep):
    """``pd.get_dummies`` with categories fixed on the training part.

    Each listed column is replaced by one 0/1 column per category, named
    ``<column><prefix_sep><category>`` and appended after the other columns (as
    pandas does). A missing value or a category not seen in training gives an
    all-zero row. With ``separator`` a cell holds several categories
    (``"a/b"``), as with ``Series.str.get_dummies('/')``.
    """

    Args = GetDummiesStep

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
                raise all_missing(name, len(df), cloc, "one-hot encode")
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
        return {"categories": [[plain(n), cats] for n, cats in self.categories]}

    def load(self, state: dict[str, Any]) -> None:
        self.categories = [(n, list(cats)) for n, cats in state["categories"]]


class Impute(RawStep):
    """``sklearn.impute.SimpleImputer``: fill missing values with the training part's
    mean / median / most frequent value, or a constant.

    The fitted state is one statistic per column (``{"columns": [...], "statistics_":
    [...]}``, as the scalers keep theirs); each column is filled with its statistic by
    itself, so it keeps its dtype (a single SimpleImputer array would not). Run folders
    written before kept ``{"fill": [[column, value], ...]}``, which loads too.
    """

    Args = ImputeStep

    def __init__(self, args: ImputeStep) -> None:
        self.args = args
        self.columns: list[Any] = []
        self.statistics: list[Any] = []

    def _targets(self, df: pd.DataFrame) -> list[tuple[Any, Loc]]:
        """The columns to fill, each with its YAML path (default: those missing a value)."""
        if self.args.columns is None:
            return [(c, self.loc) for c in df.columns if df[c].isna().any()]
        return [
            (column_of(df, c, self.loc + ("columns", j)), self.loc + ("columns", j))
            for j, c in enumerate(self.args.columns)
        ]

    def _check(self, df: pd.DataFrame, targets: list[tuple[Any, Loc]]) -> None:
        strategy = self.args.strategy
        if strategy == "constant":
            return
        for col, cloc in targets:
            values = df[col].dropna()
            if values.empty:
                raise all_missing(col, len(df), cloc, f"compute a {strategy} from")
            if strategy in ("mean", "median") and not pd.api.types.is_numeric_dtype(values):
                raise ConfigError(
                    cloc,
                    f"strategy {strategy} needs numbers, but column {col!r} holds text "
                    f"(e.g. {values.iloc[0]!r})",
                    hint="Use strategy: most_frequent or constant for categorical columns",
                )

    def _statistics(self, table: pd.DataFrame) -> list[Any]:
        from sklearn.impute import SimpleImputer

        if self.args.strategy in ("mean", "median"):
            data = table.to_numpy(dtype=np.float64)
        else:
            data = table.astype(object).where(table.notna(), np.nan).to_numpy()
        imputer = SimpleImputer(
            strategy=self.args.strategy, fill_value=self.args.fill_value, keep_empty_features=True
        )
        return [plain(v) for v in imputer.fit(data).statistics_]

    def fit(self, x: Any) -> Impute:
        df = frame_of(x, self.loc)
        targets = self._targets(df)
        self._check(df, targets)
        self.columns = [col for col, _ in targets]
        self.statistics = self._statistics(df[self.columns]) if self.columns else []
        return self

    def transform(self, x: Any) -> pd.DataFrame:
        df = frame_of(x, self.loc)
        for col in self.columns:
            if col not in df.columns:
                column_of(df, col, self.loc + ("columns",))
        filled = df.copy()
        for col, value in zip(self.columns, self.statistics, strict=True):
            filled[col] = filled[col].fillna(value)
        return filled

    def state(self) -> dict[str, Any]:
        return {"columns": [plain(c) for c in self.columns], "statistics_": self.statistics}

    def load(self, state: dict[str, Any]) -> None:
        if "fill" in state:
            state = {
                "columns": [c for c, _ in state["fill"]],
                "statistics_": [v for _, v in state["fill"]],
            }
        self.columns = list(state["columns"])
        self.statistics = list(state["statistics_"])
