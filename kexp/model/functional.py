"""Build a Keras functional model from the spec's named graph (no training here).

Every node's layer is resolved through :func:`kexp.layers.layer` and named after
the node; ``layer: <node>`` applies the very same layer object again, so the
weights are shared. Inputs and outputs are named after their keys, which is how
Keras matches ``fit``'s dicts, per-output losses and metrics to them.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from kexp.errors import ConfigError
from kexp.model import layers, resolve
from kexp.model.build import _fmt_shape, _shape_hint, _size, check_targets
from kexp.spec import FunctionalModel, named
from kexp.spec import graph as graph_mod

Shape = tuple[Any, ...]


def _merge_class() -> type | None:
    """Keras's base class of merge layers (Concatenate, Add, ...), which is not public."""
    try:
        from keras.src.layers.merging.base_merge import Merge
    except ImportError:  # pragma: no cover - a Keras that moved it
        return None
    return Merge


def _input_shape(cfg: FunctionalModel, name: str, data_shape: Shape | None) -> Shape:
    declared = cfg.inputs[name].shape
    loc = ("model", "inputs", name, "shape")
    if declared is None:
        if data_shape is None:
            raise ConfigError(
                ("model", "inputs", name),
                f"input '{name}' has no shape and no data to take it from",
                hint="Add shape: [...] (per sample, without the batch size)",
            )
        return tuple(data_shape)
    declared_t = tuple(declared)
    if data_shape is not None:
        fits = len(declared_t) == len(data_shape) and all(
            d is None or d == s for d, s in zip(declared_t, data_shape, strict=True)
        )
        if not fits:
            hint = None
            known = all(d is not None for d in declared_t)
            if known and len(declared_t) == 1 and len(data_shape) > 1 and _size(data_shape) == declared_t[0]:
                hint = f"Add 'flatten' to preprocess.x (for {name}: preprocess.x: {{{name}: [flatten]}})"
            elif known and _size(declared_t) == _size(data_shape):
                hint = f"Add {{reshape: {list(declared_t)}}} to preprocess.x for '{name}'"
            raise ConfigError(
                loc,
                f"input '{name}' expects samples of shape {_fmt_shape(declared_t)}, but the data "
                f"after preprocessing has samples of shape {_fmt_shape(data_shape)}",
                hint=hint,
            )
    return declared_t


def build(
    cfg: FunctionalModel,
    data_shapes: Shape | dict[str, Shape] | None,
    notes: list[str],
    *,
    named_inputs: bool | None = None,
    named_outputs: bool | None = None,
) -> tuple[Any, dict[str, Shape]]:
    """A ``keras.Model`` and the per-sample shape of each output.

    Args:
        data_shapes: per-sample shapes of the preprocessed data, ``{input: shape}``
            or one shape for a single input (None: shapes come from the spec only).
        named_inputs / named_outputs: take / give dicts keyed by name (default: when
            there are several).
    """
    import keras

    g = graph_mod.analyze(cfg)
    notes += g.notes
    names = list(cfg.inputs)
    if named_inputs is None:
        named_inputs = len(names) > 1
    if named_outputs is None:
        named_outputs = len(cfg.outputs) > 1
    if isinstance(data_shapes, dict):
        shapes: dict[str, Any] = dict(data_shapes)
    else:
        shapes = {names[0]: data_shapes} if len(names) == 1 else {}
    tensors: dict[str, Any] = {}
    for name in names:
        shape = _input_shape(cfg, name, shapes.get(name))
        tensors[name] = keras.Input(shape=shape, name=name, dtype=cfg.inputs[name].dtype)
    built: dict[str, Any] = {}
    merge = _merge_class()
    for name in g.order:
        owner = g.owner[name]
        if owner not in built:
            layer_name, args = named(cfg.nodes[owner].op)
            if args is not None and not isinstance(args, dict):
                args_loc = ("model", "nodes", owner, layer_name)
                raise ConfigError(
                    args_loc, f"expected a mapping of keyword arguments, received {args!r}",
                    hint=f"e.g. {layer_name}: {{units: 8}}",
                )
            kwargs = {"name": owner, **(args or {})}
            built[owner] = layers.layer({layer_name: kwargs}, ("model", "nodes", owner))
        layer = built[owner]
        tensors[name] = _apply(cfg, name, layer, tensors, merge)
    outputs = {o: tensors[o] for o in cfg.outputs}
    if not named_outputs and len(outputs) > 1:  # pragma: no cover - callers pass named_outputs
        raise ConfigError(("model", "outputs"), "several outputs need targets per output name")
    model = keras.Model(
        inputs={n: tensors[n] for n in names} if named_inputs else tensors[names[0]],
        outputs=outputs if named_outputs else outputs[cfg.outputs[0]],
        name=cfg.name or "functional",
    )
    out_shapes = {o: tuple(getattr(t, "shape", ())) for o, t in outputs.items()}
    return model, out_shapes


