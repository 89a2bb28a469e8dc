"""Data for models with several named inputs and outputs.

Such data is a dict ``{input or output name: array or frame}`` (Keras's own format
for ``fit``/``evaluate`` of a functional model with named inputs and outputs). This
module checks that the data's names are the model's names, takes rows of such dicts,
and preprocesses each input and output with its own :class:`~kexp.preprocess.Preprocessor`
(``preprocess.x: {image: [...], aux: [...]}``, ``preprocess.y: {digit: one_hot, ...}``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kexp.data.preprocess import Preprocessor
from kexp.errors import ConfigError, did_you_mean
from kexp.spec import Config, FunctionalModel, PreprocessConfig


def n_rows(a: Any) -> int:
    """Samples in an array, frame or dict of them."""
    if isinstance(a, dict):
        return n_rows(next(iter(a.values())))
    return len(a)


def sample_shape(a: Any) -> Any:
    """Per-sample shape: a tuple, or ``{name: tuple}``."""
    if isinstance(a, dict):
        return {k: sample_shape(v) for k, v in a.items()}
    return tuple(np.shape(a)[1:])


def take(a: Any, idx: Any) -> Any:
    """Rows ``idx`` of an array, frame or dict of them."""
    if a is None:
        return None
    if isinstance(a, dict):
        return {k: take(v, idx) for k, v in a.items()}
    if isinstance(a, (pd.DataFrame, pd.Series)):
        return a.iloc[idx]
    return np.asarray(a)[idx]


def first(a: Any) -> Any:
    """The first output's targets (for stratification), or ``a`` itself."""
    return next(iter(a.values())) if isinstance(a, dict) else a


def names_of(cfg: Config) -> tuple[list[str], list[str]] | None:
    """The model's input and output names (None for a Sequential model)."""
    if isinstance(cfg.model, FunctionalModel):
        return list(cfg.model.inputs), list(cfg.model.outputs)
    return None


def needs_names(cfg: Config, x: Any, y: Any) -> tuple[bool, bool]:
    """Whether x / y are handled per name: the data, the preprocessing or the model says so."""
    names = names_of(cfg)
    pre = cfg.preprocess
    if names is None:
        return isinstance(x, dict), isinstance(y, dict)
    ins, outs = names
    named_x = isinstance(x, dict) or len(ins) > 1 or isinstance(pre.x, dict)
    named_y = (
        isinstance(y, dict)
        or len(outs) > 1
        or any(isinstance(v, dict) for v in (pre.y, pre.num_classes))
        or (pre.labels is not None and isinstance(pre.labels, dict))
    )
    return named_x, named_y


def _data_key(cfg: Config, what: str) -> tuple:
    source = cfg.data.source
    if source == "csv":
        return ("data", "features" if what == "x" else "target")
    if source == "npz":
        return ("data", f"{what}_train")
    return ("data", "source")


def name_data(cfg: Config, x: Any, y: Any, part: str = "train") -> tuple[Any, Any]:
    """``x`` and ``y`` as dicts keyed by the model's input / output names, where needed.

    Plain data for a model with one input (output) is given that input's (output's)
    name; dicts must name exactly the model's inputs (outputs).
    """
    names = names_of(cfg)
    named_x, named_y = needs_names(cfg, x, y)
    if names is None:
        if named_x or named_y:
            raise ConfigError(
                _data_key(cfg, "x" if named_x else "y"),
                "data per named input or output needs a functional model; this model is "
                "sequential (one input, one output)",
                hint="Use model.type: functional with named inputs and outputs, or give one "
                "group of columns",
            )
        return x, y
    ins, outs = names
    if named_x:
        x = _named(cfg, x, ins, "x", "input", part)
    if named_y and y is not None:
        y = _named(cfg, y, outs, "y", "output", part)
    return x, y


def _named(cfg: Config, a: Any, names: list[str], what: str, kind: str, part: str) -> dict[str, Any]:
    key = _data_key(cfg, what)
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


