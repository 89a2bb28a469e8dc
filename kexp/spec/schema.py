"""The spec's schema: pydantic models with every default spelled out.

``load_config(spec)`` validates a :class:`kexp.spec.Spec` and turns pydantic's
errors into :class:`ConfigError` messages that name the YAML path and line, what
was expected and received, and a close match for misspelled keys or names.

Names that Keras resolves (layers, losses, optimizers, ...) are only checked for
shape here; they are resolved in :mod:`kexp.registry` when the model is built.
This module never imports TensorFlow.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    Tag,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from kexp.errors import ConfigError, ConfigErrors, did_you_mean
from kexp.spec.load import PathT, Spec


class Base(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def single_key(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) != 1:
            raise ValueError(
                "expected a name or a one-key mapping {Name: {arguments}}, received a mapping "
                f"with {len(value)} keys ({', '.join(map(str, value))})"
            )
        name = next(iter(value))
        if not isinstance(name, str):
            raise ValueError(f"expected a name as the key, received {name!r}")
    return value


#: A Keras object by name (``adam``), with arguments (``{SGD: {momentum: 0.9}}``),
#: with a single positional argument (``{l2: 0.001}``), or custom code
#: (``mypkg.losses:asymmetric``).
NamedObject = Annotated[str | dict[str, Any], AfterValidator(single_key)]


def per_name(one: Any, is_per_name: Any) -> Any:
    """``one`` value for everything, or a mapping ``{input or output name: one}``.

    ``is_per_name(value)`` tells the two apart (a mapping can be a single value too,
    e.g. ``{SGD: {momentum: 0.9}}``).
    """
    return Annotated[
        Union[Annotated[one, Tag("one")], Annotated[dict[str, one], Tag("per_name")]],
        Discriminator(lambda v: "per_name" if is_per_name(v) else "one"),
    ]


def named(obj: Any) -> tuple[str, Any]:
    """Split a NamedObject into (name, arguments or None)."""
    if isinstance(obj, str):
        return obj, None
    name = next(iter(obj))
    return name, obj[name]


# ----------------------------------------------------------------------------- data


class Holdout(Base):
    """A part held out with ``sklearn.model_selection.train_test_split``."""

    size: Annotated[float, Field(gt=0)] = 0.2
    stratify: bool | Literal["auto"] = "auto"
    shuffle: bool = True
    random_state: int | None = None

    @model_validator(mode="after")
    def _check_size(self) -> Holdout:
        if self.size >= 1 and self.size != int(self.size):
            raise ValueError(
                f"size must be a fraction in (0, 1) or a whole number of rows, received {self.size}"
            )
        return self


Column = Union[int, str]


class _DataBase(Base):
    test: Holdout | None = Field(default_factory=Holdout)
    validation: Holdout | None = None
    limit: Annotated[int, Field(gt=0)] | None = None


class CsvData(_DataBase):
    """Rows of a CSV file; features and target columns by index or name."""

    source: Literal["csv"]
    path: str
    header: bool | Literal["auto"] = "auto"
    delimiter: str = ","
    #: columns as a list, a range ``"0:8"``, or per model input: ``{main: "0:5", aux: [5, 6]}``
    features: list[Column] | str | None | dict[str, list[Column] | str] = None
    #: a column, several columns, or per model output: ``{diabetes: 8, bmi: 5}``
    target: Column | list[Column] | dict[str, Column | list[Column]]
    test_path: str | None = None
    #: values that mean "missing" (Pima's impossible zeros): a list for every
    #: column, or {column: [values]}; they become NaN when the file is read
    missing_values: Union[list[Any], dict[Column, list[Any]], None] = None
    #: drop rows with a missing value (in every column, or in the listed ones)
    dropna: Union[bool, list[Column]] = False


class NpzData(_DataBase):
    """Arrays in an .npz file, by default in Keras's layout (x_train, y_train, x_test, y_test)."""

    source: Literal["npz"]
    path: str
    #: an array name, or per model input/output: ``x_train: {image: x_train, aux: a_train}``
    x_train: str | dict[str, str] = "x_train"
    y_train: str | dict[str, str] = "y_train"
    x_test: str | dict[str, str] | None = "x_test"
    y_test: str | dict[str, str] | None = "y_test"


KERAS_DATASETS = (
    "mnist",
    "fashion_mnist",
    "cifar10",
    "cifar100",
    "boston_housing",
    "california_housing",
)


class KerasData(_DataBase):
    """A ``keras.datasets`` loader (downloads on first use, then cached in ~/.keras)."""

    source: Literal[KERAS_DATASETS]  # type: ignore[valid-type]
    offline_fallback: bool = True


