"""The loss against the labels, before training: a crossentropy that expects integer
labels given one-hot rows (or the reverse), binary crossentropy for more than two
classes, a sigmoid (or one-unit softmax) output layer for classes that exclude each
other, and labels of a single class. Each error names the loss (``compile.loss``), the
label encoding (``preprocess.y``) or the output layer's activation, and what to change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kexp.errors import ConfigError, DataError, format_path
from kexp.model.blueprint import Blueprint, Loc, Shape
from kexp.spec import named

#: Keras crossentropy losses by family (names without underscores, lower case).
LOSS_FAMILIES = {
    "sparsecategoricalcrossentropy": "sparse",
    "categoricalcrossentropy": "categorical",
    "categoricalfocalcrossentropy": "categorical",
    "binarycrossentropy": "binary",
    "binaryfocalcrossentropy": "binary",
}


@dataclass
class Output:
    """One model output as the checks see it: its per-sample shape (batch axis
    included), its training targets after preprocessing, its ``preprocess.y`` mode and
    classes, and its loss as the spec gives it, with where each is set."""

    name: str
    shape: Shape
    y: Any
    mode: str
    classes: list[Any] | None
    loss: Any
    loss_loc: Loc
    y_loc: Loc


@dataclass
class Labels:
    """What the targets are: ``one_hot`` rows, ``integer`` class indices, or ``other``
    (continuous, several labels per sample); ``n`` classes, ``present`` the class
    indices the training part holds; ``text`` says so in the spec's words."""

    kind: str
    n: int
    present: np.ndarray
    text: str


def loss_family(loss: Any) -> tuple[str | None, bool]:
    """``sparse``, ``categorical``, ``binary`` (or None) and ``from_logits``."""
    name, args = named(loss)
    if not isinstance(name, str):  # custom code (package.module:attribute) is in no family
        return None, False
    logits = bool(args.get("from_logits")) if isinstance(args, dict) else False
    return LOSS_FAMILIES.get(name.replace("_", "").lower()), logits


def labels_of(out: Output) -> Labels:
    """Describe ``out``'s training targets."""
    key = format_path(out.y_loc)
    arr = np.asarray(out.y)
    n = len(out.classes or [])
    if out.mode == "one_hot":
        return Labels("one_hot", n, np.unique(arr.argmax(axis=1)), f"{key}: one_hot gives one-hot rows ({n} classes)")
    if out.mode == "sparse":
        return Labels("integer", n, np.unique(arr), f"{key}: sparse gives integer class labels ({n} classes)")
    if arr.ndim == 2 and arr.shape[1] > 1:
        if arr.size and np.isin(arr, (0, 1)).all() and np.all(arr.sum(axis=1) == 1):
            n = arr.shape[1]
            return Labels("one_hot", n, np.unique(arr.argmax(axis=1)),
                          f"the targets are one-hot rows of {n} columns ({key}: none)")
        return Labels("other", 0, np.array([]), f"the targets have {arr.shape[1]} columns ({key}: none)")
    flat = arr.reshape(-1) if arr.ndim == 2 else arr
    if (arr.ndim <= 2 and flat.size and flat.dtype.kind in "iuf" and np.all(np.isfinite(flat))
            and np.all(flat == np.round(flat)) and flat.min() >= 0):
        n = int(flat.max()) + 1
        return Labels("integer", n, np.unique(flat).astype(np.int64),
                      f"the targets are integer labels 0..{n - 1} ({key}: none)")
    return Labels("other", 0, np.array([]), f"the targets are not class labels ({key}: none)")


def check_loss_labels(bp: Blueprint, outputs: list[Output], target_key: str) -> None:
    """Refuse a loss, label encoding or output activation that cannot learn the labels."""
    for out in outputs:
        family, logits = loss_family(out.loss)
        labels = labels_of(out)
        prefix = "" if len(outputs) == 1 else f"output '{out.name}': "
        if labels.kind != "other" and (family is not None or out.mode != "none"):
            check_classes(out, labels, prefix, target_key)
        check_loss(out, family, labels, prefix)
        check_activation(bp, out, family, logits, labels, prefix)


def check_classes(out: Output, labels: Labels, prefix: str, target_key: str) -> None:
    """A classifier needs at least two classes in its training part."""
    if len(labels.present) != 1:
        return
    index = int(labels.present[0])
    value = out.classes[index] if out.classes and index < len(out.classes) else index
    raise DataError(
        f"{prefix}every label in the training part (y_train) is {value!r}: a classifier needs at least two "
        f"classes to learn from (it would score a perfect accuracy by always answering {value!r}). "
        f"Check {target_key} (where the labels come from), and data.limit or data.test (which rows are kept)"
    )


