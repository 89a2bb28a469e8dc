"""Build a Keras model from the spec's ``model`` section (no training here)."""

from __future__ import annotations

from typing import Any

from kexp.errors import ConfigError
from kexp.model import layers, resolve
from kexp.spec import FunctionalModel, SequentialModel, named

Shape = tuple[int, ...]


def build(cfg: Any, input_shape: Shape, notes: list[str]) -> Any:
    """Build the model for samples of ``input_shape`` (after preprocessing)."""
    if isinstance(cfg, SequentialModel):
        return build_sequential(cfg, input_shape, notes)
    if isinstance(cfg, FunctionalModel):
        from kexp.model import functional

        return functional.build(cfg, input_shape, notes)[0]
    raise ConfigError(("model", "type"), f"unsupported model type {cfg.type!r}")  # pragma: no cover


def _fmt_shape(shape: Any) -> str:
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + (",)" if len(shape) == 1 else ")")


def build_sequential(cfg: SequentialModel, input_shape: Shape, notes: list[str]) -> Any:
    """A keras.Sequential; the input shape comes from an Input layer, Keras 2's
    ``input_dim``/``input_shape`` on the first layer, or else the data."""
    import keras

    items = _drop_input_length(list(cfg.layers), notes)
    first_name, first_args = named(items[0])
    declared: Shape | None = None
    declared_loc: tuple = ("model", "layers", 0, first_name)
    start = 0
    if first_name == "Input":
        args = dict(first_args or {})
        if "shape" not in args:
            raise ConfigError(declared_loc, "Input needs a shape", hint=f"e.g. Input: {{shape: {list(input_shape)}}}")
        declared = tuple(args["shape"]) if isinstance(args["shape"], (list, tuple)) else (args["shape"],)
        declared_loc += ("shape",)
        start = 1
    elif first_name == "Embedding" and isinstance(first_args, dict) and "input_length" in first_args:
        args = dict(first_args)
        declared = (int(args.pop("input_length")),)
        declared_loc += ("input_length",)
        items[0] = {first_name: args}
    elif isinstance(first_args, dict) and (
        # Embedding's input_dim is its vocabulary size, not the input's shape
        ("input_dim" in first_args and first_name != "Embedding") or "input_shape" in first_args
    ):
        args = dict(first_args)
        if "input_dim" in args:
            declared = (int(args.pop("input_dim")),)
            declared_loc += ("input_dim",)
            notes.append(
                f"model.layers[0].{first_name}.input_dim: Keras 3 takes the input shape from an "
                f"Input layer; used Input(shape={_fmt_shape(declared)})"
            )
        else:
            shape = args.pop("input_shape")
            declared = tuple(shape) if isinstance(shape, (list, tuple)) else (shape,)
            declared_loc += ("input_shape",)
            notes.append(
                f"model.layers[0].{first_name}.input_shape: Keras 3 takes the input shape from an "
                f"Input layer; used Input(shape={_fmt_shape(declared)})"
            )
        items[0] = {first_name: args}
    if declared is not None and tuple(declared) != tuple(input_shape):
        hint = None
        if declared_loc[-1] == "input_length":
            hint = f"Set it to the padded length {input_shape[0]} (pad: maxlen), or remove it"
        elif len(declared) == 1 and len(input_shape) > 1 and _size(input_shape) == declared[0]:
            hint = "Add 'flatten' to preprocess.x"
        elif _size(declared) == _size(input_shape):
            hint = f"Add {{reshape: {list(declared)}}} to preprocess.x"
        raise ConfigError(
            declared_loc,
            f"the model expects samples of shape {_fmt_shape(declared)}, but the data after "
            f"preprocessing has samples of shape {_fmt_shape(input_shape)}",
            hint=hint,
        )
    model = keras.Sequential(name=cfg.name or "sequential")
    model.add(keras.Input(shape=tuple(input_shape)))
    before: tuple = (None, *input_shape)
    for i in range(start, len(items)):
        loc = ("model", "layers", i)
        layer = layers.layer(items[i], loc)
        try:
            model.add(layer)
            before = tuple(model.output_shape)
        except Exception as exc:  # Keras raises ValueError/TypeError on incompatible shapes
            name = named(items[i])[0]
            raise ConfigError(
                loc + (name,),
                f"{name} cannot take input of shape {_fmt_shape(before)}: {resolve.first_line(exc)}",
                hint=_shape_hint(name, before),
            ) from None
    return model


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


