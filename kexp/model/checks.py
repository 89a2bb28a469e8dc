"""Checks of a built model against its data, before training: the outputs fit their
targets, and an Embedding that reads token indices has room for all of them."""

from __future__ import annotations

from typing import Any

import numpy as np

from kexp.data.images import ImageFiles
from kexp.errors import ConfigError
from kexp.model.blueprint import Blueprint, Shape, fmt_shape
from kexp.spec import named

#: Layers that pass the model's input on unchanged in kind (token indices stay indices).
PASS_THROUGH = {"Input", "InputLayer", "Masking"}


def check_outputs(bp: Blueprint, out_shapes: dict[str, Shape], y: dict[str, Any],
                  modes: dict[str, str], classes: dict[str, Any]) -> None:
    """Each output must fit its targets (units == classes, or the targets' shape)."""
    for out, shape in out_shapes.items():
        check_targets(shape, y[out], modes[out], classes.get(out), bp.output_loc(out))


def check_targets(out_shape: Shape, y: Any, y_mode: str, classes: list | None, loc: tuple) -> None:
    """One output layer must fit its labels: units == classes for one-hot/sparse."""
    units = out_shape[-1]
    if y_mode in ("one_hot", "sparse") and classes is not None:
        n = len(classes)
        if not (units == n or (y_mode == "sparse" and n == 2 and units == 1)):
            raise ConfigError(
                loc,
                f"the output layer has {units} unit(s) but the labels have {n} classes "
                f"({', '.join(map(str, classes[:10]))}{', ...' if n > 10 else ''})",
                hint=f"Set units: {n} on the last layer"
                + (" (or units: 1 with sigmoid and y: sparse)" if n == 2 else ""),
            )
        return
    tail = tuple(y.shape[1:]) if getattr(y, "ndim", 1) > 1 else (1,)
    if tuple(out_shape[1:]) != tail and not (tail == (1,) and tuple(out_shape[1:]) == (1,)):
        raise ConfigError(
            loc,
            f"the model outputs shape {fmt_shape(out_shape[1:])} per sample but the targets have "
            f"shape {fmt_shape(tail)}",
            hint="Make the last layer's units match the targets, or encode labels with "
            "preprocess.y: one_hot",
        )


def check_embeddings(bp: Blueprint, x: dict[str, Any], vocabulary: dict[str, int | None]) -> None:
    """An Embedding that reads a model input needs ``input_dim`` above every token index:
    the fitted vocabulary's size, and the training data's largest index."""
    feeds = {name: name for name in bp.inputs}  # node or input -> the model input it passes on
    for node in bp.nodes:
        source = feeds.get(node.inputs) if isinstance(node.inputs, str) else None
        if source is None:
            continue
        layer, args = named(node.op)
        if layer in PASS_THROUGH:
            feeds[node.name] = source
        elif layer == "Embedding" and isinstance(args, dict):
            _check_embedding(node.op_loc or node.loc, args, x[source], vocabulary.get(source))


def _check_embedding(loc: tuple, args: dict[str, Any], x: Any, vocabulary_size: int | None) -> None:
    input_dim = args.get("input_dim")
    if not isinstance(input_dim, int) or isinstance(input_dim, bool):
        return  # Keras reports a missing or non-integer input_dim itself
    if isinstance(x, ImageFiles):
        return  # pixels, not token indices
    arr = np.asarray(x)
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
            (*loc, "Embedding", "input_dim"),
            f"expected at least {needed}: {why}; received {input_dim}",
            hint=f"Set input_dim: {needed}, or lower the vocabulary size (tokenize: max_tokens)",
        )


def check_image_inputs(bp: Blueprint, x: dict[str, Any]) -> None:
    """A ConfigError naming ``data.image_size`` or ``data.color_mode`` when the images
    read from a folder do not have the shape an input of the model declares."""
    from kexp.data.images import CHANNELS

    modes = {n: m for m, n in CHANNELS.items()}
    for name, files in x.items():
        decl = bp.inputs.get(name)
        if not isinstance(files, ImageFiles) or decl is None or decl.shape is None:
            continue
        declared, (h, w, c) = tuple(decl.shape), files.decoding.shape
        what = "the model" if bp.sequential else f"input '{name}'"
        if len(declared) != 3:
            raise ConfigError(decl.loc, f"{what} expects samples of shape {fmt_shape(declared)}, "
                              f"but images are read as (height, width, channels) = {(h, w, c)}",
                              hint=f"Declare shape: [{h}, {w}, {c}] and add a Flatten layer "
                                   "where the network needs one dimension")
        dh, dw, dc = declared
        if dc is not None and dc != c:
            mode = modes.get(dc)
            raise ConfigError(
                ("data", "color_mode"),
                f"color_mode {modes[c]} reads images with {c} channel(s), but {what} expects "
                f"{dc} (shape {fmt_shape(declared)})",
                hint=f"Set data.color_mode: {mode}" if mode else
                f"Declare the input's shape as [{h}, {w}, {c}]")
        if (dh is not None and dh != h) or (dw is not None and dw != w):
            raise ConfigError(
                ("data", "image_size"),
                f"images are resized to {h}x{w} (data.image_size [{h}, {w}]), but {what} expects "
                f"{dh}x{dw} (shape {fmt_shape(declared)})",
                hint=f"Set data.image_size: [{dh}, {dw}], or declare the input's shape as "
                     f"[{h}, {w}, {c}]")
