"""The graph of a functional model: names, references, build order, cycles, unused nodes.

Pure Python over the validated config (no TensorFlow), so ``kexp run`` and
``kexp validate`` report graph mistakes, with the node's YAML path, before any
data is loaded. :mod:`kexp.model.functional` builds the Keras model in :attr:`Graph.order`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kexp.errors import ConfigError, did_you_mean
from kexp.spec.network import FunctionalModel, GraphNode

#: Node, input and output names: also Keras layer names and predictions.csv prefixes.
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass
class Graph:
    """What :func:`analyze` found.

    Attributes:
        order: the nodes some output depends on, in an order where every node comes
            after the nodes it takes input from (the spec's order where possible).
        owner: node -> the node whose layer it applies (itself, or ``layer: <node>``).
        unused: nodes no output depends on (left out of the model, with a note).
        notes: one line per unused node.
    """

    order: list[str]
    owner: dict[str, str]
    unused: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def references(node: GraphNode) -> list[tuple[tuple[Any, ...], str]]:
    """The names a node takes input from, each with its path below the node."""
    refs: list[tuple[tuple[Any, ...], str]] = []
    if isinstance(node.inputs, str):
        refs.append((("inputs",), node.inputs))
    elif isinstance(node.inputs, list):
        refs += [(("inputs", i), n) for i, n in enumerate(node.inputs)]
    else:
        for arg, value in node.inputs.items():
            if isinstance(value, str):
                refs.append((("inputs", arg), value))
            else:
                refs += [(("inputs", arg, i), n) for i, n in enumerate(value)]
    return refs


def _check_names(cfg: FunctionalModel) -> None:
    for section, names in (("inputs", cfg.inputs), ("nodes", cfg.nodes)):
        for name in names:
            if not isinstance(name, str) or not NAME_RE.match(name):
                raise ConfigError(
                    ("model", section, name),
                    f"'{name}' is not a usable name (it names a Keras layer and "
                    "predictions.csv columns)",
                    hint="Use letters, digits, '_' and '-', starting with a letter or '_'",
                )
    for name in cfg.nodes:
        if name in cfg.inputs:
            raise ConfigError(
                ("model", "nodes", name),
                f"'{name}' is both an input (model.inputs) and a node",
                hint="Rename one of them",
            )


def _owner(cfg: FunctionalModel, name: str) -> str:
    """The node that defines the layer ``name`` applies, following ``layer:`` links."""
    seen = [name]
    current = name
    while (layer := cfg.nodes[current].layer) is not None:
        current = layer
        if current in seen:
            raise ConfigError(
                ("model", "nodes", name, "layer"),
                f"the layer: references form a loop ({' -> '.join([*seen, current])})",
                hint="Let one of these nodes define the layer {Class: {arguments}}",
            )
        seen.append(current)
    return current


def _check_node(cfg: FunctionalModel, name: str, node: GraphNode) -> None:
    known = [*cfg.inputs, *cfg.nodes]
    for suffix, ref in references(node):
        if ref not in known:
            raise ConfigError(
                ("model", "nodes", name, *suffix),
                f"node '{name}' takes input from '{ref}', which is neither an input "
                f"({', '.join(cfg.inputs)}) nor a node",
                hint=did_you_mean(ref, known) or "Define it under model.nodes or model.inputs",
            )
    if node.layer is not None:
        if node.op is not None:
            raise ConfigError(
                ("model", "nodes", name, "layer"),
                "give a layer {Class: {arguments}} or layer: <node> (to reuse that node's "
                "layer), not both",
            )
        if node.layer not in cfg.nodes:
            raise ConfigError(
                ("model", "nodes", name, "layer"),
                f"layer: '{node.layer}' is not a node, so there is no layer to share",
                hint=did_you_mean(node.layer, list(cfg.nodes))
                or f"Name one of the nodes: {', '.join(cfg.nodes)}",
            )
    elif node.op is None:
        raise ConfigError(
            ("model", "nodes", name),
            f"node '{name}' has no layer",
            hint="Add {LayerClass: {arguments}}, or layer: <node> to apply that node's layer again",
        )


def _deps(cfg: FunctionalModel, name: str) -> list[str]:
    return list(dict.fromkeys(ref for _, ref in references(cfg.nodes[name]) if ref in cfg.nodes))


def _find_cycle(cfg: FunctionalModel) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for dep in _deps(cfg, name):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep):], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[name] = 2
        return None

    for name in cfg.nodes:
        if name not in state:
            found = visit(name)
            if found:
                return found
    return None


def _check_outputs(cfg: FunctionalModel) -> None:
    for i, out in enumerate(cfg.outputs):
        if out not in cfg.nodes:
            what = "an input, not a node" if out in cfg.inputs else "not a node"
            raise ConfigError(
                ("model", "outputs", i),
                f"output '{out}' is {what}",
                hint=did_you_mean(out, list(cfg.nodes)) or f"Name a node: {', '.join(cfg.nodes)}",
            )
        if out in cfg.outputs[:i]:
            raise ConfigError(("model", "outputs", i), f"output '{out}' is listed twice", hint="Remove one")


def _check_acyclic(cfg: FunctionalModel) -> None:
    """A cycle is found from its first node; the error names the node that closes it."""
    cycle = _find_cycle(cfg)
    if cycle:
        raise ConfigError(
            ("model", "nodes", cycle[-2], "inputs"),
            f"the nodes form a cycle: {' -> '.join(reversed(cycle))} (each node's output "
            "feeds the next)",
            hint="A node cannot depend on its own output; remove one of these inputs",
        )


def _needed(cfg: FunctionalModel) -> set[str]:
    """Every node some output depends on."""
    needed: set[str] = set()
    todo = list(cfg.outputs)
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo += _deps(cfg, name)
    return needed


def _check_inputs_used(cfg: FunctionalModel, needed: set[str]) -> None:
    used_inputs = {
        ref for name in needed for _, ref in references(cfg.nodes[name]) if ref in cfg.inputs
    }
    for name in cfg.inputs:
        if name not in used_inputs:
            raise ConfigError(
                ("model", "inputs", name),
                f"no output depends on input '{name}'",
                hint="Give it to a node (inputs: " + name + ") or remove it",
            )


def _build_order(cfg: FunctionalModel, needed: set[str]) -> list[str]:
    """Kahn's algorithm over the needed nodes, taking ready nodes in the spec's order."""
    order: list[str] = []
    done: set[str] = set()
    pending = [n for n in cfg.nodes if n in needed]
    while pending:
        ready = next(n for n in pending if all(d in done for d in _deps(cfg, n)))
        order.append(ready)
        done.add(ready)
        pending.remove(ready)
    return order


def analyze(cfg: FunctionalModel) -> Graph:
    """Check a functional model's graph and find its build order.

    Raises:
        ConfigError: a bad name, a reference to an undefined node or input, a cycle,
            an output that is not a node, an input no output uses.
    """
    _check_names(cfg)
    for name, node in cfg.nodes.items():
        _check_node(cfg, name, node)
    owner = {name: _owner(cfg, name) for name in cfg.nodes}
    _check_outputs(cfg)
    _check_acyclic(cfg)
    needed = _needed(cfg)
    _check_inputs_used(cfg, needed)
    unused = [n for n in cfg.nodes if n not in needed]
    notes = [
        f"model.nodes.{n}: no output depends on this node; it is left out of the model"
        for n in unused
    ]
    return Graph(order=_build_order(cfg, needed), owner=owner, unused=unused, notes=notes)
