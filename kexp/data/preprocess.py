"""Transforms of x and y, fitted on the training part only and saved as JSON.

The fitted state goes into the run folder (``preprocess.json``) so that
``kexp predict`` applies exactly the same transforms to new data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kexp.data.steps import Tokenize, apply_steps, check_order, make_step
from kexp.errors import ConfigError, DataError
from kexp.spec import LabelMap, PreprocessConfig


class Preprocessor:
    """All of a spec's preprocessing, fitted on training data.

    ``classes`` is the list of class labels when y is encoded (one_hot/sparse),
    in the order of the model's outputs; None for raw targets.
    """

    def __init__(self, cfg: PreprocessConfig) -> None:
        self.cfg = cfg
        loc = ("preprocess", "x")
        self.steps = [make_step(name, args, loc + (i,)) for i, (name, args) in enumerate(cfg.x_steps())]
        check_order(self.steps, loc)
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
        from kexp.data.steps import labels

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
