"""Everything a CV needs before its first fold trains: the spec validated, the whole data
set (a source's own test part folded in), the group column, the folds, and fold 1 built
once, so that bad input stops the CV before any folder is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kexp import backend, experiment
from kexp.cv import hashed, own_folds
from kexp.cv.folds import Job, fold_seed
from kexp.data import sources as data_mod
from kexp.data import split as splits
from kexp.data.images import ImageFiles
from kexp.data.named import rows, rows_at
from kexp.data.stream import Table
from kexp.engine.output import Log
from kexp.errors import ConfigError
from kexp.spec import Config, CsvData, PythonData, Spec, apply_overrides


@dataclass
class CVPlan:
    """A checked CV, ready to train: the spec with overrides applied, its config, the
    job every fold shares, the folds' (train, test) indices and the splitter's name."""

    spec: Spec
    cfg: Config
    job: Job
    folds: list[tuple[np.ndarray, np.ndarray]]
    splitter: str
    sizes: list[tuple[Any, Any]] | None = None  # each fold's samples, when folds are not indices


def concat(a: Any, b: Any) -> Any:
    """``b``'s rows after ``a``'s (arrays, frames or series, or dicts of them by name)."""
    if isinstance(a, dict):
        return {k: concat(a[k], b[k]) for k in a}
    if isinstance(a, (pd.DataFrame, pd.Series)):
        return pd.concat([a, b], ignore_index=True)
    if isinstance(a, ImageFiles):
        return a.followed_by(b)
    return np.concatenate([a, b])


def whole_data(cfg: Config, raw: data_mod.RawData, base_dirs: list[Path],
               notes: list[str]) -> tuple[Any, Any, Any]:
    """All samples (a source's own test part appended), and the group labels if any."""
    x, y = raw.x_train, raw.y_train
    if raw.x_test is not None:
        x, y = concat(x, raw.x_test), concat(y, raw.y_test)
        notes.append(f"cv: the source's test part ({rows(raw.x_test)} samples) is folded in "
                     "with the rest")
    groups = None
    if cfg.cv.group is not None:
        groups, x = group_labels(cfg, x, base_dirs, notes)
    return x, y, groups


def group_labels(cfg: Config, x: Any, base_dirs: list[Path], notes: list[str]) -> tuple[Any, Any]:
    """The ``cv.group`` column of the CSV data, and ``x`` without it (unless it is a feature)."""
    key = ("cv", "group")
    if not isinstance(cfg.data, CsvData):
        raise ConfigError(key, "a group column needs a CSV data source, received source "
                          f"'{cfg.data.source}'",
                          hint="Remove cv.group, or load the data from a CSV file")
    files = [(cfg.data.path, ("data", "path"))]
    if cfg.data.test_path:
        files.append((cfg.data.test_path, ("data", "test_path")))
    frames = [data_mod.read_csv(data_mod.find_file(name, loc, base_dirs), cfg.data, key)
              for name, loc in files]
    if cfg.data.limit is not None:
        frames = [f.iloc[: cfg.data.limit] for f in frames]
    df = pd.concat(frames, ignore_index=True)
    col = data_mod.column(df, cfg.cv.group, key)
    groups = df[col].to_numpy()
    if isinstance(x, pd.DataFrame) and col in x.columns and cfg.data.features is None:
        x = x.drop(columns=[col])
        notes.append(f"cv: the group column {col!r} is not used as a feature")
    return groups, x


def prepare(spec: Spec, overrides: list[Any], log: Log) -> CVPlan:
    """Validate, load, split and check that fold 1 builds; raise KexpError before any training."""
    full = apply_overrides(spec, overrides)
    try:
        cfg, base_dirs = experiment.setup(full)
        seed = cfg.seed
        assert seed is not None
        if isinstance(cfg.data, PythonData):
            return _own_folds_plan(full, cfg, seed, log)
        raw = data_mod.load(cfg.data, seed, base_dirs)
        if isinstance(raw.x_train, Table):
            return _hashed_plan(full, cfg, raw, seed, log)
        notes = [*raw.notes, *backend.auto_notes()]
        if cfg.data.test is not None and raw.x_test is None:
            notes.append("cv: data.test is not applied; each fold's held-out part is its test set")
        x, y, groups = whole_data(cfg, raw, base_dirs, notes)
        folds = splits.kfold(y, cfg.cv, seed, groups)
        name = splits.splitter_name(y, cfg.cv, groups is not None)
        build_first_fold(cfg, x, y, folds[0], seed)
    except ConfigError as exc:
        raise experiment.located(full, exc) from None
    for note in notes:
        log(f"Note: {note}")
    info = {**raw.info, "samples": rows(x)}
    return CVPlan(full, cfg, Job(full, cfg, x, y, info, notes, []), folds, name)


def _hashed_plan(full: Spec, cfg: Config, raw: data_mod.RawData, seed: int,
                 log: Log) -> CVPlan:
    """:func:`prepare` of a streamed CSV: its rows' folds counted, fold 1 built."""
    notes = list(raw.notes)
    data, folds, sizes, total = hashed.plan(cfg, raw, seed, notes)
    info = {**raw.info, "samples": total}
    plan = CVPlan(full, cfg, Job(full, cfg, data, None, info, notes, []), folds, hashed.SPLITTER,
                  sizes)
    build_first_hashed_fold(plan, seed)
    for note in notes:
        log(f"Note: {note}")
    return plan


def _own_folds_plan(full: Spec, cfg: Config, seed: int, log: Log) -> CVPlan:
    """:func:`prepare` of a Python data set (:mod:`kexp.cv.own_folds`): fold 1's batches
    made and checked, its model built."""
    notes: list[str] = []
    data, folds = own_folds.plan(cfg, notes)
    job = Job(full, cfg, data, None, {"source": "python", "object": data.data.object,
                                      "samples": None}, notes, [])
    plan = CVPlan(full, cfg, job, folds, own_folds.SPLITTER, [(None, None)] * len(folds))
    build_first_hashed_fold(plan, seed)
    for note in notes:
        log(f"Note: {note}")
    return plan


def build_first_hashed_fold(plan: CVPlan, seed: int) -> None:
    """:func:`build_first_fold` of a streamed CSV's CV (one pass or more over fold 1's
    training rows, as its training will make)."""
    cfg, data = plan.cfg, plan.job.x
    backend.seed_everything(fold_seed(seed, 1), cfg.deterministic)
    if isinstance(data, own_folds.OwnFolds):
        first = data.fold_data(1, dict(plan.job.raw_info))
    else:
        assert isinstance(data, hashed.Hashed)
        first = data.fold_data(1, 1 if cfg.cv.repeats > 1 else None, dict(plan.job.raw_info))
    split, pre = experiment.make_split(cfg, first, seed)
    experiment.build_model(cfg, split, pre, [])
    backend.keras().backend.clear_session()


def build_first_fold(cfg: Config, x: Any, y: Any, fold: tuple[np.ndarray, np.ndarray],
                     seed: int) -> None:
    """Preprocess fold 1 and build its model, so that model, loss and shape errors come
    before any folder or training."""
    backend.seed_everything(fold_seed(seed, 1), cfg.deterministic)
    tr, te = fold
    split, pre = experiment.fit_transform(cfg, rows_at(x, tr), rows_at(y, tr), rows_at(x, te), rows_at(y, te),
                                          seed)
    experiment.build_model(cfg, split, pre, [])
    # no garbage collection (0.13 s with Keras and JAX loaded): the first fold's
    # clear_session, or the stack's, collects this model
    backend.keras().backend.clear_session(free_memory=False)
