"""Quoted strings the schema read as numbers or true/false: pydantic's lax mode reads
``batch_size: "800"`` as 800 without a word; :mod:`.messages` refuses it with the fix
(``Write 800 without quotes``). ``--set fit.batch_size=800`` is YAML-typed, a number.
This module never imports TensorFlow.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from kexp.spec.load import PathT


def quoted(text: str, value: Any) -> tuple[str, str]:
    """The message and the fix for ``text`` read as ``value``."""
    what = "true or false" if isinstance(value, bool) else (
        "a whole number" if isinstance(value, int) else "a number")
    written = str(value).lower() if isinstance(value, bool) else repr(value)
    return f"expected {what}, received the string {text!r}", f"Write {written} without quotes"


def strings_read_as_values(raw: Any, value: Any, path: PathT = ()) -> Iterator[tuple[PathT, tuple[str, Any]]]:
    """Each place where the spec gives a quoted string (``batch_size: "800"``) that the
    schema read as a number or true/false (pydantic's lax mode): ``(path, (text, value))``.

    ``raw`` is the spec's data, ``value`` the validated Config; only places where both
    have the same keys are compared (a short form the schema expands is left alone).
    """
    if isinstance(raw, str):
        if isinstance(value, (bool, int, float)):
            yield path, (raw, value)
        return
    if isinstance(raw, dict):
        if isinstance(value, BaseModel):
            fields = type(value).model_fields
            for key, sub in raw.items():
                name = key if key in fields else next(
                    (n for n, f in fields.items() if f.alias == key), None)
                if name is not None:
                    yield from strings_read_as_values(sub, getattr(value, name), (*path, key))
        elif isinstance(value, dict):
            for key, sub in raw.items():
                if key in value:
                    yield from strings_read_as_values(sub, value[key], (*path, key))
    elif isinstance(raw, list) and isinstance(value, (list, tuple)) and len(raw) == len(value):
        for i, (sub, item) in enumerate(zip(raw, value, strict=True)):
            yield from strings_read_as_values(sub, item, (*path, i))
