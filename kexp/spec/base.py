"""What every part of the schema shares: the strict base model, Keras objects by name,
values given per input/output name, whole numbers with limits, and the column and
label types.

This module never imports TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Tag,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema


class KeyedValueError(ValueError):
    """A validator's error about a place below the object it validates (``at``: the path
    from there, e.g. ``("layers", 1, "repeat")``), so the message can name it."""

    def __init__(self, at: tuple[Any, ...], message: str) -> None:
        super().__init__(message)
        self.at = at


class Base(BaseModel):
    """A spec section: unknown keys are errors, and so are NaN and infinity where the
    schema takes a number (``.nan`` in YAML)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)


class ShortForms:
    """JSON Schema only (validation is unchanged): the value may also be written in the
    short forms that a before-validator expands, so that an editor accepts them too.

    ``schemas``: further JSON Schemas; ``field``: ``(model, name)``, that field's value
    alone (``{scale: 255}`` for ``{scale: {factor: 255}}``); ``one``: a list's single item
    without the list.
    """

    def __init__(self, *schemas: JsonSchemaValue, field: tuple[type[BaseModel], str | None]
                 | None = None, one: bool = False) -> None:
        self.schemas, self.field, self.one = schemas, field, one

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        extra = list(self.schemas)
        if self.field is not None and self.field[1] is not None:
            extra.append(_field_schema(self.field[0], self.field[1]))
        if self.one:
            extra.append(schema["items"])
        return {"anyOf": [schema, *extra]} if extra else schema


def _field_schema(model: type[BaseModel], name: str) -> JsonSchemaValue:
    """The JSON Schema of ``model``'s field ``name``."""
    from pydantic import TypeAdapter

    field = model.model_fields[name]
    form: Any = Annotated[field.annotation, field]  # a type built at runtime
    return TypeAdapter(form).json_schema()


def single_key(value: Any) -> Any:
    """A name, or a mapping with exactly one key (the name) to its arguments."""
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


#: the union tags of :func:`per_name` (pydantic puts them in error locations)
PER_NAME_TAGS = ("one", "per_name")


def per_name(one: Any, is_per_name: Any) -> Any:
    """``one`` value for everything, or a mapping ``{input or output name: one}``.

    ``is_per_name(value)`` tells the two apart (a mapping can be a single value too,
    e.g. ``{SGD: {momentum: 0.9}}``).
    """
    tag_one, tag_per_name = PER_NAME_TAGS
    return Annotated[
        Union[Annotated[one, Tag(tag_one)], Annotated[dict[str, one], Tag(tag_per_name)]],
        Discriminator(lambda v: tag_per_name if is_per_name(v) else tag_one),
    ]


def _whole_float(value: Any) -> Any:
    """``1e20`` (a float without a fraction) as the int it is, so its limit can be named;
    true/false are not numbers."""
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, received {str(value).lower()}")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass(frozen=True)
class Bounded:
    """A whole number from ``low`` to ``high``, as ``Annotated[int, Bounded(...)]``; the
    message names ``what`` and the limit (``hint`` follows it for a value above ``high``),
    and the JSON Schema carries the limits (``minimum``, ``maximum``).

    ``Bounded(1, 2**31 - 1, "a batch size")`` refuses ``1e20`` with "expected a batch
    size of at most 2147483647, received 100000000000000000000" (not an overflow later).
    """

    low: int
    high: int
    what: str
    hint: str = ""

    def check(self, value: int) -> int:
        """``value`` if it is within the limits; else a ValueError naming them."""
        low, high, what, hint = self.low, self.high, self.what, self.hint
        if value < low:
            limit = "greater than 0" if low == 1 else f"from {low} to {high}"
            raise ValueError(f"expected {what} {limit}, received {value}")
        if value > high:
            limit = f"of at most {high}" if low == 1 else f"from {low} to {high}"
            raise ValueError(f"expected {what} {limit}, received {value}"
                             + (f". {hint}" if hint else ""))
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        # as Annotated[int, BeforeValidator(_whole_float), AfterValidator(check)] builds it
        return core_schema.no_info_after_validator_function(
            self.check, core_schema.no_info_before_validator_function(_whole_float, handler(source)))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {**handler(schema), "minimum": self.low, "maximum": self.high}


@dataclass(frozen=True)
class Limits:
    """JSON Schema only (validation is unchanged): the limits of a number that a validator
    checks with its own message (``folds`` from 2), so that an editor flags a value
    beyond them too. Each limit given replaces the schema's limit on that side.
    """

    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = dict(handler(schema))
        for key, other, value in (
            ("minimum", "exclusiveMinimum", self.minimum),
            ("exclusiveMinimum", "minimum", self.exclusive_minimum),
            ("maximum", "exclusiveMaximum", self.maximum),
            ("exclusiveMaximum", "maximum", self.exclusive_maximum),
        ):
            if value is not None:
                out.pop(other, None)
                out[key] = value
        return out


#: the largest value TensorFlow and NumPy take as a count (a C int)
MAX_INT32 = 2**31 - 1

#: a seed NumPy, scikit-learn and TensorFlow all accept
Seed = Annotated[int, Bounded(
    0, 2**32 - 1, "a seed", "NumPy and scikit-learn take seeds below 2**32")]


def named(obj: Any) -> tuple[str, Any]:
    """Split a NamedObject into (name, arguments or None)."""
    if isinstance(obj, str):
        return obj, None
    name = next(iter(obj))
    return name, obj[name]


#: A table column, by index or by name.
Column = Union[int, str]

#: A class label as the data holds it.
Label = Union[bool, int, float, str]