SEQUENCE_DATASETS = ("imdb", "reuters")


class SequenceData(_DataBase):
    """``keras.datasets.imdb`` / ``reuters``: word-index sequences of different lengths
    (pad them with the ``pad`` step). Downloads on first use; no offline fallback."""

    source: Literal[SEQUENCE_DATASETS]  # type: ignore[valid-type]
    num_words: Annotated[int, Field(gt=0)] | None = None
    skip_top: Annotated[int, Field(ge=0)] = 0
    maxlen: Annotated[int, Field(gt=0)] | None = None


class RandomData(_DataBase):
    """Random inputs and labels (seed 003's smoke test): uniform [0, 1) x, integer y."""

    source: Literal["random"]
    samples: Annotated[int, Field(gt=1)] = 1000
    shape: list[Annotated[int, Field(gt=0)]] = Field(default_factory=lambda: [784])
    classes: Annotated[int, Field(gt=1)] = 10


def _data_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        src = value.get("source")
        return src if isinstance(src, str) else None
    return getattr(value, "source", None)


DATA_SOURCES = ("csv", "npz", "random", *KERAS_DATASETS, *SEQUENCE_DATASETS)

_DATA_ALTERNATIVES = (
    Annotated[CsvData, Tag("csv")],
    Annotated[NpzData, Tag("npz")],
    Annotated[RandomData, Tag("random")],
    *(Annotated[KerasData, Tag(name)] for name in KERAS_DATASETS),
    *(Annotated[SequenceData, Tag(name)] for name in SEQUENCE_DATASETS),
)
DataConfig = Annotated[Union[_DATA_ALTERNATIVES], Discriminator(_data_tag)]  # type: ignore[valid-type]


# ----------------------------------------------------------------------- preprocess


class FlattenStep(Base):
    """Flatten every sample to one dimension (28x28 -> 784)."""


class ReshapeStep(Base):
    """Reshape every sample (784 -> [28, 28, 1])."""

    shape: list[int]


class ScaleStep(Base):
    """Divide by a constant (pixels: 255)."""

    factor: float

    @model_validator(mode="after")
    def _nonzero(self) -> ScaleStep:
        if self.factor == 0:
            raise ValueError("factor must not be 0 (x is divided by it)")
        return self


class StandardizeStep(Base):
    """sklearn StandardScaler, fitted on the training part only.

    With ``columns`` it scales only those columns of a table (the others pass
    through); without, every feature.
    """

    with_mean: bool = True
    with_std: bool = True
    columns: list[Column] | None = None


class MinMaxStep(Base):
    """sklearn MinMaxScaler, fitted on the training part only (``columns``: as standardize)."""

    feature_range: tuple[float, float] = (0.0, 1.0)
    columns: list[Column] | None = None


#: Indices TextVectorization reserves: 0 padding, 1 out-of-vocabulary.
RESERVED_TOKENS = 2


class TokenizeStep(Base):
    """Text -> integer sequences with ``keras.layers.TextVectorization``; the
    vocabulary (most frequent words of the training part) is saved in preprocess.json."""

    column: Column | None = None
    max_tokens: Annotated[int, Field(gt=0)] | None = 10000
    oov_token: str | None = "[UNK]"
    lower: bool = True
    strip_punctuation: bool = True
    split: Literal["whitespace", "character"] = "whitespace"

    @field_validator("max_tokens")
    @classmethod
    def _room_for_words(cls, value: int | None) -> int | None:
        if value is not None and value <= RESERVED_TOKENS:
            raise ValueError(
                f"expected more than {RESERVED_TOKENS}: indices 0 (padding) and 1 "
                f"(out-of-vocabulary) are reserved, received {value}"
            )
        return value


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number (the fill value of padding), received {value!r}")
    return value


class PadStep(Base):
    """``keras.utils.pad_sequences``: integer sequences to one length (maxlen;
    without it, the longest training sequence)."""

    maxlen: Annotated[int, Field(gt=0)] | None = None
    padding: Literal["pre", "post"] = "pre"
    truncating: Literal["pre", "post"] = "pre"
    value: Annotated[float, BeforeValidator(_number)] = 0
    dtype: Literal["int32", "int64", "float32"] = "int32"


class GetDummiesStep(Base):
    """One-hot columns with ``pandas.get_dummies`` semantics; categories learned on
    the training part (unseen ones become all-zero rows). ``separator`` splits
    multi-valued cells like ``str.get_dummies('/')``."""

    columns: Annotated[list[Column], Field(min_length=1)]
    separator: str | None = None
    prefix_sep: str = "_"


