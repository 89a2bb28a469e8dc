"""The spec's schema: the whole experiment (:class:`Config`), with every default spelled out.

The model (a Sequential stack or a functional graph), ``compile``, ``fit`` and ``cv``
live here; the data sources in :mod:`.sources`, preprocessing in :mod:`.steps`, and
:mod:`.messages` turns pydantic's errors into kexp messages. Names that Keras resolves
(layers, losses, optimizers, ...) are only checked for shape here; they are resolved
in :mod:`kexp.model.resolve` when the model is built. This module never imports
TensorFlow.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    ConfigDict,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    Tag,
    field_validator,
    model_serializer,
    model_validator,
)

from kexp.errors import did_you_mean
from kexp.spec.base import (
    MAX_INT32,
    Base,
    Column,
    KeyedValueError,
    NamedObject,
    Seed,
    ShortForms,
    bounded,
    per_name,
)
from kexp.spec.sources import CsvData, DataConfig, KerasData, NpzData, SequenceData
from kexp.spec.steps import PreprocessConfig
from kexp.spec.sweep import SweepConfig


class SequentialModel(Base):
    """A stack of layers: each item ``{LayerClass: {keyword: value}}``; first may be Input.

    An item may say how many times it is stacked, ``{Dense: {units: 64}, repeat: 3}``
    (``repeat: 0`` removes it: a depth study sweeps ``model.layers.1.repeat``); ``repeat``
    holds those counts, one per item (None when no item gives one).
    """

    type: Literal["sequential"] = "sequential"
    name: str | None = None
    layers: Annotated[list[NamedObject], Field(min_length=1)]
    repeat: list[int] | None = None

    @model_validator(mode="before")
    @classmethod
    def _take_repeats(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("layers"), list):
            return data
        layers = data["layers"]
        if not any(isinstance(item, dict) and "repeat" in item for item in layers):
            return data
        items, counts = [], []
        for i, item in enumerate(layers):
            count = item.get("repeat", 1) if isinstance(item, dict) else 1
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise KeyedValueError(("layers", i, "repeat"), "expected a whole number of "
                                      f"copies, 0 or more (0 removes the layer), received {count!r}")
            if count != 1 and i == len(layers) - 1:
                raise KeyedValueError(("layers", i, "repeat"), "the last layer is the model's "
                                      f"output; it cannot be repeated or removed (received {count})")
            items.append({k: v for k, v in item.items() if k != "repeat"} if isinstance(item, dict)
                         else item)
            counts.append(count)
        return {**data, "layers": items, "repeat": counts}

    @model_serializer(mode="wrap")
    def _join_repeats(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out = handler(self)
        counts = out.pop("repeat", None)
        if counts is not None:
            out["layers"] = [item if n == 1 else {**item, "repeat": n} if isinstance(item, dict)
                             else {item: None, "repeat": n} for item, n in zip(out["layers"], counts, strict=True)]
        return out

    def stacked(self) -> list[tuple[int, Any]]:
        """``(index in the spec, layer item)`` per layer of the model, repeats expanded."""
        counts = self.repeat or [1] * len(self.layers)
        return [(i, item) for i, (item, n) in enumerate(zip(self.layers, counts, strict=True))
                for _ in range(n)]


def _model_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("type", "sequential")
    return getattr(value, "type", None)


class GraphInput(Base):
    """A named model input; ``shape`` (per sample) defaults to the data's shape."""

    shape: list[Annotated[int, Field(gt=0)] | None] | None = None
    dtype: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, list):  # image: [28, 28, 1]
            return {"shape": data}
        if data is None:
            return {}
        return data


#: keys of a node besides its layer ``{Class: {arguments}}``
NODE_KEYS = ("inputs", "layer", "call")


def _node_json_schema(schema: dict[str, Any]) -> None:
    """In YAML a node's layer is its one key that is not a node key: ``{Dense: {units:
    8}, inputs: x}`` (``op`` is that layer once split off, as a resolved config holds it)."""
    schema["patternProperties"] = {
        r"^([^a-z]|.*:)": {
            "description": "The node's layer: {LayerClass: {arguments}} (or custom code "
                           "module:Name)",
            "anyOf": [{"type": "object"}, {"type": "null"}],
        }
    }
    schema["maxProperties"] = 1 + len(NODE_KEYS)


