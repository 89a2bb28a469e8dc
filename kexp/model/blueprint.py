"""A model spec as one graph: named inputs, nodes in build order, named outputs.

A Sequential spec is a graph with one input (``x``) and one output (``y``): a chain of
nodes, each taking the previous one. A functional spec is its named graph, checked by
:func:`kexp.spec.graph.analyze`. :func:`kexp.model.build.build` builds either one the
same way; only the wording of errors differs (a layer list or named nodes).

Keras 2's ways of giving the input shape on the first layer of a Sequential spec
(``input_dim``, ``input_shape``, ``Embedding(input_length=...)``, an ``Input`` layer)
become the graph input's declared shape here, each with a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kexp.data.named import SEQUENTIAL_NAMES
from kexp.errors import ConfigError
from kexp.spec import FunctionalModel, SequentialModel, graph, named

Shape = tuple[Any, ...]
Loc = tuple[Any, ...]

SEQUENTIAL_INPUT, SEQUENTIAL_OUTPUT = SEQUENTIAL_NAMES[0][0], SEQUENTIAL_NAMES[1][0]


@dataclass
class InputDecl:
    """A graph input: its declared per-sample shape (None: take the data's), and where."""

    shape: Shape | None = None
    dtype: str | None = None
    loc: Loc = ("model",)


@dataclass
class Node:
    """A layer applied to other nodes or inputs.

    ``owner`` is the node whose layer this node applies (itself, or the node named by
    ``layer: <node>``: shared weights); ``op`` is the owner's ``{Class: {arguments}}``.
    """

    name: str
    owner: str
    op: Any
    inputs: str | list[str] | dict[str, Any]
    loc: Loc
    call: dict[str, Any] = field(default_factory=dict)
    op_loc: Loc | None = None  # where ``op`` is defined, when not at ``loc``


@dataclass
class Blueprint:
    """What :func:`kexp.model.build.build` needs; ``sequential`` selects the error wording."""

    name: str
    inputs: dict[str, InputDecl]
    nodes: list[Node]
    outputs: list[str]
    sequential: bool = False

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def output_loc(self, name: str) -> Loc:
        """Where the spec defines output ``name`` (its last layer, or its node)."""
        node = self.node(name)
        if self.sequential:
            return (*node.loc, named(node.op)[0])
        return node.loc


def blueprint(cfg: SequentialModel | FunctionalModel, notes: list[str]) -> Blueprint:
    """The graph of a model spec; Keras 2 spellings and unused nodes add notes."""
    if isinstance(cfg, FunctionalModel):
        return from_functional(cfg, notes)
    return from_sequential(cfg, notes)


def from_functional(cfg: FunctionalModel, notes: list[str]) -> Blueprint:
    g = graph.analyze(cfg)
    notes += g.notes
    inputs = {
        name: InputDecl(
            tuple(spec.shape) if spec.shape is not None else None,
            spec.dtype,
            ("model", "inputs", name, "shape") if spec.shape is not None else ("model", "inputs", name),
        )
        for name, spec in cfg.inputs.items()
    }
    nodes = []
    for name in g.order:
        owner = g.owner[name]
        op = cfg.nodes[owner].op
        layer_name, args = named(op)
        if args is not None and not isinstance(args, dict):
            raise ConfigError(
                ("model", "nodes", owner, layer_name),
                f"expected a mapping of keyword arguments, received {args!r}",
                hint=f"e.g. {layer_name}: {{units: 8}}",
            )
        node = cfg.nodes[name]
        nodes.append(Node(name, owner, {layer_name: {"name": owner, **(args or {})}}, node.inputs,
                          ("model", "nodes", name), dict(node.call), ("model", "nodes", owner)))
    return Blueprint(cfg.name or "functional", inputs, nodes, list(cfg.outputs))


def from_sequential(cfg: SequentialModel, notes: list[str]) -> Blueprint:
    items = _drop_input_length(list(cfg.layers), notes)
    decl, start = _declared_input(items, notes)
    nodes = []
    previous = SEQUENTIAL_INPUT
    last = len(items) - 1
    for copy, (i, _) in enumerate(cfg.stacked()):  # a layer with repeat: N is N nodes
        if i < start:
            continue
        name = SEQUENTIAL_OUTPUT if i == last else f"layers[{i}]#{copy}"
        nodes.append(Node(name, name, items[i], previous, ("model", "layers", i)))
        previous = name
    if not nodes:
        raise ConfigError(("model", "layers"), "expected at least one layer after Input",
                          hint="Add e.g. Dense: {units: 1}")
    return Blueprint(cfg.name or "sequential", {SEQUENTIAL_INPUT: decl}, nodes, [SEQUENTIAL_OUTPUT],
                     sequential=True)


def _declared_input(items: list[Any], notes: list[str]) -> tuple[InputDecl, int]:
    """The input shape a Sequential spec declares on its first layer (changing ``items``),
    and the index of its first real layer."""
    first, args = named(items[0])
    loc: Loc = ("model", "layers", 0, first)
    if first == "Input":
        args = dict(args or {})
        if "shape" not in args:
            raise ConfigError(loc, "Input needs a shape", hint="e.g. Input: {shape: [784]}")
        shape = args["shape"]
        return InputDecl(tuple(shape) if isinstance(shape, (list, tuple)) else (shape,), None,
                         (*loc, "shape")), 1
    if not isinstance(args, dict):
        return InputDecl(), 0
    args = dict(args)
    if first == "Embedding" and "input_length" in args:
        items[0] = {first: {k: v for k, v in args.items() if k != "input_length"}}
        return InputDecl((int(args["input_length"]),), None, (*loc, "input_length")), 0
    # Embedding's input_dim is its vocabulary size, not the input's shape
    key = "input_shape" if "input_shape" in args else "input_dim" if first != "Embedding" else None
    if key is None or key not in args:
        return InputDecl(), 0
    value = args.pop(key)
    shape = tuple(value) if isinstance(value, (list, tuple)) else (int(value),)
    items[0] = {first: args}
    notes.append(
        f"model.layers[0].{first}.{key}: Keras 3 takes the input shape from an Input layer; "
        f"used Input(shape={fmt_shape(shape)})"
    )
    return InputDecl(shape, None, (*loc, key)), 0


def _drop_input_length(items: list[Any], notes: list[str]) -> list[Any]:
    """Keras 2's ``Embedding(input_length=...)``: Keras 3 dropped it; the sequence
    length comes from the data (the first layer's value is still checked against it)."""
    out = []
    for i, item in enumerate(items):
        name, args = named(item)
        if name == "Embedding" and isinstance(args, dict) and "input_length" in args:
            notes.append(
                f"model.layers[{i}].Embedding.input_length: Keras 3 dropped it; the sequence "
                "length comes from the data (pad: maxlen)"
            )
            if i > 0:
                item = {name: {k: v for k, v in args.items() if k != "input_length"}}
        out.append(item)
    return out


def fmt_shape(shape: Any) -> str:
    """``(None, 784)``, ``(8,)``."""
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + (",)" if len(shape) == 1 else ")")
