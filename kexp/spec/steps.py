"""``preprocess:``: the x steps' argument models, the step table, label maps, y encoding.

Each x step's argument model is the one place its name lives: it declares
``step: ClassVar[str]`` (its name in ``preprocess.x``) and ``shorthand`` (the field a
scalar fills: ``{scale: 255}`` is ``{scale: {factor: 255}}``). :data:`X_STEPS`, the
table of step names, is derived from the subclasses of :class:`StepArgs`;
:mod:`kexp.data.steps` derives its implementations' names from these models.
This module never imports TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from kexp.spec.base import (
    Base,
    Bounded,
    Column,
    KeyedValueError,
    Limits,
    ShortForms,
    per_name,
)
from kexp.spec.labels import LabelMap, is_label_map


class StepArgs(Base):
    """The arguments of one ``preprocess.x`` step; each subclass is one step."""

    #: the step's name in ``preprocess.x``
    step: ClassVar[str]
    #: the field a scalar shorthand fills (``{scale: 255}``), if any
    shorthand: ClassVar[str | None] = None


class FlattenStep(StepArgs):
    """Flatten every sample to one dimension (28x28 -> 784)."""

    step = "flatten"


class ReshapeStep(StepArgs):
    """Reshape every sample (784 -> [28, 28, 1])."""

    step = "reshape"
    shorthand = "shape"

    shape: list[int] = Field(description="The new shape of one sample, e.g. [28, 28, 1]")


#: the largest and the smallest size a float32 holds (NumPy's finfo: max, smallest_subnormal)
FLOAT32_MAX, FLOAT32_TINY = 3.4028234663852886e38, 1.401298464324817e-45
#: the whole numbers each of ``pad``'s integer dtypes holds
INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
#: the longest sequence ``pad`` makes (every row is padded to it)
MAX_SEQUENCE = 1_000_000


class ScaleStep(StepArgs):
    """Divide by a constant (pixels: 255)."""

    step = "scale"
    shorthand = "factor"

    factor: float = Field(description="x is divided by it (not 0), e.g. 255 for pixels")

    @model_validator(mode="after")
    def _nonzero(self) -> ScaleStep:
        if self.factor == 0:
            raise KeyedValueError(("factor",), "factor must not be 0 (x is divided by it)")
        if not FLOAT32_TINY <= abs(self.factor) <= FLOAT32_MAX:
            raise KeyedValueError(("factor",), f"expected a factor a float32 holds (x is divided by "
                                  f"it as a float32), from {FLOAT32_TINY} to {FLOAT32_MAX} in "
                                  f"size, received {self.factor}")
        return self


class StandardizeStep(StepArgs):
    """sklearn StandardScaler, fitted on the training part only.

    With ``columns`` it scales only those columns of a table (the others pass
    through); without, every feature.
    """

    step = "standardize"

    with_mean: bool = Field(
        default=True, description="Subtract the mean (StandardScaler's with_mean)")
    with_std: bool = Field(
        default=True, description="Divide by the standard deviation (StandardScaler's with_std)")
    columns: list[Column] | None = Field(
        default=None,
        description="The table columns to scale (the others pass through); null: every feature")


class MinMaxStep(StepArgs):
    """sklearn MinMaxScaler, fitted on the training part only (``columns``: as standardize)."""

    step = "minmax"

    feature_range: tuple[float, float] = Field(
        default=(0.0, 1.0), description="The range [min, max] the values are scaled to")
    columns: list[Column] | None = Field(
        default=None,
        description="The table columns to scale (the others pass through); null: every feature")


#: Indices TextVectorization reserves: 0 padding, 1 out-of-vocabulary.
RESERVED_TOKENS = 2


class TokenizeStep(StepArgs):
    """Text -> integer sequences with ``keras.layers.TextVectorization``; the
    vocabulary (most frequent words of the training part) is saved in preprocess.json."""

    step = "tokenize"
    shorthand = "column"

    column: Column | None = Field(
        default=None, description="The text column (a name or an index); null: the first column")
    max_tokens: Annotated[int, Field(gt=0), Limits(minimum=RESERVED_TOKENS + 1)] | None = Field(
        default=10000,
        description="The vocabulary's size, indices 0 (padding) and 1 (out-of-vocabulary) "
                    "included; null: every word of the training part")
    oov_token: str | None = Field(
        default="[UNK]",
        description="The token of the words outside the vocabulary, as preprocess.json lists it; "
                    "null: such words are dropped (as Keras 2's Tokenizer)")
    lower: bool = Field(default=True, description="Lowercase the text first")
    strip_punctuation: bool = Field(default=True, description="Remove punctuation first")
    split: Literal["whitespace", "character"] = Field(
        default="whitespace",
        description="Tokens are words (whitespace) or single characters (character)")

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


class PadStep(StepArgs):
    """``keras.utils.pad_sequences``: integer sequences to one length (maxlen;
    without it, the longest training sequence)."""

    step = "pad"
    shorthand = "maxlen"

    maxlen: Annotated[int, Bounded(1, MAX_SEQUENCE, "a sequence length")] | None = Field(
        default=None,
        description="The length of every sequence; null: the longest training sequence's")
    padding: Literal["pre", "post"] = Field(
        default="pre",
        description="Where a short sequence is padded: pre (before it) or post (after it)")
    truncating: Literal["pre", "post"] = Field(
        default="pre",
        description="Where a long sequence is cut: pre (its start) or post (its end)")
    value: Annotated[float, BeforeValidator(_number)] = Field(
        default=0, description="The fill value")
    dtype: Literal["int32", "int64", "float32"] = Field(
        default="int32", description="The dtype of the padded sequences")

    @model_validator(mode="after")
    def _value_fits_dtype(self) -> PadStep:
        value, dtype = self.value, self.dtype
        if dtype in INT_RANGES:
            low, high = INT_RANGES[dtype]
            if not float(value).is_integer() or not low <= value <= high:
                raise KeyedValueError(("value",), f"expected a whole number from {low} to {high} "
                                      f"(the padded sequences are {dtype}), received {value}")
        elif abs(value) > FLOAT32_MAX:
            raise KeyedValueError(("value",), f"expected a number a float32 holds (at most "
                                  f"{FLOAT32_MAX} in size), received {value}")
        return self


class GetDummiesStep(StepArgs):
    """One-hot columns with ``pandas.get_dummies`` semantics; categories learned on
    the training part (unseen ones become all-zero rows). ``separator`` splits
    multi-valued cells like ``str.get_dummies('/')``."""

    step = "get_dummies"
    shorthand = "columns"

    columns: Annotated[list[Column], Field(min_length=1)] = Field(
        description="The columns to one-hot encode, e.g. [age_group]")
    separator: str | None = Field(
        default=None,
        description="Split each cell into several values at this string, as str.get_dummies('/'); "
                    "null: one value a cell")
    prefix_sep: str = Field(
        default="_",
        description="Joins a column's name and a category in the new columns' names "
                    "(age_group_30-39)")


class ImputeStep(StepArgs):
    """Fill missing values (NaN, or ``data.missing_values``) with a statistic of the
    training part; ``columns`` default: every column with a missing value in training."""

    step = "impute"
    shorthand = "strategy"

    strategy: Literal["mean", "median", "most_frequent", "constant"] = Field(
        default="mean",
        description="What fills a missing value: the training part's mean, median or most frequent "
                    "value, or fill_value (constant)")
    fill_value: Union[float, str, None] = Field(
        default=None, description="The value that strategy: constant fills in")
    columns: list[Column] | None = Field(
        default=None,
        description="The columns to fill; null: every column with a missing value in training")

    @model_validator(mode="after")
    def _constant_needs_value(self) -> ImputeStep:
        if self.strategy == "constant" and self.fill_value is None:
            raise ValueError("strategy: constant needs a fill_value")
        return self


def step_models(base: type[StepArgs] = StepArgs) -> list[type[StepArgs]]:
    """The argument models below ``base`` that name a step, in the order they were defined."""
    found: list[type[StepArgs]] = []
    for cls in base.__subclasses__():
        if "step" in cls.__dict__:
            found.append(cls)
        found += step_models(cls)
    return found


def _step_table() -> dict[str, type[StepArgs]]:
    table: dict[str, type[StepArgs]] = {}
    for cls in step_models():
        if cls.step in table:
            raise TypeError(
                f"{cls.__name__} and {table[cls.step].__name__} both name the step {cls.step!r}"
            )
        table[cls.step] = cls
    return table


#: step name -> its arguments model
X_STEPS: dict[str, type[StepArgs]] = _step_table()


def _normalize_step(value: Any) -> Any:
    """``flatten`` -> ``{flatten: {}}``; ``{scale: 255}`` -> ``{scale: {factor: 255}}``."""
    if isinstance(value, str):
        return {value: {}}
    if isinstance(value, dict) and len(value) == 1:
        name, args = next(iter(value.items()))
        if args is None:
            return {name: {}}
        model = X_STEPS.get(name)
        if model is not None and model.shorthand and not isinstance(args, dict):
            return {name: {model.shorthand: args}}
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


def _step_description(args_model: type[StepArgs]) -> str:
    """One line of the step item's JSON Schema: what the step does, how it is written."""
    doc = " ".join((args_model.__doc__ or "").split("\n\n")[0].split()).replace("``", "")
    forms = "a mapping"
    if args_model.shorthand:
        forms += f", or its {args_model.shorthand} alone"
    if not any(f.is_required() for f in args_model.model_fields.values()):
        forms += ", or null (the defaults)"
    return f"{doc.rstrip('.')}. Its arguments: {forms}"