class GraphNode(Base):
    """One node of a functional model: a layer applied to other nodes or inputs.

    ``conv1: {Conv2D: {filters: 32, kernel_size: 4}, inputs: image}``. ``inputs`` is a
    name, a list of names (passed as one list: merge layers, Attention) or a mapping of
    call arguments to names (``{query: a, value: b}``: MultiHeadAttention). ``layer:
    <node>`` applies that node's layer again (shared weights); ``call`` holds further
    constant call arguments.
    """

    model_config = ConfigDict(json_schema_extra=_node_json_schema)

    op: NamedObject | None = None
    inputs: str | Annotated[list[str], Field(min_length=1)] | dict[str, str | list[str]]
    layer: str | None = None
    call: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _split_layer(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError(
                "expected a mapping {LayerClass: {arguments}, inputs: <node or input>}, "
                f"received {data!r}"[:200]
            )
        if "op" in data and set(data) <= {"op", *NODE_KEYS}:
            return data  # already split (a resolved config read back)
        layer_keys = [k for k in data if k not in NODE_KEYS]
        for key in layer_keys:
            if isinstance(key, str) and key[:1].islower() and ":" not in key:
                hint = did_you_mean(key, NODE_KEYS)
                raise ValueError(
                    f"unknown key '{key}'; expected a layer class (e.g. Dense: {{units: 8}}) "
                    f"and {', '.join(NODE_KEYS)}" + (f". {hint}" if hint else "")
                )
        if len(layer_keys) > 1:
            raise ValueError(
                f"expected one layer {{Class: {{arguments}}}}, received {len(layer_keys)}: "
                f"{', '.join(map(str, layer_keys))}. Make each layer its own node"
            )
        rest = {k: v for k, v in data.items() if k in NODE_KEYS}
        if layer_keys:
            name = layer_keys[0]
            rest["op"] = name if data[name] is None else {name: data[name]}
        return rest

    @model_serializer(mode="wrap")
    def _join_layer(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out = handler(self)
        op = out.pop("op", None)
        if op is None:
            return out
        head = {op: None} if isinstance(op, str) else dict(op)
        return {**head, **out}


class FunctionalModel(Base):
    """A graph of named nodes (Keras's Functional API): branches, merges, shared
    layers, several inputs and outputs."""

    type: Literal["functional"]
    name: str | None = None
    inputs: Annotated[dict[str, Annotated[GraphInput, ShortForms({"type": "null"}, field=(GraphInput, "shape"))]],
                      Field(min_length=1)]
    nodes: Annotated[dict[str, GraphNode], Field(min_length=1)]
    outputs: Annotated[list[str], Field(min_length=1)]

    @model_validator(mode="before")
    @classmethod
    def _one_output(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("outputs"), str):
            return {**data, "outputs": [data["outputs"]]}
        return data


ModelConfig = Annotated[
    Union[
        Annotated[SequentialModel, Tag("sequential")],
        Annotated[FunctionalModel, Tag("functional")],
    ],
    Discriminator(_model_tag),
]


Losses = per_name(NamedObject, lambda v: isinstance(v, dict) and len(v) != 1)
Metrics = per_name(list[NamedObject], lambda v: isinstance(v, dict))


class CompileConfig(Base):
    """``loss``, ``loss_weights`` and ``metrics`` may be given per output name:
    ``loss: {out1: binary_crossentropy, out2: mse}``."""

    loss: Losses  # type: ignore[valid-type]
    optimizer: NamedObject = "adam"
    metrics: Metrics = Field(default_factory=list)  # type: ignore[valid-type]
    loss_weights: list[float] | dict[str, float] | None = None
    steps_per_execution: bounded(1, MAX_INT32, "a number of batches") = 1  # type: ignore[valid-type]
    jit_compile: bool | Literal["auto"] = "auto"


#: the most epochs ``fit.epochs`` takes
MAX_EPOCHS = 1_000_000


class FitConfig(Base):
    epochs: bounded(  # type: ignore[valid-type]
        1, MAX_EPOCHS, "a number of epochs",
        "To train until the model stops improving, use the EarlyStopping callback",
    ) = 1
    batch_size: bounded(  # type: ignore[valid-type]
        1, MAX_INT32, "a batch size", "A batch larger than the data is the whole data"
    ) = 32
    validation_split: Annotated[float, Field(ge=0, lt=1)] = 0.0
    validation_data: Literal["test"] | None = None
    shuffle: bool = True
    class_weight: dict[int | str, float] | Literal["balanced"] | None = None
    verbose: Literal["auto", 0, 1, 2] = "auto"
    callbacks: list[NamedObject] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_validation(self) -> FitConfig:
        if self.validation_split and self.validation_data:
            raise ValueError(
                "give validation_split or validation_data, not both "
                f"(received validation_split={self.validation_split}, "
                f"validation_data={self.validation_data!r})"
            )
        return self


class CVConfig(Base):
    """k-fold cross-validation (``kexp cv``), with scikit-learn's splitters.

    The whole data set is split into folds; ``data.test`` is not applied under
    cv (each fold's held-out part is its test set). ``stratify: auto`` uses
    StratifiedKFold for class labels and KFold otherwise; ``repeats > 1`` uses
    the Repeated* splitters; ``group`` names a CSV column for GroupKFold.
    ``seed: null`` shuffles with the experiment's seed.
    """

    folds: int = 10
    repeats: Annotated[int, Field(gt=0)] = 1
    shuffle: bool = True
    stratify: bool | Literal["auto"] = "auto"
    group: Column | None = None
    seed: Seed | None = None  # type: ignore[valid-type]

    @field_validator("folds")
    @classmethod
    def _two_folds(cls, folds: int) -> int:
        if folds < 2:
            raise ValueError(
                f"expected at least 2 folds (each fold tests on 1/K of the data and trains on "
                f"the rest), received {folds}. For a single train/test split use `kexp run`"
            )
        return folds

    @model_validator(mode="after")
    def _check(self) -> CVConfig:
        if self.repeats > 1 and not self.shuffle:
            raise ValueError(
                f"repeats: {self.repeats} needs shuffle: true (each repeat reshuffles the data)"
            )
        return self


class MlflowTracking(Base):
    """Log runs to MLflow as they train (``pip install 'kexp[mlflow]'``; ``--mlflow [URI]``)."""

    enabled: bool = Field(True, description="false: keep the settings, log nothing")
    uri: str | None = Field(
        None, description="Tracking URI; null: MLflow's default (MLFLOW_TRACKING_URI, else a "
                          "local store in the current folder)",
        examples=["sqlite:///mlflow.db", "http://127.0.0.1:5000"])
    experiment: str | None = Field(None, description="MLflow experiment; null: the spec's name")
    parent_run_id: str | None = Field(
        None, description="Nest the run under this MLflow run (kexp cv and kexp sweep set it "
                          "for their folds and trials)")


class TrackingConfig(Base):
    """Where runs are logged besides their run folder."""

    mlflow: MlflowTracking | None = None


def _run_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.+-]+", value):
        raise ValueError(
            f"expected a name of letters, digits, '_', '.', '+' and '-' (it becomes part of the "
            f"run folder's name), received {value!r}"
        )
    return value


class Config(Base):
    """A whole experiment."""

    name: Annotated[str, AfterValidator(_run_name)] = Field(
        "experiment", description="Part of the run folder's name: letters, digits, _ . + -",
        examples=["mnist-mlp"])
    seed: Seed | None = Field(  # type: ignore[valid-type]
        None, description="Seeds Python, NumPy and TensorFlow; null: drawn and recorded "
                    "(kexp cv: 0)")
    deterministic: bool = Field(
        False, description="TensorFlow's deterministic ops (reproducible, slower)")
    data: DataConfig
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)
    model: ModelConfig
    compile: CompileConfig
    fit: FitConfig = Field(default_factory=FitConfig)
    cv: CVConfig = Field(default_factory=CVConfig)
    #: a study of many runs of this spec (``kexp sweep``); ``kexp run`` and ``kexp cv`` ignore it
    sweep: SweepConfig | None = None
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)

    @model_validator(mode="after")
    def _validation_sources(self) -> Config:
        if self.data.validation is not None and (
            self.fit.validation_split or self.fit.validation_data
        ):
            raise ValueError(
                "data.validation holds out a validation set already; "
                "remove fit.validation_split / fit.validation_data"
            )
        if self.fit.validation_data == "test" and self.data.test is None and not _has_test(self):
            raise ValueError("fit.validation_data: test needs a test set (data.test)")
        return self


def _has_test(cfg: Config) -> bool:
    d = cfg.data
    return isinstance(d, (KerasData, SequenceData)) or (isinstance(d, NpzData) and d.x_test is not None) or (
        isinstance(d, CsvData) and d.test_path is not None
    )


def resolved(cfg: Config) -> dict[str, Any]:
    """The fully resolved config (every default filled in) as plain YAML-able data."""
    out = cfg.model_dump(mode="json")
    data = out["data"]
    out["data"] = {"source": data.pop("source"), **data}
    return out