def check_loss(out: Output, family: str | None, labels: Labels, prefix: str) -> None:
    """The loss fits the encoding of the labels."""
    name = named(out.loss)[0]
    key, where = format_path(out.y_loc), format_path(out.loss_loc)
    if family == "sparse" and labels.kind == "one_hot":
        raise ConfigError(
            out.loss_loc, f"{prefix}{name} expects integer class labels (one per sample), but {labels.text}",
            hint=f"Change {where} to categorical_crossentropy"
            + (f", or {key} to sparse" if out.mode == "one_hot" else ""),
        )
    if family == "categorical" and labels.kind == "integer":
        raise ConfigError(
            out.loss_loc, f"{prefix}{name} expects one-hot rows (one column per class), but {labels.text}",
            hint=(f"Change {where} to sparse_categorical_crossentropy, or {key} to one_hot"
                  if out.mode == "sparse" else
                  f"Set {key}: one_hot, or change {where} to sparse_categorical_crossentropy"),
        )
    if family == "binary" and out.mode == "none":
        check_binary_targets(out, name, prefix)
    if family == "binary" and labels.kind != "other" and labels.n > 2:
        raise ConfigError(
            out.loss_loc,
            f"{prefix}{name} is for two classes (or independent yes/no outputs), but {labels.text}",
            hint=f"Change {where} to categorical_crossentropy with {key}: one_hot (or "
            f"sparse_categorical_crossentropy with {key}: sparse), and end with a softmax "
            f"layer of {labels.n} units",
        )


def check_binary_targets(out: Output, name: str, prefix: str) -> None:
    """Raw targets of a binary crossentropy are 0 and 1 (or probabilities between)."""
    arr = np.asarray(out.y)
    values = np.unique(arr[np.isfinite(arr)]) if arr.size and arr.dtype.kind in "iuf" else np.array([])
    if not values.size or (values.min() >= 0 and values.max() <= 1):
        return
    key, shown = format_path(out.y_loc), [f"{v:g}" for v in values[:2]]
    if values.size == 2:
        raise ConfigError(
            out.loss_loc, f"{prefix}{name} needs targets 0 and 1, but the targets are {shown[0]} and "
            f"{shown[1]} ({key}: none)",
            hint=f"Map them to 0 and 1, e.g. preprocess.labels: {{binary: {{positive: [{shown[1]}]}}}}",
        )
    if not np.all(values == np.round(values)):
        raise ConfigError(
            out.loss_loc, f"{prefix}{name} needs targets between 0 and 1, but the targets range from "
            f"{values.min():g} to {values.max():g} ({key}: none)",
            hint="For a number to predict use a regression loss (mse, mae); for classes, map them "
            "with preprocess.labels",
        )


def output_activation(bp: Blueprint, output: str) -> tuple[str | None, Loc]:
    """The activation the output's layer applies (as written), and where."""
    node = bp.node(output)
    layer, args = named(node.op)
    loc = (*(node.op_loc or node.loc), layer, "activation")
    value = args.get("activation") if isinstance(args, dict) else None
    return (value.lower() if isinstance(value, str) else None), loc


def check_activation(bp: Blueprint, out: Output, family: str | None, logits: bool, labels: Labels,
                     prefix: str) -> None:
    """A softmax over one unit is constant; sigmoid scores do not sum to one over classes."""
    activation, loc = output_activation(bp, out.name)
    units = out.shape[-1] if out.shape else None
    if activation == "softmax" and units == 1:
        raise ConfigError(
            loc, f"{prefix}a softmax over a single unit always outputs 1.0, so the model cannot learn",
            hint="Use activation: sigmoid for one yes/no output (or units: 2 with softmax and "
            "sparse_categorical_crossentropy)",
        )
    exclusive = labels.kind in ("one_hot", "integer") and labels.n > 2 and units == labels.n
    if activation == "sigmoid" and not logits and family in ("categorical", "sparse") and exclusive:
        raise ConfigError(
            loc,
            f"{prefix}a sigmoid output for {labels.n} classes gives {labels.n} independent yes/no "
            f"scores, but {labels.text}, one class per sample ({format_path(out.loss_loc)}: "
            f"{named(out.loss)[0]})",
            hint="Use activation: softmax on this layer",
        )
