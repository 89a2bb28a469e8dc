"""Transforms of x and y, fitted on the training part only and saved as JSON.

A :class:`Preprocessor` holds the x steps of one model input and the y encoding of one
output; :class:`NamedPreprocessor` holds one per input and output of the model. The
fitted state goes into the run folder (``preprocess.json``) so that ``kexp predict``
applies exactly the same transforms to new data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, cast

import numpy as np
import pandas as pd

from kexp.data.images import ImageFiles
from kexp.data.named import names_of
from kexp.data.steps import Scale, Tokenize, apply_steps, check_order, fit_stream, make_step
from kexp.data.steps import labels as label_maps
from kexp.errors import ConfigError, DataError, did_you_mean
from kexp.spec import Config, FunctionalModel, LabelMap, PreprocessConfig


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

    def fit(self, x: Any, y: Any) -> Preprocessor:
        """Fit the x steps on ``x`` and the y encoding on ``y`` (training part only)."""
        return self.fit_x(x).fit_y(y)

    # -- x
    def fit_x(self, x: Any, part: str = "x_train") -> Preprocessor:
        if isinstance(x, ImageFiles):
            self._image_steps()  # nothing to fit: a scale step divides by its factor
        else:
            apply_steps(self.steps, x, part, fit=True)
        self.fitted = True
        return self

    def fit_x_stream(self, chunks: Callable[[], Iterable[Any]], part: str = "x_train") -> Preprocessor:
        """Fit the x steps on the training part read chunk by chunk (a streamed CSV)."""
        fit_stream(self.steps, chunks, part)
        self.fitted = True
        return self

    def fit_y_labels(self, labels: Any, part: str = "y_train") -> Preprocessor:
        """Fit the y encoding on the distinct labels of the training part (a streamed CSV
        collects them chunk by chunk): the classes :meth:`fit_y` finds from every label."""
        if self.cfg.y != "none":
            self.classes = self._fit_classes(self.map_labels(labels, part))
        self.fitted = True
        return self

    def transform_x(self, x: Any, part: str = "x") -> Any:
        if isinstance(x, ImageFiles):
            for step in self._image_steps():
                x = x.scaled(step.factor)
            return x
        return apply_steps(self.steps, x, part, fit=False)

    def _image_steps(self) -> list[Scale]:
        """The steps of images read from a folder: ``scale`` steps, applied as each image
        is decoded; any other step is a ConfigError naming it."""
        for step in self.steps:
            if not isinstance(step, Scale):
                raise ConfigError(
                    step.loc,
                    f"the {step.name} step cannot apply to images read from a folder: they are "
                    "decoded batch by batch, never held as one array",
                    hint="Scale pixels with {scale: 255} or a Rescaling layer; normalize with a "
                         "Normalization layer, resize with data.image_size",
                )
        return cast(list[Scale], list(self.steps))

    @property
    def vocabulary_size(self) -> int | None:
        """The number of token indices a tokenize step produces (None without one)."""
        sizes = [s.vocabulary_size for s in self.steps if isinstance(s, Tokenize)]
        return sizes[-1] if sizes else None

    # -- y
    def fit_y(self, y: Any, part: str = "y_train") -> Preprocessor:
        if self.cfg.y != "none":
            self.classes = self._fit_classes(self.map_labels(y, part))
        self.fitted = True
        return self

    def _fit_classes(self, y: Any) -> list[Any]:
        labels = _labels(y)
        n = self.cfg.num_classes
        assert not isinstance(n, dict)  # per output name, each output has its own Preprocessor
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
        spec = self.cfg.labels
        return label_maps.apply(spec, y, part) if isinstance(spec, LabelMap) else y

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


def _pick(value: Any, name: str, names: list[str], key: tuple, default: Any) -> Any:
    """``value`` for ``name`` when given per name, else ``value`` for every name."""
    if not isinstance(value, dict):
        return value if value is not None else default
    for k in value:
        if k not in names:
            raise ConfigError(
                key + (k,),
                f"'{k}' is not a model input/output here (expected one of: {', '.join(names)})",
                hint=did_you_mean(str(k), names),
            )
    return value.get(name, default)


class NamedPreprocessor:
    """The preprocessing of every input and output of a model, by name.

    A model with one input and one output whose preprocessing is not given per name has
    one :class:`Preprocessor` for both; otherwise each input has its own x steps
    (``preprocess.x: {image: [...]}`` or the same list for all) and each output its own y
    encoding. ``classes`` is ``{output: class labels or None}``.
    """

    def __init__(self, cfg: PreprocessConfig, inputs: list[str], outputs: list[str]) -> None:
        self.cfg, self.input_names, self.output_names = cfg, list(inputs), list(outputs)
        if len(inputs) == 1 and len(outputs) == 1 and not cfg.is_per_name():
            unit = Preprocessor(cfg)
            self.inputs, self.outputs = {inputs[0]: unit}, {outputs[0]: unit}
            return
        self.inputs = {
            n: Preprocessor(PreprocessConfig.model_validate(
                {"x": _pick(cfg.x, n, inputs, ("preprocess", "x"), [])}))
            for n in inputs
        }
        self.outputs = {
            n: Preprocessor(PreprocessConfig.model_validate({
                "y": _pick(cfg.y, n, outputs, ("preprocess", "y"), "none"),
                "labels": _pick(cfg.labels, n, outputs, ("preprocess", "labels"), None),
                "num_classes": _pick(cfg.num_classes, n, outputs, ("preprocess", "num_classes"), None),
            }))
            for n in outputs
        }

    @property
    def shared(self) -> bool:
        """One Preprocessor for the model's only input and output."""
        return len(self.inputs) == 1 and next(iter(self.inputs.values())) is next(iter(self.outputs.values()))

    @property
    def classes(self) -> dict[str, Any]:
        return {n: p.classes for n, p in self.outputs.items()}

    @property
    def y_modes(self) -> dict[str, str]:
        # each output's own Preprocessor has one y mode (never one per output name)
        return {n: cast(str, p.cfg.y) for n, p in self.outputs.items()}

    @property
    def vocabulary_sizes(self) -> dict[str, int | None]:
        return {n: p.vocabulary_size for n, p in self.inputs.items()}

    def fit(self, x: dict[str, Any], y: dict[str, Any]) -> NamedPreprocessor:
        for name, pre in self.inputs.items():
            pre.fit_x(x[name], _label("x_train", name, self.inputs))
        for name, pre in self.outputs.items():
            pre.fit_y(y[name], _label("y_train", name, self.outputs))
        return self

    def transform_x(self, x: dict[str, Any], part: str = "x") -> dict[str, np.ndarray]:
        return {n: p.transform_x(x[n], _label(part, n, self.inputs)) for n, p in self.inputs.items()}

    def transform_y(self, y: dict[str, Any], part: str = "y") -> dict[str, np.ndarray]:
        return {n: p.transform_y(y[n], _label(part, n, self.outputs)) for n, p in self.outputs.items()}

    def map_labels(self, y: dict[str, Any] | None, part: str = "y") -> dict[str, Any] | None:
        if y is None:
            return None
        return {n: p.map_labels(y[n], _label(part, n, self.outputs)) for n, p in self.outputs.items()}

    def state(self) -> dict[str, Any]:
        names = {"input_names": self.input_names, "output_names": self.output_names}
        if self.shared:
            return {**next(iter(self.inputs.values())).state(), **names}
        return {
            "config": self.cfg.model_dump(mode="json"), **names,
            "inputs": {n: p.state() for n, p in self.inputs.items()},
            "outputs": {n: p.state() for n, p in self.outputs.items()},
            "classes": self.classes,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], inputs: list[str], outputs: list[str]) -> NamedPreprocessor:
        """The preprocessing saved in ``preprocess.json`` (also as written by kexp 0.1:
        one Preprocessor's state, or per-name parts beside a ``plain`` one)."""
        pre = cls.__new__(cls)
        pre.cfg = PreprocessConfig.model_validate(state["config"])
        pre.input_names = list(state.get("input_names") or inputs)
        pre.output_names = list(state.get("output_names") or outputs)
        if "inputs" not in state:
            unit = Preprocessor.from_state(state)
            pre.inputs, pre.outputs = {pre.input_names[0]: unit}, {pre.output_names[0]: unit}
            return pre
        plain = Preprocessor.from_state(state["plain"]) if "plain" in state else None
        pre.inputs = {n: Preprocessor.from_state(s) for n, s in state["inputs"].items()}
        pre.outputs = {n: Preprocessor.from_state(s) for n, s in state["outputs"].items()}
        if not (pre.inputs and pre.outputs):
            # kexp 0.1 wrote the part not given per name as "plain", beside the per-name parts
            assert plain is not None
            pre.inputs = pre.inputs or {pre.input_names[0]: plain}
            pre.outputs = pre.outputs or {pre.output_names[0]: plain}
        return pre


def _label(part: str, name: str, by_name: dict[str, Any]) -> str:
    return part if len(by_name) == 1 else f"{part}.{name}"


def preprocessor_for(cfg: Config) -> NamedPreprocessor:
    """The (unfitted) preprocessing of the spec's model, by input and output name."""
    if not isinstance(cfg.model, FunctionalModel) and cfg.preprocess.is_per_name():
        raise ConfigError(
            ("preprocess",),
            "preprocessing per input or output name needs a functional model with named "
            "inputs and outputs",
            hint="Give one list of x steps and one y encoding, or use model.type: functional",
        )
    return NamedPreprocessor(cfg.preprocess, *names_of(cfg))
