"""The ``model:`` section of a spec: a Sequential stack of layers (:class:`SequentialModel`)
or a functional graph of named nodes (:class:`FunctionalModel`); :data:`ModelConfig` picks
one by the ``type`` key. The graph's names and references are checked in :mod:`.graph`,
the layers' input-shape arguments in :mod:`.shapes`. This module never imports TensorFlow.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import (
    ConfigDict,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    Tag,
    model_serializer,
    model_validator,
)

from kexp.errors import did_you_mean
from kexp.spec.base import Base, KeyedValueError, Limits, NamedObject, ShortForms

#: the most copies of one layer ``repeat`` makes (a deeper stack is a typo, e.g. 1e6 for 16)
MAX_REPEAT = 1000


class SequentialModel(Base):
    """A stack of layers: each item ``{LayerClass: {keyword: value}}``; first may be Input.

    An item may say how many times it is stacked, ``{Dense: {units: 64}, repeat: 3}``
    (``repeat: 0`` removes it: a depth study sweeps ``model.layers.1.repeat``); ``repeat``
    holds those counts, one per item (None when no item gives one).
    """

    type: Literal["sequential"] = Field(
        default="sequential",
        description="sequential (the default): a stack of layers, each feeding the next")
    name: str | None = Field(default=None, description="The Keras model's name; null: sequential")
    layers: Annotated[list[NamedObject], Field(min_length=1)] = Field(
        description="The layers in order, each {LayerClass: {arguments}} (e.g. {Dense: {units: "
                    "64}}) or a name; an item may add repeat: N (stacked N times, 0 removes it)")
    repeat: list[Annotated[int, Limits(minimum=0, maximum=MAX_REPEAT)]] | None = Field(
        default=None,
        description="The layers' repeat counts, one per item of layers, as they are read from the "
                    "items; write repeat: N beside a layer instead")

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
            if count > MAX_REPEAT:
                raise KeyedValueError(("layers", i, "repeat"), f"expected at most {MAX_REPEAT} "
                                      f"copies of a layer, received {count}")
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

    shape: list[Annotated[int, Field(gt=0)] | None] | None = Field(
        default=None,
        description="The shape of one sample, e.g. [28, 28, 1], null for a dimension of any "
                    "length; default: the data's shape")
    dtype: str | None = Field(
        default=None, description="The input's dtype, e.g. int32; null: Keras's default (float32)")

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

    op: NamedObject | None = Field(
        default=None,
        description="The node's layer {LayerClass: {arguments}} as a resolved config holds it; in "
                    "a spec write it as a key of the node: {Dense: {units: 8}, inputs: x}")
    inputs: str | Annotated[list[str], Field(min_length=1)] | dict[str, str | list[str]] = Field(
        description="What the node takes: an input or node name, a list of names (passed as one "
                    "list: merge layers), or call arguments to names: {query: a, value: b}")
    layer: str | None = Field(
        default=None,
        description="Apply this node's layer again (shared weights) instead of a layer of its own")
    call: dict[str, Any] = Field(
        default_factory=dict,
        description="Further constant keyword arguments of the layer's call, e.g. {training: "
                    "false}")

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

    type: Literal["functional"] = Field(
        description="functional: a graph of named nodes (Keras's Functional API)")
    name: str | None = Field(default=None, description="The Keras model's name; null: functional")
    inputs: Annotated[dict[str, Annotated[GraphInput, ShortForms({"type": "null"}, field=(GraphInput, "shape"))]],
                      Field(min_length=1)] = Field(
        description="The model's inputs by name: {image: {shape: [28, 28, 1]}}, or the shape alone "
                    "(image: [28, 28, 1]); an input given as null takes the data's shape")
    nodes: Annotated[dict[str, GraphNode], Field(min_length=1)] = Field(
        description="The nodes by name, each a layer and its inputs: conv1: {Conv2D: {filters: 32, "
                    "kernel_size: 4}, inputs: image}")
    outputs: Annotated[list[str], Field(min_length=1)] = Field(
        description="The nodes that are the model's outputs: a name or a list of names")

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

