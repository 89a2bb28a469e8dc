"""k-fold cross-validation: a fresh model per fold, every fold kept as a run folder.

:func:`cross_validate` splits the whole data set with scikit-learn's splitters
(:func:`kexp.data.split.kfold`), writes each fold's indices, and hands the folds to
:func:`execute`, the loop shared with :func:`kexp.cv.resume.resume`: it trains them
with an executor of :mod:`kexp.cv.executors` (in-process, spawned processes, Ray,
or stacked) and writes ``folds.csv`` and ``summary.json`` as folds finish.

Each fold's seed is derived from the base seed and the fold number only, and
everything fitted from data (scalers, label encoders) is fitted on the fold's
training part only, so a fold's metrics do not depend on the executor.

The CV folder holds ``spec.yaml``, ``config.yaml``, ``env.json``, ``cv.json`` (the
record ``--resume`` checks, :mod:`kexp.cv.fingerprint`), ``status.json`` (kind cv),
``folds.csv``, ``summary.json`` and ``fold-01/`` ... (each a run folder plus
``indices.json``). The process that runs the CV holds the folder's lock
(:mod:`kexp.engine.lock`) from its creation to the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kexp import experiment
from kexp.cv import fingerprint, stack
from kexp.cv.executors import outcomes
from kexp.cv.folds import FoldOutcome, FoldTask, Job, fold_seed
from kexp.cv.options import CVInterrupted, CVOptions
from kexp.cv.prepare import CVPlan, prepare
from kexp.cv.record import CVResult, fold_dir, folds_frame, progress_line, summarize
from kexp.data import sources as data_mod
from kexp.engine import lock, progress
from kexp.engine.lock import FolderLock
from kexp.engine.output import Log, silent
from kexp.engine.signals import Stopped, interruptible
from kexp.errors import ConfigError, KexpError
from kexp.rundir.write import RunFolder, write_json
from kexp.spec import Config, Spec, resolved
from kexp.track import live
from kexp.track.folder import summary_metrics


def cross_validate(spec: Spec, options: experiment.Options, cv_opts: CVOptions,
                   log: Log = silent, folder: Path | None = None,
                   plan: CVPlan | None = None) -> CVResult:
    """Cross-validate the experiment in ``spec``; write a CV folder in ``options.runs_dir``,
    or create it at exactly ``folder`` (``kexp sweep --cv``: a trial's folder). ``plan``: a
    CV prepared already (default: :func:`kexp.cv.prepare.prepare` of ``spec``)."""
    plan = plan if plan is not None else prepare(spec, options.overrides, log)
    if cv_opts.stack:
        try:
            stack.check(plan.cfg, [len(tr) for tr, _ in plan.folds])
        except ConfigError as exc:
            raise experiment.located(plan.spec, exc) from None
    job, cfg = plan.job, plan.cfg
    job.argv, job.save_model, job.plots = options.argv, cv_opts.save_models, cv_opts.plots
    live.check(cfg)  # MLflow installed, when tracking is on
    if folder is None:
        rf = RunFolder.create(options.runs_dir, cfg.name, kind="cv")
    else:
        folder.mkdir(parents=True)
        rf = RunFolder(folder, kind="cv")
    with lock.hold(rf.path) as held:
        total = len(plan.folds)
        rf.set_status("running", name=cfg.name, notes=job.notes, folds=total)
        log(f"CV folder: {rf.path} ({plan.splitter}, {total} folds, "
            f"{'ray' if cv_opts.executor == 'ray' else f'{cv_opts.jobs} job(s)'})")
        tasks = fold_tasks(cfg, plan.folds, rf.path, plan.sizes)
        _write_setup(rf, plan, spec, options, cv_opts, tasks)
        write_indices(tasks)
        return execute(rf, job, tasks, [], plan.splitter, cv_opts, log, held)


def _write_setup(rf: RunFolder, plan: CVPlan, spec: Spec, options: experiment.Options,
                 cv_opts: CVOptions, tasks: list[FoldTask]) -> None:
    """``spec.yaml``, ``config.yaml``, ``env.json`` (with how the folds are run) and
    ``cv.json``, the record ``--resume`` checks the folder against."""
    cfg = plan.cfg
    config = resolved(cfg)
    rf.write_json(fingerprint.RECORD, fingerprint.build(
        config, plan.spec.text or "", plan.job.raw_info, plan.job.raw_info["samples"],
        plan.splitter, [(t.fold, t.repeat, t.seed, t.train, t.test, t.sizes) for t in tasks]))
    rf.write_text("spec.yaml", plan.spec.text or "")
    rf.write_yaml("config.yaml", config)
    env = experiment.environment(cfg, cfg.seed or 0,
                                 data_mod.RawData(None, None, info=plan.job.raw_info), options.argv)
    env["cv"] = {"splitter": plan.splitter, "folds": len(plan.folds), "executor": cv_opts.executor,
                 "jobs": cv_opts.jobs, "threads_per_fold": cv_opts.fold_threads(),
                 "address": cv_opts.address,
                 "spec_dir": str(spec.path.resolve().parent) if spec.path else None}
    rf.write_json("env.json", env)


def fold_tasks(cfg: Config, folds: list[tuple[np.ndarray, np.ndarray]], root: Path,
               sizes: list[tuple[Any, Any]] | None = None) -> list[FoldTask]:
    """Each fold's task: its indices, its seed (from the base seed and its number) and
    its folder under ``root``; ``sizes``: each fold's (training, test) rows, when its
    indices are fold numbers (:mod:`kexp.cv.hashed`, :mod:`kexp.cv.own_folds`)."""
    tasks = []
    for i, (tr, te) in enumerate(folds, 1):
        repeat = (i - 1) // cfg.cv.folds + 1 if cfg.cv.repeats > 1 else None
        path = fold_dir(root, i, len(folds))
        tasks.append(FoldTask(i, tr, te, fold_seed(cfg.seed or 0, i), str(path), repeat,
                              sizes[i - 1] if sizes is not None else None))
    return tasks


def write_indices(tasks: list[FoldTask]) -> None:
    """Each task's folder, with its ``indices.json``."""
    for task in tasks:
        path = Path(task.path)
        path.mkdir(exist_ok=True)
        write_json(path / "indices.json", {"fold": task.fold, "repeat": task.repeat,
                                           "seed": task.seed, "train": task.train.tolist(),
                                           "test": task.test.tolist(),
                                           **({"rows": list(task.rows)}
                                              if task.rows is not None else {})})


def execute(rf: RunFolder, job: Job, tasks: list[FoldTask], done: list[FoldOutcome],
            splitter: str, cv_opts: CVOptions, log: Log,
            held: FolderLock | None = None) -> CVResult:
    """Train ``tasks`` (the folds besides those ``done``), record them as they finish, then
    summarize. Raise CVInterrupted on Ctrl-C, SIGTERM or a lost worker. ``held`` is the
    CV folder's lock, which worker processes inherit."""
    total = len(done) + len(tasks)
    tracking = live.begin(job.cfg, rf, live.warner(rf, list(rf.status.get("notes") or []), log))
    job.cfg = tracking.nest(job.cfg)  # each fold a child of the CV's MLflow run
    with tracking:
        results = _train(rf, job, tasks, list(done), cv_opts, log, held)
        frame = _record(rf, results, job, total)
        summary = summarize(results, total, splitter)
        rf.write_json("summary.json", summary)
        failed = summary["failed"]
        epochs = max((o.epochs for o in results), default=0)
        if failed:
            rf.set_status("failed", epochs=epochs,
                          error=f"fold(s) {', '.join(map(str, failed))} failed; see folds.csv")
        else:
            rf.set_status("completed", epochs=epochs, error=None)
        if cv_opts.plots:
            _cv_plots(rf, log)
        tracking.finish(summary_metrics(summary), subfolders=False)
    return CVResult(rf.path, sorted(results, key=lambda o: o.fold), summary, frame)


def _train(rf: RunFolder, job: Job, tasks: list[FoldTask], results: list[FoldOutcome],
           cv_opts: CVOptions, log: Log, held: FolderLock | None) -> list[FoldOutcome]:
    """``results`` with the outcomes of ``tasks`` appended, ``folds.csv`` written after each."""
    total = len(results) + len(tasks)
    try:
        with interruptible(), progress.shown("folds", total, len(results)):
            for o in outcomes(job, tasks, cv_opts, held):
                results.append(o)
                _record(rf, results, job, total)
                rf.set_status(folds_done=len(results))
                log(progress_line(o, total, results))
                if o.status == "interrupted":
                    raise KeyboardInterrupt
    except Stopped as stop:
        results = [o for o in results if o.status != "interrupted"]
        _record(rf, results, job, total)
        n = sum(o.status == "completed" for o in results)
        rf.set_status("interrupted", error=f"{stop.reason}; {n} of {total} folds completed")
        raise CVInterrupted(rf.path, n, total, stop.reason) from None
    return results


def _record(rf: RunFolder, results: list[FoldOutcome], job: Job, total: int) -> pd.DataFrame:
    frame = folds_frame(results, job.cfg.cv.repeats > 1, total)
    rf.write_text("folds.csv", frame.to_csv(index=False))
    return frame


def _cv_plots(rf: RunFolder, log: Log) -> None:
    """The CV's figures (:mod:`kexp.report` loads matplotlib, so only when plots are asked for)."""
    from kexp import report

    try:
        report.plot_history(rf.path)
    except KexpError as exc:
        log(f"Note: plot: {exc}")
