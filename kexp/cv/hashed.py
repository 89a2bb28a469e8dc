"""k-fold cross-validation of a streamed CSV (``data.stream``), whose rows are never all
in memory: each row's fold is chosen by a seeded hash of the row
(:func:`kexp.data.stream.fold_of`), so a fold is the same rows in every pass, every
process and every resume, and what a fold trains on is the rows of the other folds. The
validation part (``data.validation.size``) is the same rows in every fold they train in.

A fold's "indices" are its fold numbers: ``train`` the K-1 folds it trains on, ``test``
its own; the rows in each are counted in one pass over the file(s) before any fold
trains (every row checked then). The data's own test file (``test_path``) is folded in
with the rest, as :mod:`kexp.cv.prepare` does for data in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from kexp.data import sources as data_mod
from kexp.data import stream
from kexp.errors import ConfigError
from kexp.spec import Config

#: the splitter's name in the CV's records
SPLITTER = "KFold by a seeded hash of each row (streamed CSV)"


@dataclass
class Hashed:
    """A streamed CSV to cross-validate: its files' tables, the number of folds, the hash
    seed of each repeat and the validation fraction; the ``x`` of a CV's Job."""

    tables: list[stream.Table]
    folds: int
    seeds: list[int]
    validation: float
    held: float = 0.0  # the fraction a run's data.test holds out, left out of every fold
    held_seed: int = 0

    def views(self, fold: int, repeat: int | None) -> list[stream.Table]:
        """Each file's table with the rows of fold ``fold`` (1-based within its repeat) as
        the test part, nothing read yet."""
        seed = self.seeds[(repeat or 1) - 1]
        return [replace(t, seed=seed, test=0.0, validation=self.validation, only=None,
                        folds=self.folds, fold=fold - 1, held=self.held,
                        held_seed=self.held_seed, rows={}, labels={}, scanned=False,
                        codes={}, numeric=None) for t in self.tables]

    def fold_data(self, fold: int, repeat: int | None, info: dict[str, Any]) -> data_mod.RawData:
        """The data of fold ``fold`` as a source gives a run (:meth:`views`)."""
        views = self.views(fold, repeat)
        return data_mod.RawData(views[0], None, views[1] if len(views) > 1 else None, None,
                                info=info)


def check(cfg: Config) -> None:
    """ConfigError for what folds by a hash of each row cannot do."""
    cv = cfg.cv
    if cv.stratify is True:
        raise ConfigError(("cv", "stratify"), "a streamed CSV's folds are chosen by a hash of "
                          "each row, which cannot keep the class proportions exactly",
                          hint="Set cv.stratify: auto (or false); with many rows the proportions "
                               "stay close, or set data.stream: false to read the file whole")
    if cv.group is not None:
        raise ConfigError(("cv", "group"), "a streamed CSV's folds are chosen by a hash of each "
                          "row, not by a group column", hint="Remove cv.group, or set "
                          "data.stream: false to read the file whole")
    if not cv.shuffle:
        raise ConfigError(("cv", "shuffle"), "a streamed CSV's folds are chosen by a hash of "
                          "each row, not as consecutive blocks of rows",
                          hint="Remove cv.shuffle: false")
    if cfg.fit.validation_split:
        raise ConfigError(("fit", "validation_split"), "a streamed CSV holds its validation rows "
                          "out by a hash of each row", hint="Use data.validation: {size: 0.2}")


def repeat_seeds(cfg: Config, seed: int) -> list[int]:
    """The hash seed of each repeat, drawn from the CV's seed (``cv.seed``, else the
    experiment's) and the repeat's number: not the seed of the hash that holds a run's
    test and validation rows out, so that the folds are independent of those parts."""
    base = cfg.cv.seed if cfg.cv.seed is not None else seed
    return [int(np.random.SeedSequence([base, r]).generate_state(1)[0])
            for r in range(1, cfg.cv.repeats + 1)]


def plan(cfg: Config, raw: data_mod.RawData, seed: int, notes: list[str],
         training_part: bool = False
         ) -> tuple[Hashed, list[tuple[np.ndarray, np.ndarray]], list[tuple[int, int]], int]:
    """The folds of a streamed CSV: the data to fold, each fold's (training folds, test
    fold), its (training rows, test rows), and the rows in all. One pass over the files
    per repeat counts the folds' rows and checks every row. ``training_part`` (``kexp
    sweep --cv``): fold only the rows ``kexp run`` trains on, keeping its test part (the
    test file, or the ``data.test`` rows by the run's hash) for the refit."""
    check(cfg)
    validation = float(cfg.data.validation.size) if cfg.data.validation is not None else 0.0
    held = 0.0
    if training_part:
        tables = [raw.x_train]
        if raw.x_test is None and cfg.data.test is not None:
            held = float(cfg.data.test.size)
    else:
        tables = [raw.x_train, *([raw.x_test] if raw.x_test is not None else [])]
        if raw.x_test is not None:
            notes.append("cv: the source's test file is folded in with the rest")
        if cfg.data.test is not None and raw.x_test is None:
            notes.append("cv: data.test is not applied; each fold's held-out part is its test set")
    data = Hashed(tables, cfg.cv.folds, repeat_seeds(cfg, seed), validation, held, seed)
    if cfg.cv.stratify == "auto":
        notes.append("cv: a streamed CSV's folds are drawn by a hash of each row, not "
                     "stratified; with many rows each fold's class proportions stay close")
    k = cfg.cv.folds
    folds, sizes, total = [], [], 0
    for r in range(1, cfg.cv.repeats + 1):
        per_fold, in_val = np.zeros(k, dtype=np.int64), np.zeros(k, dtype=np.int64)
        for t in data.views(1, r):
            rows, val = t.fold_rows()
            per_fold, in_val = per_fold + rows, in_val + val
        total = int(per_fold.sum())
        for i in range(k):
            if per_fold[i] == 0:
                raise ConfigError(("cv", "folds"), f"fold {i + 1} of {k} got no row of the file "
                                  f"({total} rows in all)", hint="Use fewer folds")
            train = total - int(per_fold[i]) - (int(in_val.sum()) - int(in_val[i]))
            limit = cfg.data.limit
            sizes.append((min(train, limit) if limit else train,
                          min(int(per_fold[i]), limit) if limit else int(per_fold[i])))
            folds.append((np.array([j for j in range(k) if j != i]), np.array([i])))
    return data, folds, sizes, total