class ImputeStep(Base):
    """Fill missing values (NaN, or ``data.missing_values``) with a statistic of the
    training part; ``columns`` default: every column with a missing value in training."""

    strategy: Literal["mean", "median", "most_frequent", "constant"] = "mean"
    fill_value: Union[float, str, None] = None
    columns: list[Column] | None = None

    @model_validator(mode="after")
    def _constant_needs_value(self) -> ImputeStep:
        if self.strategy == "constant" and self.fill_value is None:
            raise ValueError("strategy: constant needs a fill_value")
        return self


#: step name -> (arguments model, field a scalar shorthand fills: {scale: 255})
X_STEPS: dict[str, tuple[type[Base], str | None]] = {
    "flatten": (FlattenStep, None),
    "reshape": (ReshapeStep, "shape"),
    "scale": (ScaleStep, "factor"),
    "standardize": (StandardizeStep, None),
    "minmax": (MinMaxStep, None),
    "tokenize": (TokenizeStep, "column"),
    "pad": (PadStep, "maxlen"),
    "get_dummies": (GetDummiesStep, "columns"),
    "impute": (ImputeStep, "strategy"),
}


def _normalize_step(value: Any) -> Any:
    """``flatten`` -> ``{flatten: {}}``; ``{scale: 255}`` -> ``{scale: {factor: 255}}``."""
    if isinstance(value, str):
        return {value: {}}
    if isinstance(value, dict) and len(value) == 1:
        name, args = next(iter(value.items()))
        if args is None:
            return {name: {}}
        spec = X_STEPS.get(name)
        if spec and spec[1] and not isinstance(args, dict):
            return {name: {spec[1]: args}}
    return value


def _normalize_steps(value: Any) -> Any:
    if isinstance(value, (list, str, dict)):
        steps = value if isinstance(value, list) else [value]
        return [_normalize_step(s) for s in steps]
    return value


def _step_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        return next(iter(value)) if len(value) == 1 else None
    if isinstance(value, BaseModel):
        return next(iter(type(value).model_fields))
    return None


def _step_item_model(name: str, args_model: type[Base]) -> type[Base]:
    return type(
        f"{name.title()}Item",
        (Base,),
        {"__annotations__": {name: args_model}, "__module__": __name__},
    )


XStep = Annotated[
    Union[
        tuple(
            Annotated[_step_item_model(n, m), Tag(n)] for n, (m, _) in X_STEPS.items()
        )  # type: ignore[misc]
    ],
    Discriminator(_step_tag),
]


Label = Union[bool, int, float, str]


class BinaryLabels(Base):
    """Labels listed in ``positive`` become 1, every other label 0."""

    positive: Annotated[list[Label], Field(min_length=1)]


class LabelMap(Base):
    """A map of the raw labels, applied before y is encoded (and to predict's labels).

    ``{binary: {positive: [0, 2, 4, 6, 8]}}`` ("is the digit even") or
    ``{map: {0: zero, 1: one}}`` (every label must be in the map).
    """

    binary: BinaryLabels | None = None
    map: dict[Label, Label] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> LabelMap:
        given = [k for k in ("binary", "map") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "expected exactly one of binary: {positive: [...]} or map: {label: new label}, "
                f"received {len(given)}" + (f" ({', '.join(given)})" if given else "")
            )
        return self


def _is_label_map(value: Any) -> bool:
    return isinstance(value, LabelMap) or (
        isinstance(value, dict) and bool(value) and set(value) <= {"binary", "map"}
    )


YMode = Literal["one_hot", "sparse", "none"]
XSteps = per_name(list[Annotated[XStep, Field()]], lambda v: isinstance(v, dict))
YModes = per_name(YMode, lambda v: isinstance(v, dict))
LabelMaps = per_name(LabelMap, lambda v: not _is_label_map(v))


