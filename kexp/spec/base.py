"""What every part of the schema shares: the strict base model, Keras objects by name,
values given per input/output name, and the column and label types.

This module never imports TensorFlow.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Tag


class Base(BaseModel):
    """A spec section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


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


#: A table column, by index or by name.
Column = Union[int, str]

#: A class label as the data holds it.
Label = Union[bool, int, float, str]
