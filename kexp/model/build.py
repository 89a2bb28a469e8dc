"""Build a Keras model from a model spec's graph (no training here).

One builder for every model: a :class:`~kexp.model.blueprint.Blueprint` is built node
by node with Keras's functional API (a Sequential spec's layers then make the
``keras.Sequential`` it describes). Each node's layer is resolved through
:func:`kexp.model.layers.layer`; ``layer: <node>`` applies the very same layer object
again, so the weights are shared. A model with one input (output) takes (gives) one
array; with several, dicts keyed by the input (output) names, which is how Keras
matches ``fit``'s data, per-output losses and metrics to them.
"""

from __future__ import annotations

from typing import Any

from kexp import backend
from kexp.errors import ConfigError
from kexp.model import layers
from kexp.model.blueprint import Blueprint, Node, Shape, blueprint, fmt_shape
from kexp.model.resolve import first_line
from kexp.spec import FunctionalModel, SequentialModel, named


def build(
    cfg: SequentialModel | FunctionalModel | Blueprint,
    data_shapes: dict[str, Shape] | None,
    notes: list[str],
) -> tuple[Any, dict[str, Shape]]:
    """A ``keras.Model`` and the per-sample shape of each output.

    Args:
        cfg: the spec's model section (or its blueprint).
        data_shapes: per-sample shapes of the preprocessed data by input name
            (None: shapes come from the spec only).
        notes: Keras 2 spellings and unused nodes are noted here.
    """
    keras = backend.keras()
    bp = cfg if isinstance(cfg, Blueprint) else blueprint(cfg, notes)
    tensors: dict[str, Any] = {}
    for name, decl in bp.inputs.items():
        shape = input_shape(bp, name, (data_shapes or {}).get(name))
        tensors[name] = keras.Input(shape=shape, name=None if bp.sequential else name, dtype=decl.dtype)
    built = make_layers(bp)
    if keras.config.dtype_policy().name != "float32":  # precision: mixed_* (kexp.model.precision)
        for out in bp.outputs:  # as Keras's mixed-precision guide says: outputs in float32
            built[bp.node(out).owner].dtype_policy = "float32"
    merge = _merge_class()
    for node in bp.nodes:
        tensors[node.name] = _apply(bp, node, built[node.owner], tensors, merge)
    outputs = {o: tensors[o] for o in bp.outputs}
    shapes = {o: tuple(getattr(t, "shape", ())) for o, t in outputs.items()}
    if bp.sequential:  # the same layers, as the keras.Sequential the spec describes
        stack = [tensors[next(iter(bp.inputs))], *(built[n.owner] for n in bp.nodes)]
        return keras.Sequential(stack, name=bp.name), shapes
    model = keras.Model(
        inputs=tensors[next(iter(bp.inputs))] if len(bp.inputs) == 1 else {n: tensors[n] for n in bp.inputs},
        outputs=outputs[bp.outputs[0]] if len(outputs) == 1 else outputs,
        name=bp.name,
    )
    return model, shapes


def make_layers(bp: Blueprint) -> dict[str, Any]:
    """The layer object of every node that owns one (nodes sharing a layer share the
    object): each class and its arguments checked by Keras, with no data or shapes."""
    built: dict[str, Any] = {}
    for node in bp.nodes:
        if node.owner not in built:
            built[node.owner] = layers.layer(node.op, node.op_loc or node.loc)
    return built


def input_shape(bp: Blueprint, name: str, data_shape: Shape | None) -> Shape:
    """The input's shape: as declared (and then it must fit the data), else the data's."""
    decl = bp.inputs[name]
    what = "the model" if bp.sequential else f"input '{name}'"
    if decl.shape is None:
        if data_shape is None:
            raise ConfigError(decl.loc, f"{what} has no shape and no data to take it from",
                              hint="Add shape: [...] (per sample, without the batch size)")
        return tuple(data_shape)
    if data_shape is not None and not _fits(decl.shape, data_shape):
        raise ConfigError(
            decl.loc,
            f"{what} expects samples of shape {fmt_shape(decl.shape)}, but the data after "
            f"preprocessing has samples of shape {fmt_shape(data_shape)}",
            hint=_input_hint(bp, name, decl.shape, data_shape),
        )
    return tuple(decl.shape)


def _fits(declared: Shape, data: Shape) -> bool:
    return len(declared) == len(data) and all(
        d is None or d == s for d, s in zip(declared, data, strict=True)
    )