class PreprocessConfig(Base):
    """What is done to x and y before training; fitted on the training part only.

    For models with several inputs or outputs, ``x``, ``y``, ``labels`` and
    ``num_classes`` can be given per input/output name: ``x: {image: [...], aux: [...]}``.
    """

    x: XSteps = Field(default_factory=list)  # type: ignore[valid-type]
    y: YModes = "none"  # type: ignore[valid-type]
    labels: LabelMaps | None = None  # type: ignore[valid-type]
    num_classes: Annotated[int, Field(gt=1)] | dict[str, Annotated[int, Field(gt=1)]] | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalize(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("x"), (list, str, dict)):
            x = data["x"]
            if isinstance(x, dict) and not (len(x) == 1 and next(iter(x)) in X_STEPS):
                # per input: {image: [...], aux: [...]}
                data = {**data, "x": {k: _normalize_steps(v) for k, v in x.items()}}
            else:
                data = {**data, "x": _normalize_steps(x)}
        return data

    def is_per_name(self) -> bool:
        """True when x, y, labels or num_classes is given per input/output name."""
        return any(
            isinstance(v, dict) for v in (self.x, self.y, self.num_classes)
        ) or (self.labels is not None and not isinstance(self.labels, LabelMap))

    def x_steps(self) -> list[tuple[str, Base]]:
        """The x steps as (name, arguments) pairs."""
        out = []
        for item in self.x:
            name = next(iter(type(item).model_fields))
            out.append((name, getattr(item, name)))
        return out


# ---------------------------------------------------------------------------- model


class SequentialModel(Base):
    """A stack of layers: each item ``{LayerClass: {keyword: value}}``; first may be Input."""

    type: Literal["sequential"] = "sequential"
    name: str | None = None
    layers: Annotated[list[NamedObject], Field(min_length=1)]


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


class GraphNode(Base):
    """One node of a functional model: a layer applied to other nodes or inputs.

    ``conv1: {Conv2D: {filters: 32, kernel_size: 4}, inputs: image}``. ``inputs`` is a
    name, a list of names (passed as one list: merge layers, Attention) or a mapping of
    call arguments to names (``{query: a, value: b}``: MultiHeadAttention). ``layer:
    <node>`` applies that node's layer again (shared weights); ``call`` holds further
    constant call arguments.
    """

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
    inputs: Annotated[dict[str, GraphInput], Field(min_length=1)]
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


# -------------------------------------------------------------------------- compile


Losses = per_name(NamedObject, lambda v: isinstance(v, dict) and len(v) != 1)
Metrics = per_name(list[NamedObject], lambda v: isinstance(v, dict))


class CompileConfig(Base):
    """``loss``, ``loss_weights`` and ``metrics`` may be given per output name:
    ``loss: {out1: binary_crossentropy, out2: mse}``."""

    loss: Losses  # type: ignore[valid-type]
    optimizer: NamedObject = "adam"
    metrics: Metrics = Field(default_factory=list)  # type: ignore[valid-type]
    loss_weights: list[float] | dict[str, float] | None = None
    steps_per_execution: Annotated[int, Field(gt=0)] = 1
    jit_compile: bool | Literal["auto"] = "auto"


# ------------------------------------------------------------------------------ fit


class FitConfig(Base):
    epochs: Annotated[int, Field(gt=0)] = 1
    batch_size: Annotated[int, Field(gt=0)] = 32
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


# ------------------------------------------------------------------------------- cv


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
    seed: int | None = None

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


# --------------------------------------------------------------------------- config


def _run_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.+-]+", value):
        raise ValueError(
            f"expected a name of letters, digits, '_', '.', '+' and '-' (it becomes part of the "
            f"run folder's name), received {value!r}"
        )
    return value


class Config(Base):
    """A whole experiment."""

    name: Annotated[str, AfterValidator(_run_name)] = "experiment"
    seed: int | None = None
    deterministic: bool = False
    data: DataConfig
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)
    model: ModelConfig
    compile: CompileConfig
    fit: FitConfig = Field(default_factory=FitConfig)
    cv: CVConfig = Field(default_factory=CVConfig)

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


# --------------------------------------------------------------------- error mapping


def _clean_loc(loc: tuple[Any, ...], data: Any) -> PathT:
    """Drop pydantic's union tags from an error location, keeping real YAML keys."""
    out: list[Any] = []
    node = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        elif last:
            out.append(part)
        # else: a tag pydantic inserted (e.g. 'csv', 'sequential'); skip it
    return tuple(out)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _model_at(path: PathT, data: Any) -> type[BaseModel] | None:
    """The pydantic model class that validates the mapping at ``path`` (for key suggestions)."""
    model: Any = Config
    node = data
    for part in path:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return None
        if isinstance(part, int):
            continue  # list items: the field's annotation names the item model
        if model is None or not hasattr(model, "model_fields"):
            return None
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = _resolve_model(field.annotation, node)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _resolve_model(annotation: Any, node: Any) -> Any:
    """Best effort: find the BaseModel subclass an annotation uses for ``node``."""
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    args = typing.get_args(annotation)
    candidates = []
    stack = list(args)
    while stack:
        a = stack.pop(0)
        if isinstance(a, type) and issubclass(a, BaseModel):
            candidates.append(a)
        else:
            stack.extend(typing.get_args(a))
    if not candidates:
        return None
    if isinstance(node, dict) and "source" in node:
        for c in candidates:
            src = c.model_fields.get("source")
            if src is not None and node["source"] in typing.get_args(src.annotation):
                return c
    if isinstance(node, dict) and "type" in node:
        for c in candidates:
            t = c.model_fields.get("type")
            if t is not None and node["type"] in typing.get_args(t.annotation):
                return c
    return candidates[0]


