"""One fold of a cross-validation: what every fold needs (:class:`Job`), one fold's
indices and seed (:class:`FoldTask`), its result (:class:`FoldOutcome`), and
:func:`train_fold`, which trains it into its run folder (fresh model, preprocessing
fitted on the fold's training part, seed from the base seed and fold number).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from kexp import backend, experiment
from kexp.cv.hashed import Hashed
from kexp.cv.own_folds import OwnFolds
from kexp.data import sources as data_mod
from kexp.data.named import rows_at
from kexp.errors import KexpError
from kexp.rundir.read import json_object
from kexp.rundir.write import RunFolder, empty_folder
from kexp.spec import Config, Spec
from kexp.train.warm import Warm, start_on
from kexp.train.warm import key as warm_key


@dataclass
class Job:
    """What every fold needs; sent once to each worker process or to Ray's object store."""

    spec: Spec
    cfg: Config
    x: Any
    y: Any
    raw_info: dict[str, Any]
    notes: list[str]
    argv: list[str]
    save_model: bool = False
    plots: bool = True
    fresh_models: bool = False  # a new model for every fold, not the process's warm one

    # The schema has generated classes (preprocess step items) that pickle cannot
    # find by name; workers get the config as plain data and validate it again.
    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "cfg": self.cfg.model_dump(mode="json")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({**state, "cfg": Config.model_validate(state["cfg"])})


@dataclass
class FoldTask:
    fold: int  # 1-based
    train: np.ndarray
    test: np.ndarray
    seed: int
    path: str
    repeat: int | None = None
    rows: tuple[int | None, int | None] | None = None  # samples when train/test are folds

    @property
    def sizes(self) -> tuple[int | None, int | None]:
        """The fold's training and test samples (None: not known before it trains)."""
        return self.rows if self.rows is not None else (len(self.train), len(self.test))


@dataclass
class FoldOutcome:
    fold: int
    status: str  # completed | failed | interrupted
    train_size: int | None  # None: not known (a Python data set's own folds)
    test_size: int | None
    metrics: dict[str, float] = field(default_factory=dict)
    epochs: int = 0
    error: str | None = None
    duration_s: float = 0.0
    repeat: int | None = None


def fold_seed(seed: int, fold: int) -> int:
    """A fold's seed: from the base seed and the fold number only (not from the executor)."""
    return int(np.random.SeedSequence([seed, fold]).generate_state(1)[0] & 0x7FFFFFFF)


def recorded_sizes(path: Path, task: FoldTask) -> tuple[int | None, int | None]:
    """A trained fold's training and test samples as its run folder records them: a
    streamed CSV's parts as counted (``env.json``), else the samples evaluated
    (``metrics.json``; the training samples of a Python data set are not known)."""
    parts = json_object(path / "env.json")[0].get("data", {}).get("parts")
    if isinstance(parts, dict) and isinstance(parts.get("train"), int):
        return int(parts["train"]), int(parts.get("test") or 0)
    samples = json_object(path / "metrics.json")[0].get("samples")
    return task.sizes[0], samples if isinstance(samples, int) else task.sizes[1]


def fold_in_repeat(cfg: Config, task: FoldTask) -> int:
    """The task's fold number (1-based) within its repeat."""
    return (task.fold - 1) % cfg.cv.folds + 1


def fold_parts(job: Job, task: FoldTask) -> tuple[Any, Any, Any, Any]:
    """The fold's ``x_train, y_train, x_test, y_test``."""
    return (rows_at(job.x, task.train), rows_at(job.y, task.train),
            rows_at(job.x, task.test), rows_at(job.y, task.test))


def clear_fold(path: Path) -> None:
    """Remove an earlier attempt's files (resume), keeping indices.json."""
    empty_folder(path, keep=("indices.json",))


