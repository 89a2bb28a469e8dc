"""The spec's schema: pydantic models with every default spelled out.

``load_config(spec)`` validates a :class:`kexp.spec.Spec` and turns pydantic's
errors into :class:`ConfigError` messages that name the YAML path and line, what
was expected and received, and a close match for misspelled keys or names.

Names that Keras resolves (layers, losses, optimizers, ...) are only checked for
shape here; they are resolved in :mod:`kexp.registry` when the model is built.
This module never imports TensorFlow.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from kexp.errors import ConfigError, ConfigErrors, did_you_mean
from kexp.spec import PathT, Spec, format_path


class Base(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _single_key(value: Any) -> Any:
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
NamedObject = Annotated[str | dict[str, Any], AfterValidator(_single_key)]


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
    features: list[Column] | str | None = None
    target: Column | list[Column]
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
    x_train: str = "x_train"
    y_train: str = "y_train"
    x_test: str | None = "x_test"
    y_test: str | None = "y_test"


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


class PreprocessConfig(Base):
    """What is done to x and y before training; fitted on the training part only."""

    x: list[Annotated[XStep, Field()]] = Field(default_factory=list)
    y: Literal["one_hot", "sparse", "none"] = "none"
    num_classes: Annotated[int, Field(gt=1)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalize(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("x"), (list, str, dict)):
            steps = data["x"] if isinstance(data["x"], list) else [data["x"]]
            data = {**data, "x": [_normalize_step(s) for s in steps]}
        return data

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


ModelConfig = Annotated[
    Annotated[SequentialModel, Tag("sequential")],
    Discriminator(_model_tag),
]


# -------------------------------------------------------------------------- compile


class CompileConfig(Base):
    loss: NamedObject
    optimizer: NamedObject = "adam"
    metrics: list[NamedObject] = Field(default_factory=list)
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


# --------------------------------------------------------------------------- config


class Config(Base):
    """A whole experiment."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.+-]+$")] = "experiment"
    seed: int | None = None
    deterministic: bool = False
    data: DataConfig
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)
    model: ModelConfig
    compile: CompileConfig
    fit: FitConfig = Field(default_factory=FitConfig)

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
        return Config.model_validate(data)
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


def resolved(cfg: Config) -> dict[str, Any]:
    """The fully resolved config (every default filled in) as plain YAML-able data."""
    out = cfg.model_dump(mode="json")
    data = out["data"]
    out["data"] = {"source": data.pop("source"), **data}
    return out


def path_of(*parts: Any) -> str:
    return format_path(tuple(parts))
