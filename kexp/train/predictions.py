"""The predictions frame of a model: ``predictions.csv`` and ``kexp predict``'s output.

One output gives ``y_true, y_pred, prob_<class>...`` (regression: ``y_true, y_pred``);
several give the same columns per output, prefixed ``<output>.``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kexp.data.named import Named, for_keras, from_keras
from kexp.spec import CompileConfig, named
from kexp.train.compile import loss_of


def is_binary(loss: Any) -> bool:
    """Whether a loss (as written in the spec) trains a 0/1 classifier."""
    name, _ = named(loss)
    return "binary" in name.lower() or name.lower() in ("hinge", "squared_hinge", "bce")


def predictions(model: Any, cfg: CompileConfig, classes: dict[str, Any], x: Named,
                y_raw: Named | None, batch_size: int) -> pd.DataFrame:
    """Predict ``x`` and tabulate each output's predictions beside its true labels."""
    outputs = list(classes)
    proba = from_keras(model.predict(for_keras(x), batch_size=batch_size, verbose=0), outputs)
    frames = []
    for out in outputs:
        binary = classes[out] is None and is_binary(loss_of(cfg, out, outputs))
        frame = frame_of(proba[out], None if y_raw is None else y_raw.get(out), classes[out], binary)
        frames.append(frame if len(outputs) == 1 else frame.add_prefix(f"{out}."))
    return pd.concat(frames, axis=1)


def frame_of(proba: np.ndarray, y_raw: Any, classes: list | None, binary: bool) -> pd.DataFrame:
    """The predictions frame of one output's predicted values/probabilities."""
    y_true = None
    if y_raw is not None:
        y_true = y_raw.to_numpy() if isinstance(y_raw, (pd.Series, pd.DataFrame)) else np.asarray(y_raw)
        if y_true.ndim == 2 and y_true.shape[1] == 1:
            y_true = y_true[:, 0]
    frame: dict[str, Any] = {}
    if classes is not None or binary:
        if proba.ndim == 2 and proba.shape[1] > 1:
            idx = proba.argmax(axis=1)
            labels = classes if classes is not None else list(range(proba.shape[1]))
            probs = {f"prob_{c}": proba[:, i] for i, c in enumerate(labels)}
        else:
            p1 = proba.reshape(len(proba))
            idx = (p1 > 0.5).astype(int)
            labels = classes if classes is not None else [0, 1]
            probs = {f"prob_{labels[0]}": 1.0 - p1, f"prob_{labels[1]}": p1}
        if y_true is not None:
            if y_true.ndim == 2:  # one-hot targets given as data
                y_true = np.asarray(labels, dtype=object)[y_true.argmax(axis=1)]
            frame["y_true"] = y_true
        frame["y_pred"] = np.asarray(labels, dtype=object)[idx]
        frame.update(probs)
    else:
        pred = proba.reshape(len(proba), -1)
        if pred.shape[1] == 1:
            if y_true is not None:
                frame["y_true"] = y_true.reshape(len(y_true), -1)[:, 0] if y_true.ndim > 1 else y_true
            frame["y_pred"] = pred[:, 0]
        else:
            for j in range(pred.shape[1]):
                if y_true is not None:
                    frame[f"y_true_{j}"] = y_true.reshape(len(y_true), -1)[:, j]
                frame[f"y_pred_{j}"] = pred[:, j]
    return pd.DataFrame(frame)