def start_folder(path: Path, cfg: Config) -> tuple[RunFolder, Any, list[str]]:
    """The fold's run folder, and the checkpoint an earlier attempt that did not complete
    left to go on from (:func:`kexp.experiment.checkpoint_of`: the fold's own config);
    without one the earlier attempt's files are removed and the fold starts over (with a
    note saying why, when there was a checkpoint that could not be used)."""
    resume, _, problem = experiment.checkpoint_of(path, cfg)
    if resume is None:
        clear_fold(path)
        return RunFolder(path), None, [f"trained again from its first epoch: {problem}"] if problem else []
    return RunFolder.resumed(path, json_object(path / "status.json")[0], resume.epoch), resume, []


def build_fold(cfg: Config, seed: int, parts: tuple[Any, Any, Any, Any],
               notes: list[str]) -> tuple[Any, Any, Any]:
    """A fold's split (preprocessing fitted on ``parts``' training rows) and its freshly
    seeded, compiled model."""
    backend.seed_everything(seed, cfg.deterministic)
    split, pre = experiment.fit_transform(cfg, *parts, seed)
    return split, pre, experiment.build_model(cfg, split, pre, notes)


def build_hashed_fold(cfg: Config, seed: int, raw: data_mod.RawData,
                      notes: list[str]) -> tuple[Any, Any, Any]:
    """:func:`build_fold` of a fold whose data a source gives as it gives a run's (a
    streamed CSV's tables, a Python data set's batches)."""
    backend.seed_everything(seed, cfg.deterministic)
    split, pre = experiment.make_split(cfg, raw, seed)
    return split, pre, experiment.build_model(cfg, split, pre, notes)


def train_fold(job: Job, task: FoldTask, folder: str | None = None,
               warm: Warm | None = None) -> FoldOutcome:
    """Train and evaluate one fold into its run folder (``folder`` overrides ``task.path``);
    with ``warm``, on the model kept from an earlier fold when it has the same layers
    (:mod:`kexp.train.warm`: the same numbers, nothing traced again).

    A KexpError or an unexpected exception marks the fold failed and is
    returned, not raised, so that the other folds finish; Ctrl-C propagates.
    """
    t0 = time.monotonic()
    path = Path(folder or task.path)
    path.mkdir(parents=True, exist_ok=True)
    cfg = job.cfg.model_copy(update={"seed": task.seed})
    rf, resume, again = start_folder(path, cfg)
    out = FoldOutcome(task.fold, "failed", *task.sizes, repeat=task.repeat)
    try:
        notes = [*job.notes, *again]
        info = {**job.raw_info, "fold": task.fold}
        if isinstance(job.x, Hashed):
            raw = job.x.fold_data(fold_in_repeat(job.cfg, task), task.repeat, info)
            make = partial(build_hashed_fold, cfg, task.seed, raw, notes)
        elif isinstance(job.x, OwnFolds):
            raw = job.x.fold_data(task.fold, info)
            make = partial(build_hashed_fold, cfg, task.seed, raw, notes)
        else:
            parts = fold_parts(job, task)
            raw = data_mod.RawData(*parts, info=info)
            make = partial(build_fold, cfg, task.seed, parts, notes)
        split, pre, model = start_on(warm, warm_key(cfg) if warm is not None else None, make)
        weights = experiment.class_weights(cfg, split, pre)
        prepared = experiment.Prepared(job.spec, cfg, task.seed, raw, split, pre, model, notes,
                                       weights)
        options = experiment.Options(verbose=0, argv=job.argv, save_model=job.save_model,
                                     plots=job.plots, runs_dir=path.parent)
        result = experiment.train_in_folder(prepared, rf, options, resume=resume)
        out.status, out.metrics = "completed", result.metrics
        if task.rows is not None:  # folds, not indices: the samples as the fold counted them
            out.train_size, out.test_size = recorded_sizes(path, task)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - a fold's failure is recorded, the others go on
        out.error = str(exc) if isinstance(exc, KexpError) else f"{type(exc).__name__}: {exc}"
        if rf.status.get("status") in (None, "running"):
            rf.set_status("failed", error=out.error)
    out.epochs = int(rf.status.get("epochs") or 0)
    out.duration_s = round(time.monotonic() - t0, 3)
    return out
