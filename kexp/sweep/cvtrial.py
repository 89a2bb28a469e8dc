"""A cross-validated trial (``kexp sweep --cv K``): the trial's folder is a CV folder
(:func:`kexp.cv.run.cross_validate` at that exact path, its folds one after another in
the trial's process) and its objective is the fold mean of the sweep's metric.

The folds cover the training part only, as scikit-learn's ``GridSearchCV`` cross-validates
``X_train``: the spec's ``data.test`` hold-out (the rows ``kexp run`` holds out, same
seed) or the source's own test part is left out of every trial and kept for the refit
(:mod:`kexp.sweep.refit`). Without a test part the whole data set is folded.

The objective: a test metric (``accuracy``, ``loss``) is its ``mean`` in the CV folder's
``summary.json``; a history column (``val_accuracy``) is the mean, over the completed
folds, of its last epoch's value.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kexp import experiment
from kexp.cv import hashed
from kexp.cv.folds import Job
from kexp.cv.options import CVOptions
from kexp.cv.prepare import CVPlan, build_first_fold, build_first_hashed_fold, whole_data
from kexp.cv.record import CVResult, fold_dir
from kexp.cv.run import cross_validate
from kexp.data import named
from kexp.data import sources as data_mod
from kexp.data import split as splits
from kexp.data.stream import Table
from kexp.engine.output import Log, silent
from kexp.errors import ConfigError, KexpError
from kexp.rundir.read import json_object, read_history
from kexp.rundir.write import RunFolder
from kexp.spec import Config, Spec, apply_overrides


def cv_plan(spec: Spec, folds: int, log: Log = silent, build: bool = True) -> CVPlan:
    """The trial's CV, checked: ``cv.folds`` set to ``folds``, the training part folded,
    and (``build``) fold 1's model built. KexpError for bad input, before any folder is
    written. ``build=False`` checks what every trial shares (data, folds) and no model:
    a bad combination of one trial's parameters is that trial's failure, not the sweep's."""
    full = apply_overrides(spec, [(f"cv.folds={folds}", f"--cv {folds}")])
    try:
        cfg, base_dirs = experiment.setup(full)
        seed = cfg.seed
        assert seed is not None
        raw = data_mod.load_kept(cfg.data, seed, base_dirs)  # read once for all trials
        if isinstance(raw.x_train, Table):
            return _hashed_plan(full, cfg, raw, seed, log, build)
        notes = list(raw.notes)
        if raw.x_test is None and cfg.data.test is None:
            notes.append("sweep --cv: no test part (data.test or the source's own); the whole "
                         "data set is folded and the refit is evaluated on its training data")
            x, y, groups = whole_data(cfg, raw, base_dirs, notes)
        else:
            x, y = training_part(cfg, raw, seed, notes)
            groups = None
        cv_folds = splits.kfold(y, cfg.cv, seed, groups)
        name = splits.splitter_name(y, cfg.cv, groups is not None)
        if build:
            build_first_fold(cfg, x, y, cv_folds[0], seed)
    except ConfigError as exc:
        if exc.hint:  # kexp cv's option is --folds; here it is --cv
            exc = ConfigError(exc.loc or exc.path, exc.message, line=exc.line, origin=exc.origin,
                              hint=exc.hint.replace("--folds", "--cv"))
        raise experiment.located(full, exc) from None
    for note in notes:
        log(f"Note: {note}")
    info = {**raw.info, "samples": named.rows(x)}
    return CVPlan(full, cfg, Job(full, cfg, x, y, info, notes, []), cv_folds, name)


def _hashed_plan(full: Spec, cfg: Config, raw: data_mod.RawData, seed: int, log: Log,
                 build: bool) -> CVPlan:
    """:func:`cv_plan` of a streamed CSV (:mod:`kexp.cv.hashed`): the rows ``kexp run``
    trains on folded by a hash of each row; its test part kept for the refit."""
    notes = list(raw.notes)
    data, folds, sizes, total = hashed.plan(cfg, raw, seed, notes, training_part=True)
    if raw.x_test is not None or cfg.data.test is not None:
        notes.append(f"sweep --cv: the folds cover the training part ({total} rows); the test "
                     "part is kept for the refit")
    else:
        notes.append("sweep --cv: no test part (data.test or the source's own); the whole "
                     "data set is folded and the refit is evaluated on its training data")
    plan = CVPlan(full, cfg, Job(full, cfg, data, None, {**raw.info, "samples": total}, notes, []),
                  folds, hashed.SPLITTER, sizes)
    if build:
        build_first_hashed_fold(plan, seed)
    for note in notes:
        log(f"Note: {note}")
    return plan