# ------------------------------------------------------------------- preprocessing


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
    """One :class:`Preprocessor` per input (x steps) and per output (y encoding).

    The same interface as :class:`Preprocessor` on dicts; ``classes`` is
    ``{output: classes or None}``.
    """

    def __init__(self, cfg: PreprocessConfig, inputs: list[str] | None, outputs: list[str] | None) -> None:
        self.cfg = cfg
        self.input_names = inputs
        self.output_names = outputs
        self.inputs: dict[str, Preprocessor] = {}
        self.outputs: dict[str, Preprocessor] = {}
        if inputs is not None:
            for name in inputs:
                steps = _pick(cfg.x, name, inputs, ("preprocess", "x"), [])
                self.inputs[name] = Preprocessor(PreprocessConfig.model_validate({"x": steps}))
        elif isinstance(cfg.x, dict):
            raise ConfigError(("preprocess", "x"), "steps per input name need several named inputs")
        if outputs is not None:
            for name in outputs:
                sub = {
                    "y": _pick(cfg.y, name, outputs, ("preprocess", "y"), "none"),
                    "labels": _pick(cfg.labels, name, outputs, ("preprocess", "labels"), None),
                    "num_classes": _pick(cfg.num_classes, name, outputs, ("preprocess", "num_classes"), None),
                }
                self.outputs[name] = Preprocessor(PreprocessConfig.model_validate(sub))
        # the part that is not named (x or y) keeps the spec's whole preprocessing
        self.plain = Preprocessor(
            PreprocessConfig.model_validate(
                {
                    "x": [] if inputs is not None else cfg.x,
                    "y": "none" if outputs is not None else cfg.y,
                    "labels": None if outputs is not None else cfg.labels,
                    "num_classes": None if outputs is not None else cfg.num_classes,
                }
            )
        )
        self.fitted = False

    @property
    def classes(self) -> Any:
        if self.output_names is None:
            return self.plain.classes
        return {n: p.classes for n, p in self.outputs.items()}

    def fit(self, x: Any, y: Any) -> NamedPreprocessor:
        n = n_rows(x)
        if self.input_names is not None:
            for name, pre in self.inputs.items():
                pre.fit(x[name], None)
        if self.output_names is not None:
            for name, pre in self.outputs.items():
                pre.fit(np.zeros((n, 0), dtype=np.float32), y[name])
        self.plain.fit(
            x if self.input_names is None else np.zeros((n, 0), dtype=np.float32),
            y if self.output_names is None else None,
        )
        self.fitted = True
        return self

    def transform_x(self, x: Any, part: str = "x") -> Any:
        if self.input_names is None:
            return self.plain.transform_x(x, part)
        return {name: pre.transform_x(x[name], f"{part}.{name}") for name, pre in self.inputs.items()}

    def transform_y(self, y: Any, part: str = "y") -> Any:
        if self.output_names is None:
            return self.plain.transform_y(y, part)
        return {name: pre.transform_y(y[name], f"{part}.{name}") for name, pre in self.outputs.items()}

    def map_labels(self, y: Any, part: str = "y") -> Any:
        if y is None:
            return None
        if self.output_names is None:
            return self.plain.map_labels(y, part)
        return {name: pre.map_labels(y[name], f"{part}.{name}") for name, pre in self.outputs.items()}

    def state(self) -> dict[str, Any]:
        return {
            "config": self.cfg.model_dump(mode="json"),
            "input_names": self.input_names,
            "output_names": self.output_names,
            "inputs": {n: p.state() for n, p in self.inputs.items()},
            "outputs": {n: p.state() for n, p in self.outputs.items()},
            "plain": self.plain.state(),
            "classes": self.classes,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> NamedPreprocessor:
        pre = cls(
            PreprocessConfig.model_validate(state["config"]), state["input_names"], state["output_names"]
        )
        pre.inputs = {n: Preprocessor.from_state(s) for n, s in state["inputs"].items()}
        pre.outputs = {n: Preprocessor.from_state(s) for n, s in state["outputs"].items()}
        pre.plain = Preprocessor.from_state(state["plain"])
        pre.fitted = True
        return pre


def make_preprocessor(cfg: Config, x: Any, y: Any) -> Preprocessor | NamedPreprocessor:
    """A :class:`NamedPreprocessor` when x or y is per name, else a plain :class:`Preprocessor`."""
    if not (isinstance(x, dict) or isinstance(y, dict)):
        if cfg.preprocess.is_per_name():
            raise ConfigError(
                ("preprocess",),
                "preprocessing per input or output name needs a functional model with named "
                "inputs and outputs",
                hint="Give one list of x steps and one y encoding, or use model.type: functional",
            )
        return Preprocessor(cfg.preprocess)
    return NamedPreprocessor(
        cfg.preprocess,
        list(x) if isinstance(x, dict) else None,
        list(y) if isinstance(y, dict) else None,
    )


def load_preprocessor(state: dict[str, Any]) -> Preprocessor | NamedPreprocessor:
    """The preprocessing saved in a run folder's ``preprocess.json``."""
    if "inputs" in state and "plain" in state:
        return NamedPreprocessor.from_state(state)
    return Preprocessor.from_state(state)
