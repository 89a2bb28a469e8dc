"""Transforms of x and y, fitted on the training part only and saved as JSON.

The fitted state goes into the run folder (``preprocess.json``) so that
``kexp predict`` applies exactly the same transforms to new data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kexp.config import (
    FlattenStep,
    LabelMap,
    MinMaxStep,
    PreprocessConfig,
    ReshapeStep,
    ScaleStep,
    StandardizeStep,
)
from kexp.errors import ConfigError, DataError
from kexp.tabular import ColumnScaler, GetDummies, Impute
from kexp.text import Pad, Tokenize


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

    ``raw`` steps (kexp.tabular, kexp.text) take the data as loaded (a table or
    sequences) and come first; the others take the numeric float32 array.
    """

    name = ""
    raw = False

    def fit(self, x: np.ndarray) -> Step:
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        return {}

    def load(self, state: dict[str, Any]) -> None:
        pass


class Flatten(Step):
    name = "flatten"

    def __init__(self, args: FlattenStep) -> None:
        pass

    def transform(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(len(x), -1)


class Reshape(Step):
    name = "reshape"

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
    name = "scale"

    def __init__(self, args: ScaleStep) -> None:
        self.factor = args.factor

    def transform(self, x: np.ndarray) -> np.ndarray:
        return x / np.float32(self.factor)


class _SklearnScaler(Step):
    """A scikit-learn scaler over the flattened features; state kept as JSON lists."""

    attrs: tuple[str, ...] = ()

    def _make(self) -> Any:
        raise NotImplementedError

    def fit(self, x: np.ndarray) -> Step:
        self.scaler = self._make().fit(x.reshape(len(x), -1))
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


class Standardize(_SklearnScaler):
    name = "standardize"
    attrs = ("mean_", "scale_", "var_")

    def __init__(self, args: StandardizeStep) -> None:
        self.args = args

    def _make(self) -> Any:
        from sklearn.preprocessing import StandardScaler

        return StandardScaler(with_mean=self.args.with_mean, with_std=self.args.with_std)


class MinMax(_SklearnScaler):
    name = "minmax"
    attrs = ("min_", "scale_", "data_min_", "data_max_", "data_range_")

    def __init__(self, args: MinMaxStep) -> None:
        self.args = args

    def _make(self) -> Any:
        from sklearn.preprocessing import MinMaxScaler

        return MinMaxScaler(feature_range=self.args.feature_range)


STEP_CLASSES: dict[str, type[Any]] = {
    cls.name: cls
    for cls in (Flatten, Reshape, Scale, Standardize, MinMax, Tokenize, Pad, GetDummies, Impute)
}


def make_step(name: str, args: Any, loc: tuple) -> Any:
    """The step object for one ``preprocess.x`` item; scalers with ``columns`` work
    on those columns of the table only."""
    step = STEP_CLASSES[name](args)
    if getattr(args, "columns", None) is not None and isinstance(step, _SklearnScaler):
        step = ColumnScaler(step, args.columns)
    step.loc = loc + (name,)
    return step


def _check_order(steps: list[Any], loc: tuple) -> None:
    first_array = next((i for i, s in enumerate(steps) if not s.raw), None)
    for i, s in enumerate(steps):
        if s.raw and first_array is not None and i > first_array:
            raise ConfigError(
                loc + (i,),
                f"'{s.name}' works on the data as loaded (a table or sequences) and must come "
                f"before '{steps[first_array].name}', which works on the numeric array",
                hint=f"Move {s.name} up in preprocess.x",
            )


def apply_steps(steps: list[Any], x: Any, part: str, fit: bool) -> np.ndarray:
    """Run the steps (fitting each first when ``fit``); the data becomes a float32
    array before the first step that needs one."""
    data = x
    converted = False
    for step in steps:
        if not step.raw and not converted:
            data, converted = to_array(data, ("data", part)), True
        if fit:
            step.fit(data)
        data = step.transform(data)
    return data if converted else to_array(data, ("data", part))


class Preprocessor:
    """All of a spec's preprocessing, fitted on training data.

    ``classes`` is the list of class labels when y is encoded (one_hot/sparse),
    in the order of the model's outputs; None for raw targets.
    """

    def __init__(self, cfg: PreprocessConfig) -> None:
        self.cfg = cfg
        loc = ("preprocess", "x")
        self.steps = [make_step(name, args, loc + (i,)) for i, (name, args) in enumerate(cfg.x_steps())]
        _check_order(self.steps, loc)
        self.classes: list[Any] | None = None
        self.fitted = False

    # -- x
    def fit(self, x: Any, y: Any) -> Preprocessor:
        apply_steps(self.steps, x, "x_train", fit=True)
        if self.cfg.y != "none":
            self.classes = self._fit_classes(self.map_labels(y, "y_train"))
        self.fitted = True
        return self

    def transform_x(self, x: Any, part: str = "x") -> np.ndarray:
        return apply_steps(self.steps, x, part, fit=False)

    @property
    def vocabulary_size(self) -> int | None:
        """The number of token indices a tokenize step produces (None without one)."""
        sizes = [s.vocabulary_size for s in self.steps if isinstance(s, Tokenize)]
        return sizes[-1] if sizes else None

    # -- y
    def _fit_classes(self, y: Any) -> list[Any]:
        labels = _labels(y)
        n = self.cfg.num_classes
        if labels.dtype.kind in "iub" or (
            labels.dtype.kind == "f" and np.all(np.isfinite(labels)) and np.all(labels == np.round(labels))
        ):
            ints = labels.astype(np.int64)
            if ints.min(initial=0) >= 0:
                count = int(ints.max(initial=0)) + 1
                if n is not None and n < count:
                    raise ConfigError(
                        ("preprocess", "num_classes"),
                        f"num_classes is {n} but the training labels go up to {count - 1}",
                        hint=f"Set num_classes: {count} or leave it out",
                    )
                return list(range(n or count))
        classes = sorted(pd.unique(labels.astype(str) if labels.dtype.kind == "O" else labels).tolist())
        if n is not None and n != len(classes):
            raise ConfigError(
                ("preprocess", "num_classes"),
                f"num_classes is {n} but the training labels have {len(classes)} classes ({classes[:10]})",
            )
        return classes

    def map_labels(self, y: Any, part: str = "y") -> Any:
        """``y`` with ``preprocess.labels`` applied (unchanged when there is none)."""
        from kexp import labels

        spec = self.cfg.labels
        return labels.apply(spec, y, part) if isinstance(spec, LabelMap) else y

    def transform_y(self, y: Any, part: str = "y") -> np.ndarray:
        y = self.map_labels(y, part)
        if self.cfg.y == "none":
            arr = y.to_numpy() if isinstance(y, (pd.Series, pd.DataFrame)) else np.asarray(y)
            try:
                return arr.astype(np.float32)
            except (TypeError, ValueError):
                raise ConfigError(
                    ("preprocess", "y"),
                    f"the {part} labels are not numbers (e.g. {arr.ravel()[0]!r})",
                    hint="Set preprocess.y: sparse or one_hot to encode them",
                ) from None
        assert self.classes is not None
        labels = _labels(y)
        if isinstance(self.classes[0], int):
            try:
                as_float = labels.astype(np.float64)
            except (TypeError, ValueError):
                raise DataError(f"{part}: labels are not numbers (e.g. {labels[0]!r}) but the training labels were") from None
            idx = np.nan_to_num(as_float, nan=-1).astype(np.int64)
            bad = labels[(idx < 0) | (idx >= len(self.classes)) | (as_float != idx)]
        else:
            lookup = {c: i for i, c in enumerate(self.classes)}
            keyed = labels.astype(str) if labels.dtype.kind == "O" else labels
            idx = np.array([lookup.get(v, -1) for v in keyed.tolist()], dtype=np.int64)
            bad = keyed[idx < 0]
        if len(bad):
            raise DataError(
                f"{part}: label(s) {sorted(set(bad.tolist()))[:5]} were not in the training labels "
                f"{self.classes[:10]}"
            )
        if self.cfg.y == "sparse":
            return idx.astype(np.int32)
        out = np.zeros((len(idx), len(self.classes)), dtype=np.float32)
        out[np.arange(len(idx)), idx] = 1.0
        return out

    # -- persistence
    def state(self) -> dict[str, Any]:
        return {
            "config": self.cfg.model_dump(mode="json"),
            "steps": [{"name": s.name, "state": s.state()} for s in self.steps],
            "classes": self.classes,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Preprocessor:
        pre = cls(PreprocessConfig.model_validate(state["config"]))
        for step, saved in zip(pre.steps, state["steps"], strict=True):
            step.load(saved["state"])
        pre.classes = state.get("classes")
        pre.fitted = True
        return pre


def _labels(y: Any) -> np.ndarray:
    arr = y.to_numpy() if isinstance(y, (pd.Series, pd.DataFrame)) else np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ConfigError(
            ("preprocess", "y"),
            f"expected one label per sample, received labels of shape {arr.shape}",
            hint="Use y: none for targets that are already encoded",
        )
    return arr