#: Layers that pass the model's input on unchanged in kind (token indices stay indices).
_PASS_THROUGH = {"Input", "InputLayer", "Masking"}


def check_embedding(cfg: Any, x_train: Any, vocabulary_size: int | None) -> None:
    """An Embedding that reads the model's input needs ``input_dim`` above every
    token index: the fitted vocabulary's size, and the training data's largest index."""
    import numpy as np

    for i, item in enumerate(getattr(cfg, "layers", [])):
        name, args = named(item)
        if name in _PASS_THROUGH:
            continue
        if name != "Embedding" or not isinstance(args, dict):
            return
        input_dim = args.get("input_dim")
        if not isinstance(input_dim, int) or isinstance(input_dim, bool):
            return  # Keras reports a missing or non-integer input_dim itself
        arr = np.asarray(x_train)
        largest = int(np.nanmax(arr)) if arr.size and arr.dtype.kind in "iuf" else 0
        needed = max(vocabulary_size or 0, largest + 1)
        if input_dim < needed:
            why = (
                f"the vocabulary fitted on the training data has {vocabulary_size} entries "
                "(with padding 0 and out-of-vocabulary 1)"
                if vocabulary_size is not None and vocabulary_size >= largest + 1
                else f"the training data has token indices up to {largest}"
            )
            raise ConfigError(
                ("model", "layers", i, name, "input_dim"),
                f"expected at least {needed}: {why}; received {input_dim}",
                hint=f"Set input_dim: {needed}, or lower the vocabulary size (tokenize: max_tokens)",
            )
        return


def _size(shape: Any) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def _shape_hint(name: str, shape: Any) -> str | None:
    if name.endswith("2D") and len(shape) != 4:
        return ("2-D layers need (height, width, channels) samples: add e.g. "
                "{reshape: [28, 28, 1]} (your sizes) to preprocess.x, or start with a Reshape layer")
    if name.endswith("1D") and len(shape) != 3:
        return "1-D layers need (steps, channels) samples: add a Reshape or Embedding layer before it"
    if name == "Dense" and len(shape) > 2:
        return "Dense works on the last axis; add a Flatten layer before it if you meant one vector per sample"
    return None


def check_targets(model: Any, y: Any, y_mode: str, classes: list | None, loc_last: tuple) -> None:
    """The output layer must fit the labels: units == classes for one-hot/sparse."""
    out_shape = tuple(model.output_shape)
    units = out_shape[-1]
    if y_mode in ("one_hot", "sparse") and classes is not None:
        n = len(classes)
        ok = units == n or (y_mode == "sparse" and n == 2 and units == 1)
        if not ok:
            raise ConfigError(
                loc_last,
                f"the output layer has {units} unit(s) but the labels have {n} classes "
                f"({', '.join(map(str, classes[:10]))}{', ...' if n > 10 else ''})",
                hint=f"Set units: {n} on the last layer" + (" (or units: 1 with sigmoid and y: sparse)" if n == 2 else ""),
            )
        return
    tail = tuple(y.shape[1:]) if getattr(y, "ndim", 1) > 1 else (1,)
    if tuple(out_shape[1:]) != tail and not (tail == (1,) and out_shape[1:] == (1,)):
        raise ConfigError(
            loc_last,
            f"the model outputs shape {_fmt_shape(out_shape[1:])} per sample but the targets have "
            f"shape {_fmt_shape(tail)}",
            hint="Make the last layer's units match the targets, or encode labels with preprocess.y: one_hot",
        )
