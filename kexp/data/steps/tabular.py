"""Table steps: one-hot categories (get_dummies) and missing values (impute, with
``sklearn.impute.SimpleImputer``).

These steps run on the data as loaded (a pandas DataFrame), before it becomes one
numeric array; like every step they are fitted on the training part only and keep
their fitted state as plain JSON (``preprocess.json``), so ``kexp predict``
applies exactly the same encoding to new rows.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable
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

    def fit_stream(self, chunks: Iterable[Any]) -> GetDummies:
        """The categories seen in any chunk, sorted (those :meth:`fit` finds)."""
        names: list[Any] = []
        seen: list[set[str]] = []
        rows = 0
        for x in chunks:
            df = frame_of(x, self.loc)
            rows += len(df)
            if not names:
                names = [column_of(df, c, self.loc + ("columns", j))
                         for j, c in enumerate(self.args.columns)]
                seen = [set() for _ in names]
            for k, name in enumerate(names):
                seen[k].update(c for cell in self._values(df[name]) for c in cell)
        self.categories = []
        for j, (name, cats) in enumerate(zip(names, seen, strict=True)):
            if not cats:
                raise all_missing(name, rows, self.loc + ("columns", j), "one-hot encode")
            self.categories.append((name, sorted(cats)))
        return self

    def transform(self, x: Any) -> pd.DataFrame:
        df = frame_of(x, self.loc)
        keep = df.drop(columns=[name for name, _ in self.categories if name in df.columns])
        parts = [keep]
        for j, (name, cats) in enumerate(self.categories):
            if name not in df.columns:
                column_of(df, name, self.loc + ("columns", j))  # raises, naming the column
            out = self._one_hot(df[name], cats)
            labels = [f"{name}{self.args.prefix_sep}{c}" for c in cats]
            parts.append(pd.DataFrame(out, columns=labels, index=df.index))
        return pd.concat(parts, axis=1)

    def _one_hot(self, series: pd.Series, cats: list[str]) -> np.ndarray:
        """A 0/1 column per category; all zeros for a missing value or another category."""
        out = np.zeros((len(series), len(cats)), dtype=np.float32)
        if not self.args.separator:  # one category a cell: by category codes, at once
            present = series.notna().to_numpy()
            values = series[present]
            if not pd.api.types.is_string_dtype(values) or values.dtype == object:
                values = values.map(str)  # numbers (and mixed cells) as their text, as fit saw them
            codes = pd.Categorical(values, categories=cats).codes
            rows = np.nonzero(present)[0]
            known = codes >= 0
            out[rows[known], codes[known]] = 1.0
            return out
        index = {c: k for k, c in enumerate(cats)}
        for i, cell in enumerate(self._values(series)):
            for c in cell:
                k = index.get(c)
                if k is not None:
                    out[i, k] = 1.0
        return out

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

    def fit_stream(self, chunks: Iterable[Any]) -> Impute:
        """One pass: a mean from running sums, a most frequent value from counts (the
        smallest of the most frequent, as SimpleImputer picks), a median from a uniform
        sample of at most :data:`MEDIAN_SAMPLE` values of each column (approximate)."""
        stats: dict[Any, _Running] = {}
        first: pd.DataFrame | None = None
        rows = 0
        strategy = self.args.strategy
        for x in chunks:
            df = frame_of(x, self.loc)
            rows += len(df)
            if first is None:
                first = df
                names = (list(df.columns) if self.args.columns is None
                         else [c for c, _ in self._targets(df)])
                text_ok = strategy not in ("mean", "median")
                stats = {c: _Running(strategy if text_ok or pd.api.types.is_numeric_dtype(df[c])
                                     else "count", zlib.crc32(str(c).encode())) for c in names}
            for c, running in stats.items():
                running.add(df[c])
        assert first is not None  # a training part has rows
        if self.args.columns is None:  # the columns missing a value somewhere
            targets = [(c, self.loc) for c, r in stats.items() if r.missing]
        else:
            targets = self._targets(first)
        for c, cloc in targets:
            r = stats[c]
            if strategy != "constant" and r.count == 0:
                raise all_missing(c, rows, cloc, f"compute a {strategy} from")
            if r.strategy == "count":  # text, where a mean or median needs numbers
                raise ConfigError(
                    cloc, f"strategy {strategy} needs numbers, but column {c!r} holds text "
                          f"(e.g. {r.example!r})",
                    hint="Use strategy: most_frequent or constant for categorical columns")
        self.columns = [c for c, _ in targets]
        self.statistics = [self.args.fill_value if strategy == "constant"
                           else plain(stats[c].value()) for c in self.columns]
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


#: the values of a column a streamed median is taken from
MEDIAN_SAMPLE = 100_000


class _Running:
    """One column's statistic, chunk by chunk: a sum and count (mean), value counts
    (most frequent), or a uniform sample of :data:`MEDIAN_SAMPLE` values (median): the
    values with the smallest of a seeded random key each; ``count``: only how many
    values and whether one is missing."""

    def __init__(self, strategy: str, seed: int) -> None:
        self.strategy, self.total, self.count, self.missing = strategy, 0.0, 0, False
        self.example: Any = None
        self.counts: Counter[Any] = Counter()
        self.rng = np.random.default_rng(seed)
        self.keys = np.empty(0)
        self.sample = np.empty(0)

    def add(self, series: pd.Series) -> None:
        values = series.dropna()
        self.missing = self.missing or len(values) < len(series)
        self.count += len(values)
        if self.example is None and len(values):
            self.example = values.iloc[0]
        if self.strategy == "mean":
            self.total += float(values.to_numpy(dtype=np.float64).sum())
        elif self.strategy == "most_frequent":
            self.counts.update(values.tolist())
        elif self.strategy == "median":
            keys = np.concatenate([self.keys, self.rng.random(len(values))])
            sample = np.concatenate([self.sample, values.to_numpy(dtype=np.float64)])
            if len(keys) > MEDIAN_SAMPLE:
                keep = np.argpartition(keys, MEDIAN_SAMPLE)[:MEDIAN_SAMPLE]
                keys, sample = keys[keep], sample[keep]
            self.keys, self.sample = keys, sample

    def value(self) -> Any:
        if self.strategy == "mean":
            return self.total / self.count
        if self.strategy == "median":
            return float(np.median(self.sample))
        top = max(self.counts.values())
        return min(v for v, n in self.counts.items() if n == top)