def _convert(err: dict[str, Any], spec: Spec) -> ConfigError:
    path = _clean_loc(tuple(err["loc"]), spec.data)
    etype = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    hint = None
    if etype == "extra_forbidden":
        parent = _model_at(path[:-1], spec.data)
        fields = list(parent.model_fields) if parent else []
        key = str(path[-1])
        hint = did_you_mean(key, fields)
        expected = f"one of: {', '.join(fields)}" if fields else "no such key"
        msg = f"unknown key '{key}'; expected {expected}"
        if hint is None and fields:
            hint = "Remove it or check the spelling"
        return spec.error(path, msg, hint)
    if etype == "missing":
        return spec.error(path, f"required key '{path[-1]}' is missing", "Add it")
    if etype == "union_tag_invalid":
        tag = ctx.get("tag")
        expected_tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        what = "value"
        if path[-1:] == ("data",):
            what = "data source"
        elif len(path) >= 2 and path[-2] == "x":
            what = "preprocessing step"
        if path and path[0] == "data":
            path = path + ("source",)
        elif path and path[-1] == "model":
            path = path + ("type",)
        hint = did_you_mean(str(tag), expected_tags)
        return spec.error(
            path,
            f"unknown {what} {tag!r}; expected one of: {', '.join(expected_tags)}",
            hint,
        )
    if etype == "union_tag_not_found":
        if path and path[-1] == "data":
            return spec.error(
                path + ("source",),
                f"required key 'source' is missing; expected one of: {', '.join(DATA_SOURCES)}",
                "Add e.g. 'source: csv'",
            )
        if len(path) >= 2 and path[-2] == "x":
            names = ", ".join(X_STEPS)
            return spec.error(
                path,
                f"expected a step name or {{step: arguments}}, received {_describe(value)}; "
                f"steps: {names}",
            )
    if (
        etype in ("literal_error", "enum")
        and isinstance(value, str)
        and ctx.get("expected")
    ):
        choices = [c.strip(" '") for c in str(ctx["expected"]).replace(" or ", ",").split(",")]
        hint = did_you_mean(value, [c for c in choices if c])
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    else:
        if msg.startswith("Input should be "):
            msg = "expected " + msg[len("Input should be "):]
        else:
            msg = f"expected {msg[0].lower() + msg[1:]}" if msg else "invalid value"
        if etype != "missing":
            msg += f", received {_describe(value)}"
    return spec.error(path, msg, hint)


def load_config(spec: Spec) -> Config:
    """Validate a spec into a Config, or raise ConfigError(s) naming the YAML paths."""
    data = dict(spec.data)
    if "name" not in data and spec.path is not None:
        stem = "".join(c if c.isalnum() or c in "_.+-" else "-" for c in spec.path.stem)
        data["name"] = stem or "experiment"
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        errors = [_convert(e, spec) for e in exc.errors(include_url=False)]
        # pydantic reports each union alternative; keep one message per path+text
        unique: dict[str, ConfigError] = {}
        for e in errors:
            unique.setdefault(str(e), e)
        errs = list(unique.values())
        if len(errs) == 1:
            raise errs[0] from None
        raise ConfigErrors(errs) from None
    if isinstance(cfg.model, FunctionalModel):
        from kexp.spec import graph  # the graph's references and order; no TensorFlow

        try:
            graph.analyze(cfg.model)
        except ConfigError as exc:
            raise exc.located(*spec.locate(exc.loc or ())) from None
    return cfg


def configure(spec: Spec, overrides: list[Any]) -> Config:
    """Validate the spec with ``--set`` overrides applied (no TensorFlow, no scikit-learn)."""
    from kexp.spec.load import apply_overrides

    return load_config(apply_overrides(spec, overrides))


def resolved(cfg: Config) -> dict[str, Any]:
    """The fully resolved config (every default filled in) as plain YAML-able data."""
    out = cfg.model_dump(mode="json")
    data = out["data"]
    out["data"] = {"source": data.pop("source"), **data}
    return out

