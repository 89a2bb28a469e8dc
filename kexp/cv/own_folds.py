"""k-fold cross-validation of your own data set (``source: python``), which gives its
samples only batch by batch, so it folds them itself: for fold ``i`` of ``K`` kexp calls
it with ``fold=i`` and ``folds=K`` added to ``data.args`` (the fold's training batches:
the samples of the other folds), and so to ``data.test_args`` (its test batches: the
samples of fold ``i``) and ``data.validation_args``, which are given over ``args``.

The data set's signature must name ``fold`` and ``folds`` (checked before it is called);
how it folds is its own, so ``cv.shuffle``, ``cv.stratify`` and ``cv.seed`` do not apply.
A fold's "indices" are fold numbers, as for a streamed CSV (:mod:`kexp.cv.hashed`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np

from kexp.data import sources as data_mod
from kexp.errors import ConfigError
from kexp.imports import import_object
from kexp.spec import Config, PythonData

#: the splitter's name in the CV's records
SPLITTER = "the data set's own folds (called with fold=1..K, folds=K)"
#: the keyword arguments a fold's batches are made with
ARGS = ("fold", "folds")


@dataclass
class OwnFolds:
    """A Python data set to cross-validate; the ``x`` of a CV's Job."""

    data: PythonData
    folds: int

    def fold_config(self, fold: int) -> PythonData:
        """``data`` with ``fold`` and ``folds`` in its ``args`` (1-based ``fold``)."""
        return self.data.model_copy(update={"args": {**self.data.args, "fold": fold,
                                                     "folds": self.folds}})

    def fold_data(self, fold: int, info: dict[str, Any]) -> data_mod.RawData:
        """Fold ``fold``'s batches, as the source gives a run (each part's first batch
        made and checked)."""
        raw = data_mod.load_python(self.fold_config(fold))
        raw.info = {**info, **raw.info}
        return raw


def check(cfg: Config) -> PythonData:
    """ConfigError for a Python data set kexp cv cannot fold; the data settings if it can."""
    data = cfg.data
    assert isinstance(data, PythonData)
    if data.test_args is None:
        raise ConfigError(("data", "test_args"), "kexp cv evaluates each fold on its own test "
                          "batches, made with data.test_args (and fold, folds)",
                          hint="Give data.test_args, e.g. {part: test}, and make the data set "
                               "give fold `fold`'s samples for it, the other folds' otherwise")
    if cfg.cv.repeats > 1:
        raise ConfigError(("cv", "repeats"), "a Python data set folds its own samples, once",
                          hint="Remove cv.repeats")
    if cfg.cv.group is not None:
        raise ConfigError(("cv", "group"), "a Python data set folds its own samples; there is no "
                          "column to group by", hint="Remove cv.group")
    taken = [a for a in ARGS if a in data.args or a in (data.test_args or {})
             or a in (data.validation_args or {})]
    if taken:
        raise ConfigError(("data", "args"), f"kexp cv gives {' and '.join(ARGS)} to each fold's "
                          f"batches itself; the spec gives {', '.join(taken)}",
                          hint=f"Remove {', '.join(taken)} from data.args / test_args")
    obj = import_object(data.object, ("data", "object"))
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return data
    missing = [a for a in ARGS if a not in params]  # by name: a PyDataset's **kwargs are Keras's
    if missing:
        raise ConfigError(("data", "object"), f"kexp cv makes fold i's batches with fold=i and "
                          f"folds=K; '{data.object}' takes no {' or '.join(missing)} "
                          f"({data.object.split(':')[1]}{inspect.signature(obj)})",
                          hint="Add the parameters fold and folds: the test part (test_args) "
                               "gives the samples of fold `fold`, the training part the others")
    return data


def plan(cfg: Config, notes: list[str]) -> tuple[OwnFolds, list[tuple[np.ndarray, np.ndarray]]]:
    """The folds of a Python data set: the data to fold, and each fold's (training
    folds, test fold)."""
    data = check(cfg)
    k = cfg.cv.folds
    notes.append(f"cv: the data set folds its own samples (called with fold=1..{k}, folds={k}); "
                 "cv.shuffle, cv.stratify and cv.seed do not apply")
    return OwnFolds(data, k), [(np.array([j for j in range(k) if j != i]), np.array([i]))
                               for i in range(k)]
