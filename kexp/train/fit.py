"""Compile, fit, evaluate and predict one split. No files, no printing."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kexp.errors import ConfigError
from kexp.model import objects
from kexp.spec import CompileConfig, FitConfig, named


@dataclass
class Split:
    """Preprocessed arrays of one split; val/test may be None."""

    x_train: Any
    y_train: Any
    x_val: Any = None
    y_val: Any = None
    x_test: Any = None
    y_test: Any = None
    y_test_raw: Any = None
    test_name: str = "test"


@dataclass
class Result:
    history: dict[str, list[float]]
    metrics: dict[str, float]
    predictions: pd.DataFrame | None
    epochs: int
    notes: list[str] = field(default_factory=list)


def compile_model(
    model: Any,
    cfg: CompileConfig,
    notes: list[str],
    outputs: list[str] | None = None,
    named: bool = False,
) -> None:
    """Compile with the spec's loss, optimizer and metrics.

    ``outputs``: the output names of a functional model (losses, loss weights and
    metrics may be given per name); ``named``: the model's outputs are a dict.
    """
    from kexp.train import outputs as outputs_mod

    if outputs is None:
        outputs_mod.check_single(cfg)
        loss = objects.loss(cfg.loss, ("compile", "loss"), notes)
        metrics: Any = [
            objects.metric(m, ("compile", "metrics", i), notes) for i, m in enumerate(cfg.metrics)
        ]
        loss_weights = cfg.loss_weights
    else:
        args = outputs_mod.compile_args(cfg, outputs, named, notes)
        loss, metrics, loss_weights = args["loss"], args["metrics"], args["loss_weights"]
    optimizer = objects.optimizer(cfg.optimizer, ("compile", "optimizer"), notes)
    model.compile(
        loss=loss,
        optimizer=optimizer,
        metrics=metrics,
        loss_weights=loss_weights,
        steps_per_execution=cfg.steps_per_execution,
        jit_compile=cfg.jit_compile,
    )


def class_weights(cfg: FitConfig, y_train: np.ndarray, classes: list | None) -> dict[int, float] | None:
    """Keras class_weight from the spec: 'balanced' (sklearn) or {label: weight}."""
    if cfg.class_weight is None:
        return None
    labels = y_train.argmax(axis=1) if y_train.ndim == 2 and y_train.shape[1] > 1 else y_train.ravel().astype(int)
    if cfg.class_weight == "balanced":
        from sklearn.utils.class_weight import compute_class_weight

        present = np.unique(labels)
        weights = compute_class_weight("balanced", classes=present, y=labels)
        return {int(c): float(w) for c, w in zip(present, weights, strict=True)}
    out = {}
    lookup = {str(c): i for i, c in enumerate(classes)} if classes else None
    for key, weight in cfg.class_weight.items():
        if lookup is not None:
            if str(key) not in lookup:
                raise ConfigError(
                    ("fit", "class_weight", key),
                    f"no class {key!r}; the classes are {list(lookup)[:10]}",
                )
            out[lookup[str(key)]] = float(weight)
        else:
            out[int(key)] = float(weight)
    return out


def fit(
    model: Any,
    cfg: FitConfig,
    split: Split,
    callbacks: list[Any],
    verbose: int | str,
    class_weight: dict[int, float] | None = None,
) -> Any:
    validation = None
    if split.x_val is not None:
        validation = (split.x_val, split.y_val)
    return model.fit(
        split.x_train,
        split.y_train,
        batch_size=cfg.batch_size,
        epochs=cfg.epochs,
        validation_split=cfg.validation_split if validation is None else 0.0,
        validation_data=validation,
        shuffle=cfg.shuffle,
        class_weight=class_weight,
        callbacks=callbacks,
        verbose=verbose,
    )


def evaluate(model: Any, x: Any, y: Any, batch_size: int) -> dict[str, float]:
    scores = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    return {k: float(v) for k, v in scores.items()}


def is_binary(loss: Any) -> bool:
    name, _ = named(loss)
    return "binary" in name.lower() or name.lower() in ("hinge", "squared_hinge", "bce")


def predictions_frame(
    model: Any,
    x: Any,
    y_raw: Any,
    classes: list | None,
    binary: bool,
    batch_size: int,
) -> pd.DataFrame:
    """Test-set predictions: true label, predicted label/value, class probabilities."""
    proba = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    return frame_of(proba, y_raw, classes, binary)


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


def finite(metrics: dict[str, float]) -> bool:
    return all(math.isfinite(v) for v in metrics.values())