def _step_item_model(name: str, args_model: type[StepArgs]) -> type[Base]:
    # the JSON Schema also takes {name: null} and the shorthand {scale: 255}
    args: Any = Annotated[args_model, ShortForms({"type": "null"},
                                               field=(args_model, args_model.shorthand)),
                          Field(description=_step_description(args_model))]
    return type(
        f"{name.title()}Item",
        (Base,),
        {"__annotations__": {name: args}, "__module__": __name__,
         "__doc__": f"The {name} step: {args_model.__doc__}"},
    )


#: steps that can be written as a bare name (``flatten``): no argument is required
_BARE_STEPS = [n for n, m in X_STEPS.items()
               if not any(f.is_required() for f in m.model_fields.values())]

if TYPE_CHECKING:
    XStep = Base  # one of the item models that _step_item_model builds at runtime
else:
    XStep = Annotated[
        Union[tuple(Annotated[_step_item_model(n, m), Tag(n)] for n, m in X_STEPS.items())],
        Discriminator(_step_tag),
        ShortForms({"enum": _BARE_STEPS}),
    ]


YMode = Literal["one_hot", "sparse", "none"]
if TYPE_CHECKING:
    # what per_name's tagged unions validate to
    XSteps = list[XStep] | dict[str, list[XStep]]
    YModes = YMode | dict[str, YMode]
    LabelMaps = LabelMap | dict[str, LabelMap]
