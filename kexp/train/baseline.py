"""The score a model must beat: the majority class, or the training mean for regression.

Recorded next to the model's own metrics in ``metrics.json`` (key ``baseline``),
computed on the same evaluation part from the training labels only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kexp.data.split import labels_of


def baseline(y_train: Any, y_test: Any, classes: list | None, classify: bool) -> dict[str, Any] | None:
    """``{"strategy": ..., <metric>: value}`` for encoded train/test targets, or None
    when the targets are not one label or one number per sample."""
    if y_train is None or y_test is None or len(y_train) == 0 or len(y_test) == 0:
        return None
    train, test = np.asarray(y_train), np.asarray(y_test)
    if classify or classes is not None:
        a, b = labels_of(train), labels_of(test)
        if a.ndim != 1:
            return None
        values, counts = np.unique(a, return_counts=True)
        top = values[counts.argmax()]
        label = classes[int(top)] if classes is not None else top
        return {
            "strategy": "majority_class",
            "class": label.item() if isinstance(label, np.generic) else label,
            "accuracy": float(np.mean(b == top)),
        }
    if train.ndim > 1 and train.shape[1] != 1:
        return None
    mean = float(np.mean(train.astype(np.float64)))
    err = test.reshape(len(test)).astype(np.float64) - mean
    return {
        "strategy": "training_mean",
        "value": mean,
        "mse": float(np.mean(err**2)),
        "mae": float(np.mean(np.abs(err))),
    }


def from_counts(train: dict[str, int], test: dict[str, int]) -> dict[str, Any] | None:
    """:func:`baseline`'s majority class from the labels' counts of each part (a streamed
    CSV's, counted as it was read); None without test labels."""
    if not train or not sum(test.values()):
        return None
    top = max(sorted(train), key=lambda label: train[label])
    return {"strategy": "majority_class", "class": top,
            "accuracy": test.get(top, 0) / sum(test.values())}


def describe(b: dict[str, Any]) -> str:
    """One line for the run's notes."""
    if b["strategy"] == "majority_class":
        return f"baseline (always '{b['class']}'): accuracy {b['accuracy']:.4f}"
    return f"baseline (always the training mean {b['value']:.4g}): mse {b['mse']:.4g}, mae {b['mae']:.4g}"