def _describe_inputs(refs: list[str], tensors: dict[str, Any]) -> str:
    parts = [f"{r} {_fmt_shape(tuple(getattr(tensors[r], 'shape', ())))}" for r in refs]
    return "input " + parts[0] if len(parts) == 1 else "inputs " + ", ".join(parts)


def _apply(cfg: FunctionalModel, name: str, layer: Any, tensors: dict[str, Any], merge: Any) -> Any:
    node = cfg.nodes[name]
    loc = ("model", "nodes", name)
    cls = type(layer).__name__
    args: list[Any] = []
    kwargs: dict[str, Any] = dict(node.call)
    if isinstance(node.inputs, str):
        refs = [node.inputs]
        args.append(tensors[node.inputs])
    elif isinstance(node.inputs, list):
        refs = list(node.inputs)
        args.append([tensors[r] for r in refs])
    else:
        refs = []
        for arg, value in node.inputs.items():
            if isinstance(value, str):
                refs.append(value)
                kwargs[arg] = tensors[value]
            else:
                refs += value
                kwargs[arg] = [tensors[v] for v in value]
    if merge is not None and isinstance(layer, merge):
        if not isinstance(node.inputs, list) or len(node.inputs) < 2:
            given = len(refs)
            raise ConfigError(
                loc + ("inputs",),
                f"{cls} merges several inputs, received {given} ({', '.join(refs)})",
                hint="List at least two nodes, e.g. inputs: [branch_a, branch_b]",
            )
    try:
        return layer(*args, **kwargs)
    except Exception as exc:  # Keras raises ValueError/TypeError on incompatible shapes
        op_name = named(cfg.nodes[name].op)[0] if cfg.nodes[name].op is not None else "layer"
        shape = tuple(getattr(tensors[refs[0]], "shape", ())) if refs else ()
        raise ConfigError(
            loc + (op_name,),
            f"node '{name}': {cls} cannot take {_describe_inputs(refs, tensors)}: "
            f"{resolve.first_line(exc)}",
            hint=_shape_hint(cls, shape[1:]) if len(refs) == 1 else None,
        ) from None


def node_layers(model: Any, cfg: FunctionalModel) -> dict[str, Any]:
    """``{node: the Keras layer it applies}``; nodes sharing a layer map to one object."""
    g = graph_mod.analyze(cfg)
    return {n: model.get_layer(g.owner[n]) for n in g.order}


def check_outputs(
    model: Any,
    out_shapes: dict[str, Shape],
    y: Any,
    modes: dict[str, str],
    classes: dict[str, Any],
) -> None:
    """Each output must fit its targets (units == classes, or the targets' shape)."""
    for out, shape in out_shapes.items():
        target = y[out] if isinstance(y, dict) else y
        check_targets(
            SimpleNamespace(output_shape=shape), target, modes[out], classes.get(out),
            ("model", "nodes", out),
        )
