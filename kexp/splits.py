"""Hold-out and k-fold indices, from scikit-learn's splitters."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from kexp.config import Holdout
from kexp.errors import ConfigError


def labels_of(y: Any) -> np.ndarray:
    """A 1-D array of labels (one-hot rows become their class index)."""
    arr = y.to_numpy() if isinstance(y, (pd.Series, pd.DataFrame)) else np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    elif arr.ndim == 2:
        arr = arr.argmax(axis=1)
    return arr


def looks_categorical(y: Any, max_classes: int = 50) -> bool:
    """Integer, boolean or string labels with few distinct values."""
    arr = labels_of(y)
    if arr.dtype.kind in "OUSb":
        return True
    if arr.dtype.kind in "iu":
        return len(np.unique(arr)) <= max_classes
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        return len(np.unique(arr)) <= max_classes
    return False


def holdout(x: Any, y: Any, cfg: Holdout, seed: int, key: tuple) -> tuple[Any, Any, Any, Any]:
    """Split off a part with ``train_test_split``; returns x_keep, x_out, y_keep, y_out.

    x and y may be dicts ``{input/output name: data}`` (a model with several inputs or
    outputs): the rows are split alike, stratified by the first output's labels.
    """
    if isinstance(x, dict) or isinstance(y, dict):
        from kexp import multiio

        rows = np.arange(multiio.n_rows(x))
        keep, out, _, _ = holdout(rows, multiio.first(y), cfg, seed, key)
        return multiio.take(x, keep), multiio.take(x, out), multiio.take(y, keep), multiio.take(y, out)
    stratify = cfg.stratify
    if stratify == "auto":
        stratify = cfg.shuffle and looks_categorical(y)
    if stratify and not cfg.shuffle:
        raise ConfigError(key + ("stratify",), "stratify needs shuffle: true", hint="Set shuffle: true or stratify: false")
    size: float | int = int(cfg.size) if cfg.size >= 1 else cfg.size
    n = len(x)
    if isinstance(size, int) and size >= n:
        raise ConfigError(key + ("size",), f"size {size} leaves no rows to train on (the data has {n})")
    try:
        return train_test_split(
            x, y,
            test_size=size,
            shuffle=cfg.shuffle,
            random_state=cfg.random_state if cfg.random_state is not None else seed,
            stratify=labels_of(y) if stratify else None,
        )
    except ValueError as exc:
        raise ConfigError(
            key,
            f"cannot split the data: {exc}",
            hint="Use a larger size, or stratify: false" if stratify else None,
        ) from None