else:
    XSteps = per_name(Annotated[list[Annotated[XStep, Field()]], ShortForms(one=True)],
                      lambda v: isinstance(v, dict))
    YModes = per_name(YMode, lambda v: isinstance(v, dict))
    LabelMaps = per_name(LabelMap, lambda v: not is_label_map(v))


class PreprocessConfig(Base):
    """What is done to x and y before training; fitted on the training part only.

    For models with several inputs or outputs, ``x``, ``y``, ``labels`` and
    ``num_classes`` can be given per input/output name: ``x: {image: [...], aux: [...]}``.
    """

    x: XSteps = Field(
        default_factory=list,
        description="The x steps in order, e.g. [flatten, {scale: 255}], or per model input: "
                    "{image: [...], aux: [...]}")
    y: YModes = Field(
        default="none",
        description="How y is encoded: one_hot (to_categorical), sparse (class indices), none (as "
                    "it is); or per output name")
    labels: LabelMaps | None = Field(
        default=None,
        description="Relabel the targets before encoding: {binary: {positive: [...]}} or {map: "
                    "{label: new label}}; or per output name")
    num_classes: Annotated[int, Field(gt=1)] | dict[str, Annotated[int, Field(gt=1)]] | None = Field(
        default=None,
        description="The number of classes (default: from the training labels), or per output name")

    @model_validator(mode="before")
    @classmethod
    def _normalize(cls, data: Any) -> Any:
        """Steps in their long form; ``x`` per input (``{image: [...]}``) or one list."""
        if isinstance(data, dict) and isinstance(data.get("x"), (list, str, dict)):
            x = data["x"]
            if isinstance(x, dict) and not (len(x) == 1 and next(iter(x)) in X_STEPS):
                data = {**data, "x": {k: _normalize_steps(v) for k, v in x.items()}}
            else:
                data = {**data, "x": _normalize_steps(x)}
        return data

    def is_per_name(self) -> bool:
        """True when x, y, labels or num_classes is given per input/output name."""
        return any(
            isinstance(v, dict) for v in (self.x, self.y, self.num_classes)
        ) or (self.labels is not None and not isinstance(self.labels, LabelMap))

    def x_steps(self) -> list[tuple[str, StepArgs]]:
        """The x steps as (name, arguments) pairs."""
        assert isinstance(self.x, list)  # x per input name is split first (NamedPreprocessor)
        out = []
        for item in self.x:
            name = next(iter(type(item).model_fields))
            out.append((name, getattr(item, name)))
        return out
