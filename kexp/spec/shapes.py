"""Checks of the layer arguments that the schema keeps free-form but kexp reads itself:
the input-shape arguments (``input_dim``, ``input_shape``, ``Input: {shape: ...}``,
``Embedding: {input_length: ...}``) must be whole numbers before a model is built.

:func:`check_layers` raises :class:`ConfigError` with the YAML path of the argument.
This module never imports TensorFlow.
"""

from __future__ import annotations

from typing import Any

from kexp.errors import ConfigError
from kexp.spec.base import named
from kexp.spec.network import FunctionalModel, SequentialModel

Loc = tuple[Any, ...]

#: what each checked argument is, in a message
_MEANING = {
    "input_dim": "the number of features of each sample",
    "input_length": "the length of each sequence",
}


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_count(value: Any, loc: Loc, meaning: str) -> None:
    if not _whole(value):
        raise ConfigError(
            loc,
            f"expected a whole number greater than 0 ({meaning}), received {_describe(value)}",
        )


def _check_shape(value: Any, loc: Loc) -> None:
    """A shape per sample: a whole number, or a list of them (``null`` for any length)."""
    dims = value if isinstance(value, list) else [value]
    if not dims or not all(d is None or _whole(d) for d in dims):
        raise ConfigError(
            loc,
            "expected the shape of one sample: a list of whole numbers greater than 0 "
            f"(null for any length), e.g. [28, 28, 1], received {_describe(value)}",
        )


def _check_args(layer: str, args: Any, loc: Loc) -> None:
    if layer == "Input" and args is not None and not isinstance(args, dict):
        raise ConfigError(
            loc, f"expected {{shape: [...]}}, received {_describe(args)}",
            hint="e.g. Input: {shape: [784]}",
        )
    if not isinstance(args, dict):
        return
    meaning = "the vocabulary size" if layer == "Embedding" else _MEANING["input_dim"]
    if "input_dim" in args:
        _check_count(args["input_dim"], (*loc, "input_dim"), meaning)
    if layer == "Embedding" and "input_length" in args:
        _check_count(args["input_length"], (*loc, "input_length"), _MEANING["input_length"])
    if "input_shape" in args:
        _check_shape(args["input_shape"], (*loc, "input_shape"))
    if layer == "Input" and "shape" in args:
        _check_shape(args["shape"], (*loc, "shape"))


def check_layers(model: SequentialModel | FunctionalModel) -> None:
    """Check every layer's input-shape arguments (not layers nested in arguments)."""
    items: list[tuple[Loc, Any]]
    if isinstance(model, SequentialModel):
        items = [(("model", "layers", i), item) for i, item in enumerate(model.layers)]
    else:
        items = [(("model", "nodes", n), node.op) for n, node in model.nodes.items()
                 if node.op is not None]
    for loc, item in items:
        layer, args = named(item)
        _check_args(layer, args, (*loc, layer))
