"""Hold-out and k-fold indices, from scikit-learn's splitters."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kexp.data.named import Named, first_value, n_rows, rows_at
from kexp.errors import ConfigError
from kexp.spec import CVConfig, Holdout


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


def holdout(x: Named, y: Named, cfg: Holdout, seed: int, key: tuple) -> tuple[Named, Named, Named, Named]:
    """Split off a part with ``train_test_split``; returns x_keep, x_out, y_keep, y_out.

    The rows of every input and output are split alike, stratified by the first
    output's labels.
    """
    rows = np.arange(n_rows(x))
    keep, out = _split_rows(rows, first_value(y), cfg, seed, key)
    return rows_at(x, keep), rows_at(x, out), rows_at(y, keep), rows_at(y, out)


def _split_rows(rows: np.ndarray, y: Any, cfg: Holdout, seed: int, key: tuple) -> tuple[Any, Any]:
    stratify = cfg.stratify
    if stratify == "auto":
        stratify = cfg.shuffle and looks_categorical(y)
    if stratify and not cfg.shuffle:
        raise ConfigError(key + ("stratify",), "stratify needs shuffle: true", hint="Set shuffle: true or stratify: false")
    size: float | int = int(cfg.size) if cfg.size >= 1 else cfg.size
    n = len(rows)
    if isinstance(size, int) and size >= n:
        raise ConfigError(key + ("size",), f"size {size} leaves no rows to train on (the data has {n})")
    from sklearn.model_selection import train_test_split

    try:
        keep, out = train_test_split(
            rows,
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
    return keep, out


# ---------------------------------------------------------------------------- k-fold


def class_labels(y: Any) -> np.ndarray | None:
    """The 1-D class labels of ``y``, or None when ``y`` looks like a regression target.

    Several float columns are class labels only when they are one-hot rows.
    """
    arr = y.to_numpy() if isinstance(y, (pd.Series, pd.DataFrame)) else np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] > 1:
        one_hot = np.isin(arr, (0, 1)).all() and np.all(arr.sum(axis=1) == 1)
        return arr.argmax(axis=1) if one_hot else None
    return labels_of(arr) if looks_categorical(arr) else None


def kfold(y: Any, cv: CVConfig, seed: int, groups: Any = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train indices, test indices) of every fold, from scikit-learn's splitters.

    StratifiedKFold for class labels (``stratify: auto``), KFold otherwise,
    RepeatedStratifiedKFold / RepeatedKFold for ``repeats > 1``, GroupKFold (or
    StratifiedGroupKFold with ``stratify: true``) when ``groups`` are given.
    Every impossible request raises ConfigError before anything is trained.
    """
    from sklearn import model_selection as ms

    y = first_value(y) if isinstance(y, dict) else y  # data per output: the first output's labels
    k, n = cv.folds, len(y)
    state = (cv.seed if cv.seed is not None else seed) if cv.shuffle else None
    labels = class_labels(y)
    stratify = cv.stratify
    if stratify is True and labels is None:
        raw = labels_of(y)
        raise ConfigError(
            ("cv", "stratify"),
            f"stratify: true needs class labels, but the target looks continuous "
            f"({raw.dtype} values, {len(np.unique(raw))} distinct)",
            hint="Set cv.stratify: auto or false (KFold is used for regression)",
        )
    if stratify == "auto":
        stratify = labels is not None and groups is None
    if k > n:
        raise ConfigError(("cv", "folds"), f"{k} folds need at least {k} samples, the data has {n}",
                          hint=f"Use --folds {n} or fewer")
    if stratify:
        assert labels is not None  # stratify (true or auto) needs class labels: checked above
        values, counts = np.unique(labels, return_counts=True)
        if counts.min() < k:
            smallest = values[counts.argmin()]
            raise ConfigError(
                ("cv", "folds"),
                f"{k} stratified folds need at least {k} samples of every class; class "
                f"{_label(smallest)} has {counts.min()} (of {n} samples)",
                hint=f"Use --folds {counts.min()} or fewer, or set cv.stratify: false",
            )
    if groups is not None:
        if cv.repeats > 1:
            raise ConfigError(("cv", "repeats"), "repeated k-fold is not available with cv.group",
                              hint="Set cv.repeats: 1, or remove cv.group")
        distinct = len(pd.unique(np.asarray(groups)))
        if distinct < k:
            raise ConfigError(("cv", "group"), f"{k} folds need at least {k} distinct groups; "
                              f"the column has {distinct}", hint=f"Use --folds {distinct} or fewer")
        splitter: Any = (ms.StratifiedGroupKFold if stratify else ms.GroupKFold)(
            n_splits=k, shuffle=cv.shuffle, random_state=state)
    elif cv.repeats > 1:
        cls = ms.RepeatedStratifiedKFold if stratify else ms.RepeatedKFold
        splitter = cls(n_splits=k, n_repeats=cv.repeats, random_state=state)
    else:
        cls = ms.StratifiedKFold if stratify else ms.KFold
        splitter = cls(n_splits=k, shuffle=cv.shuffle, random_state=state)
    target = labels if stratify else np.zeros(n)
    return [(tr, te) for tr, te in splitter.split(np.zeros((n, 1)), target, groups)]


def splitter_name(y: Any, cv: CVConfig, grouped: bool) -> str:
    """The scikit-learn splitter :func:`kfold` uses (for the record)."""
    y = first_value(y) if isinstance(y, dict) else y
    stratify = cv.stratify if cv.stratify != "auto" else (class_labels(y) is not None and not grouped)
    if grouped:
        return "StratifiedGroupKFold" if stratify else "GroupKFold"
    base = "StratifiedKFold" if stratify else "KFold"
    return f"Repeated{base}" if cv.repeats > 1 else base


def _label(value: Any) -> str:
    value = value.item() if isinstance(value, np.generic) else value
    return repr(value) if isinstance(value, str) else str(value)