def training_part(cfg: Config, raw: data_mod.RawData, seed: int, notes: list[str]) -> tuple[Any, Any]:
    """The samples a trial's folds cover: the source's training part, or what is left of
    it once the spec's ``data.test`` part is held out (as :func:`kexp.experiment.make_split`
    does for ``kexp run`` and the refit)."""
    if cfg.cv.group is not None:
        raise ConfigError(("cv", "group"), "sweep --cv folds the training part only, and the group "
                          "column cannot follow the test part's rows out of it",
                          hint="Remove cv.group, or data.test (then the whole data set is folded)")
    if raw.x_test is not None:
        notes.append(f"sweep --cv: the folds cover the training part ({named.rows(raw.y_train)} samples); "
                     f"the source's test part ({named.rows(raw.y_test)} samples) is kept for the refit")
        return raw.x_train, raw.y_train
    assert cfg.data.test is not None
    x_named, y_named = named.name_data(cfg, raw.x_train, raw.y_train, "train")
    assert y_named is not None
    x_keep, x_out, y_keep, _ = splits.holdout(x_named, y_named, cfg.data.test, seed, ("data", "test"))
    x = x_keep if isinstance(raw.x_train, dict) else _plain(named.first_value(x_keep))
    y = y_keep if isinstance(raw.y_train, dict) else _plain(named.first_value(y_keep))
    notes.append(f"sweep --cv: the folds cover the training part ({named.n_rows(x_keep)} samples); "
                 f"the data.test part ({named.n_rows(x_out)} samples) is kept for the refit")
    return x, y


def _plain(a: Any) -> Any:
    """Rows numbered 0..n-1 again (a frame or series); an array as it is."""
    return a.reset_index(drop=True) if isinstance(a, (pd.DataFrame, pd.Series)) else a


def cross_validate_trial(spec: Spec, path: Path, folds: int, argv: list[str], plots: bool,
                         save_models: bool, stack: bool = False, plan: CVPlan | None = None,
                         trained: Any = None) -> CVResult:
    """Cross-validate ``spec`` into the CV folder ``path`` (replaced if there), in this
    process; ``stack``: its folds stacked (``kexp cv --stack``); ``plan``: its CV planned
    already (:func:`cv_plan`), and ``trained`` its folds trained already
    (:class:`kexp.cv.stack.Trained`, a vectorized sweep's)."""
    if path.exists():
        shutil.rmtree(path)
    plan = plan if plan is not None else cv_plan(spec, folds)
    options = experiment.Options(verbose=0, argv=argv, runs_dir=path.parent)
    cv_opts = CVOptions(jobs=1, plots=plots, save_models=save_models, stack=stack, trained=trained)
    return cross_validate(plan.spec, options, cv_opts, folder=path, plan=plan)


def fold_means(summary: dict[str, Any]) -> dict[str, float]:
    """Each test metric's mean over the completed folds (a CV folder's ``summary.json``)."""
    return {name: float(stats["mean"]) for name, stats in (summary.get("metrics") or {}).items()}


def objective(folder: Path, summary: dict[str, Any], metric: str) -> float | None:
    """The trial's objective: the fold mean of ``metric`` (a test metric, else a history
    column's last value in each completed fold); None when a completed fold lacks it."""
    means = fold_means(summary)
    if metric in means:
        return means[metric]
    total = int(summary.get("folds") or 0)
    values = []
    for fold in range(1, total + 1):
        path = fold_dir(folder, fold, total)
        if _status(path).get("status") != "completed":
            continue
        try:
            history, _ = read_history(path / "history.csv")
        except KexpError:
            return None
        if metric not in history.columns or history[metric].dropna().empty:
            return None
        values.append(float(history[metric].dropna().iloc[-1]))
    return float(np.mean(values)) if values else None


def failed_folds(result: CVResult) -> str:
    """``fold(s) 2, 4 failed: <the first error>``."""
    first = next((o.error for o in result.outcomes if o.status == "failed"), "")
    return f"fold(s) {', '.join(map(str, result.failed))} failed: {first}"


def mark_failed(path: Path, error: str) -> None:
    """Leave the trial's CV folder ``failed`` with ``error`` (created if it is not there)."""
    status = _status(path)
    if status.get("status") not in (None, "running"):
        return
    path.mkdir(parents=True, exist_ok=True)
    rf = RunFolder.reopen(path, status, kind="cv") if status else RunFolder(path, kind="cv")
    rf.set_status("failed", error=error)


def _status(folder: Path) -> dict[str, Any]:
    return json_object(folder / "status.json")[0]