def _input_hint(bp: Blueprint, name: str, declared: Shape, data: Shape) -> str | None:
    if bp.inputs[name].loc[-1] == "input_length":
        return f"Set it to the padded length {data[0]} (pad: maxlen), or remove it"
    if any(d is None for d in declared):
        return None
    where = "" if bp.sequential else f" (for {name}: preprocess.x: {{{name}: [flatten]}})"
    if len(declared) == 1 and len(data) > 1 and size(data) == declared[0]:
        return f"Add 'flatten' to preprocess.x{where}"
    if size(declared) == size(data):
        return f"Add {{reshape: {list(declared)}}} to preprocess.x" + ("" if bp.sequential else f" for '{name}'")
    return None


def _merge_class() -> type | None:
    """Keras's base class of merge layers (Concatenate, Add, ...), which is not public."""
    try:
        from keras.src.layers.merging.base_merge import Merge
    except ImportError:  # pragma: no cover - a Keras that moved it
        return None
    return Merge


def _arguments(node: Node, tensors: dict[str, Any]) -> tuple[list[str], list[Any], dict[str, Any]]:
    """The node's input names, and the positional and keyword arguments of its call."""
    kwargs: dict[str, Any] = dict(node.call)
    if isinstance(node.inputs, str):
        return [node.inputs], [tensors[node.inputs]], kwargs
    if isinstance(node.inputs, list):
        return list(node.inputs), [[tensors[r] for r in node.inputs]], kwargs
    refs: list[str] = []
    for arg, value in node.inputs.items():
        if isinstance(value, str):
            refs.append(value)
            kwargs[arg] = tensors[value]
        else:
            refs += value
            kwargs[arg] = [tensors[v] for v in value]
    return refs, [], kwargs


def _apply(bp: Blueprint, node: Node, layer: Any, tensors: dict[str, Any], merge: Any) -> Any:
    refs, args, kwargs = _arguments(node, tensors)
    cls = type(layer).__name__
    if not bp.sequential and merge is not None and isinstance(layer, merge):
        if not isinstance(node.inputs, list) or len(node.inputs) < 2:
            raise ConfigError(
                (*node.loc, "inputs"),
                f"{cls} merges several inputs, received {len(refs)} ({', '.join(refs)})",
                hint="List at least two nodes, e.g. inputs: [branch_a, branch_b]",
            )
    try:
        return layer(*args, **kwargs)
    except Exception as exc:  # Keras raises ValueError/TypeError on incompatible shapes
        shape = tuple(getattr(tensors[refs[0]], "shape", ())) if refs else ()
        op_name = named(node.op)[0] if node.owner == node.name else "layer"
        if bp.sequential:
            what = f"{op_name} cannot take input of shape {fmt_shape(shape)}"
        else:
            what = f"node '{node.name}': {cls} cannot take {_describe(refs, tensors)}"
        raise ConfigError(
            (*node.loc, op_name),
            f"{what}: {first_line(exc)}",
            hint=shape_hint(cls, shape) if len(refs) == 1 else None,
        ) from None


def _describe(refs: list[str], tensors: dict[str, Any]) -> str:
    parts = [f"{r} {fmt_shape(tuple(getattr(tensors[r], 'shape', ())))}" for r in refs]
    return "input " + parts[0] if len(parts) == 1 else "inputs " + ", ".join(parts)


def node_layers(model: Any, cfg: FunctionalModel) -> dict[str, Any]:
    """``{node: the Keras layer it applies}``; nodes sharing a layer map to one object."""
    bp = blueprint(cfg, [])
    return {n.name: model.get_layer(n.owner) for n in bp.nodes}


def size(shape: Any) -> int:
    """The number of values in a sample of ``shape``."""
    n = 1
    for s in shape:
        n *= int(s)
    return n


def shape_hint(name: str, shape: Any) -> str | None:
    """How to fix a layer that cannot take input of ``shape`` (batch axis included)."""
    if name.endswith("2D") and len(shape) != 4:
        return ("2-D layers need (height, width, channels) samples: add e.g. "
                "{reshape: [28, 28, 1]} (your sizes) to preprocess.x, or start with a Reshape layer")
    if name.endswith("1D") and len(shape) != 3:
        return "1-D layers need (steps, channels) samples: add a Reshape or Embedding layer before it"
    if name == "Dense" and len(shape) > 2:
        return "Dense works on the last axis; add a Flatten layer before it if you meant one vector per sample"
    return None
