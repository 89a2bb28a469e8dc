"""Array steps (flatten, reshape, scale, standardize, minmax) and scalers on chosen
table columns (:class:`ColumnScaler`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from kexp.data.steps.base import RawStep, Step, all_missing, column_of, frame_of, plain
from kexp.errors import ConfigError
from kexp.spec import FlattenStep, MinMaxStep, ReshapeStep, ScaleStep, StandardizeStep


class Flatten(Step):
    Args = FlattenStep
    learns = False

    def transform(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(len(x), -1)


class Reshape(Step):
    Args = ReshapeStep
    learns = False

    def __init__(self, args: ReshapeStep) -> None:
        self.shape = tuple(args.shape)

    def transform(self, x: np.ndarray) -> np.ndarray:
        try:
            return x.reshape((len(x), *self.shape))
        except ValueError:
            raise ConfigError(
                ("preprocess", "x"),
                f"cannot reshape samples of shape {x.shape[1:]} ({int(np.prod(x.shape[1:]))} values) "
                f"to {list(self.shape)} ({int(np.prod(self.shape))} values)",
            ) from None


class Scale(Step):
    Args = ScaleStep
    learns = False

    def __init__(self, args: ScaleStep) -> None:
        self.factor = args.factor

    def transform(self, x: np.ndarray) -> np.ndarray:
        return x / np.float32(self.factor)


class SklearnScaler(Step):
    """A scikit-learn scaler over the flattened features; state kept as JSON lists."""

    attrs: tuple[str, ...] = ()

    def _make(self) -> Any:
        raise NotImplementedError

    def fit(self, x: np.ndarray) -> Step:
        self.scaler = self._make().fit(x.reshape(len(x), -1))
        return self

    def fit_stream(self, chunks: Iterable[Any]) -> Step:
        """scikit-learn's ``partial_fit``, chunk by chunk (the same statistics as ``fit``)."""
        self.scaler = self._make()
        for x in chunks:
            if len(x):
                self.scaler.partial_fit(np.asarray(x).reshape(len(x), -1))
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        out = self.scaler.transform(x.reshape(len(x), -1))
        return out.reshape(x.shape).astype(np.float32)

    def state(self) -> dict[str, Any]:
        return {a: np.asarray(getattr(self.scaler, a)).tolist() for a in self.attrs if getattr(self.scaler, a) is not None}

    def load(self, state: dict[str, Any]) -> None:
        self.scaler = self._make()
        for a in self.attrs:
            setattr(self.scaler, a, np.asarray(state[a]) if a in state else None)
        self.scaler.n_features_in_ = len(next(iter(state.values()))) if state else 0


class Standardize(SklearnScaler):
    Args = StandardizeStep
    attrs = ("mean_", "scale_", "var_")

    def __init__(self, args: StandardizeStep) -> None:
        self.args = args

    def _make(self) -> Any:
        from sklearn.preprocessing import StandardScaler

        return StandardScaler(with_mean=self.args.with_mean, with_std=self.args.with_std)


class MinMax(SklearnScaler):
    Args = MinMaxStep
    attrs = ("min_", "scale_", "data_min_", "data_max_", "data_range_")

    def __init__(self, args: MinMaxStep) -> None:
        self.args = args

    def _make(self) -> Any:
        from sklearn.preprocessing import MinMaxScaler

        return MinMaxScaler(feature_range=self.args.feature_range)


class ColumnScaler(RawStep):
    """An array scaler (standardize / minmax) applied to chosen columns of a table;
    the other columns pass through unchanged."""

    def __init__(self, inner: Any, columns: list[Any]) -> None:
        self.inner = inner
        self.name = inner.name
        self.columns = columns
        self.resolved: list[Any] = []

    def fit(self, x: Any) -> ColumnScaler:
        self.inner.fit(self._columns(x).to_numpy(dtype=np.float64))
        return self

    def fit_stream(self, chunks: Iterable[Any]) -> ColumnScaler:
        self.inner.scaler = self.inner._make()
        rows, present = 0, None
        for k, x in enumerate(chunks):
            part = self._columns(x, check_missing=False) if k == 0 else frame_of(x, self.loc)[self.resolved]
            rows += len(part)
            counts = part.notna().sum().to_numpy()
            present = counts if present is None else present + counts
            if part.notna().any().any():
                self.inner.scaler.partial_fit(part.to_numpy(dtype=np.float64))
        for j, name in enumerate(self.resolved):
            if present is None or present[j] == 0:
                raise all_missing(name, rows, self.loc + ("columns", j), "scale")
        return self

    def _columns(self, x: Any, check_missing: bool = True) -> pd.DataFrame:
        """The step's columns of ``x``, each checked to be numbers (and not all missing)."""
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
            if check_missing and df[name].isna().all():
                raise all_missing(name, len(df), cloc, "scale")
            self.resolved.append(name)
        return df[self.resolved]

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
        return {"columns": [plain(c) for c in self.resolved], "scaler": self.inner.state()}

    def load(self, state: dict[str, Any]) -> None:
        self.resolved = list(state["columns"])
        self.inner.load(state["scaler"])
