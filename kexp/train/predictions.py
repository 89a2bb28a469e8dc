"""The predictions frame of a model: ``predictions.csv`` and ``kexp predict``'s output.

One output gives ``y_true, y_pred, prob_<class>...`` (regression: ``y_true, y_pred``);
several give the same columns per output, prefixed ``<output>.``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kexp import backend
from kexp.data.images import ImageFiles, is_files
from kexp.data.named import Named, for_keras, from_keras
from kexp.spec import CompileConfig, named
from kexp.train import feed
from kexp.train.compile import loss_of


def is_binary(loss: Any) -> bool:
    """Whether a loss (as written in the spec) trains a 0/1 classifier."""
    name, _ = named(loss)
    return "binary" in name.lower() or name.lower() in ("hinge", "squared_hinge", "bce")


def predictions(model: Any, cfg: CompileConfig, classes: dict[str, Any], x: Named,
                y_raw: Named | None, batch_size: int) -> pd.DataFrame:
    """Predict ``x`` and tabulate each output's predictions beside its true labels."""
    outputs = list(classes)
    proba = from_keras(predict(model, for_keras(x), batch_size), outputs)
    return table(proba, y_raw, classes, cfg, x)


def write_stream_predictions(model: Any, cfg: CompileConfig, classes: dict[str, Any],
                             batches: Any, path: Path) -> int:
    """:func:`predictions` of a part read batch by batch (a Python data set's batches, a
    streamed CSV's chunks), each batch predicted whole and its rows appended to the CSV
    file ``path`` as they come; the number of rows."""
    outputs = list(classes)
    rows = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        for x, y, *_ in batches.batches():
            n = len(next(iter(x.values())) if isinstance(x, dict) else x)
            proba = from_keras(predict(model, x, max(1, n)), outputs)
            truth = {o: np.asarray(y[o] if isinstance(y, dict) else y) for o in outputs}
            table(proba, truth, classes, cfg, {}).to_csv(fh, index=False, header=rows == 0)
            rows += n
    return rows


def table(proba: Named, y_raw: Named | None, classes: dict[str, Any], cfg: CompileConfig,
          x: Named) -> pd.DataFrame:
    """Each output's predictions beside its true labels (``y_raw``), image files first."""
    outputs = list(classes)
    frames = []
    for out in outputs:
        binary = classes[out] is None and is_binary(loss_of(cfg, out, outputs))
        frame = frame_of(proba[out], None if y_raw is None else y_raw.get(out), classes[out], binary)
        frames.append(frame if len(outputs) == 1 else frame.add_prefix(f"{out}."))
    files = {k: v.paths for k, v in x.items() if isinstance(v, ImageFiles)}
    if files:  # each image's file first: kexp plot shows the misclassified ones
        frames.insert(0, pd.DataFrame({"path" if len(x) == 1 else f"{k}.path": v
                                       for k, v in files.items()}))
    return pd.concat(frames, axis=1)


EAGER_BATCHES = 32  # at most this many batches are predicted by calling the model


def predict(model: Any, x: Any, batch_size: int) -> Any:
    """What ``model.predict(x, batch_size=batch_size)`` returns, the same numbers.

    Tracing a predict function costs about 0.1 s for a small network, more than
    predicting a few thousand rows, and every trial of a sweep builds a new model. So a
    small input (1 to :data:`EAGER_BATCHES` batches) on a model made only of Keras's
    own layers, none of them recurrent (whose eager loops are slow), is predicted by
    calling the model batch by batch in inference mode; anything else goes through
    ``model.predict``, as does a model whose predict function is made already (one model
    that records many, a stacked CV's evaluator: traced once, then 3x faster than eager)."""
    if is_files(x):  # decoded batch by batch
        return model.predict(feed.batches(x, None, batch_size, shuffle=False, seed=0), verbose=0)
    keras = backend.keras()
    arrays = keras.tree.flatten(x)
    rows = len(arrays[0]) if arrays else 0
    if (not 0 < -(-rows // batch_size) <= EAGER_BATCHES or not _plain(model, keras)
            or not all(isinstance(a, np.ndarray) for a in arrays)
            or getattr(model, "predict_function", None) is not None):
        return model.predict(x, batch_size=batch_size, verbose=0)
    parts = []
    for start in range(0, rows, batch_size):
        rows_of = slice(start, start + batch_size)
        chunk = keras.tree.map_structure(lambda a, rows_of=rows_of: a[rows_of], x)
        parts.append(keras.tree.map_structure(keras.ops.convert_to_numpy,
                                              model(chunk, training=False)))
    return keras.tree.map_structure(lambda *a: np.concatenate(a), *parts)


def _plain(model: Any, keras: Any) -> bool:
    """Whether every layer of ``model`` (nested models and wrapped layers too) is one of
    Keras's own and none is recurrent."""
    todo = [model]
    while todo:
        layer = todo.pop()
        if (isinstance(layer, keras.layers.RNN)
                or not type(layer).__module__.startswith("keras.")):
            return False
        todo.extend(getattr(layer, "layers", None) or [])
        inner = getattr(layer, "layer", None)
        if inner is not None:
            todo.append(inner)
    return True


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
