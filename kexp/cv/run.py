"""k-fold cross-validation: a fresh model per fold, every fold kept as a run folder.

:func:`cross_validate` splits the whole data set with scikit-learn's splitters
(:func:`kexp.data.split.kfold`), writes each fold's indices, and hands the folds to
:func:`execute`, the loop shared with :func:`kexp.cv.resume.resume`: it trains them
with an executor of :mod:`kexp.cv.executors` (in-process, spawned processes, Ray,
or stacked) and writes ``folds.csv`` and ``summary.json`` as folds finish.

Each fold's seed is derived from the base seed and the fold number only, and
everything fitted from data (scalers, label encoders) is fitted on the fold's
training part only, so a fold's metrics do not depend on the executor.

The CV folder holds ``spec.yaml``, ``config.yaml``, ``env.json``, ``status.json``
(kind cv), ``folds.csv``, ``summary.json`` and ``fold-01/`` ... (each a run folder
plus ``indices.json``).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from kexp import experiment
from kexp.cv import stack
from kexp.cv.executors import WorkerLost, outcomes
from kexp.cv.folds import FoldOutcome, FoldTask, Job, fold_seed
from kexp.cv.options import CVInterrupted, CVOptions
from kexp.cv.prepare import Plan, prepare
from kexp.cv.record import CVResult, fold_dir, folds_frame, progress, summarize
from kexp.data import sources as data_mod
from kexp.errors import ConfigError, KexpError
from kexp.rundir.write import Interrupted, RunFolder, atomic_write, write_json
from kexp.spec import Spec, resolved

Log = Callable[[str], None]


def _silent(_: str) -> None:
    pass


def cross_validate(spec: Spec, options: experiment.Options, cv_opts: CVOptions,
                   log: Log = _silent) -> CVResult:
    """Cross-validate the experiment in ``spec``; write a CV folder in ``options.runs_dir``."""
    plan = prepare(spec, options.overrides, log)
    if cv_opts.stack:
        try:
            stack.check(plan.cfg, [len(tr) for tr, _ in plan.folds])
        except ConfigError as exc:
            raise experiment.located(plan.spec, exc) from None
    job, cfg = plan.job, plan.cfg
    job.argv, job.save_model, job.plots = options.argv, cv_opts.save_models, cv_opts.plots
    rf = RunFolder.create(options.runs_dir, cfg.name, kind="cv")
    total = len(plan.folds)
    rf.set_status("running", name=cfg.name, notes=job.notes, folds=total)
    log(f"CV folder: {rf.path} ({plan.splitter}, {total} folds, "
        f"{'ray' if cv_opts.executor == 'ray' else f'{cv_opts.jobs} job(s)'})")
    _write_setup(rf, plan, spec, options, cv_opts)
    return execute(rf, job, _fold_tasks(rf, plan), [], plan.splitter, cv_opts, log)


def _write_setup(rf: RunFolder, plan: Plan, spec: Spec, options: experiment.Options,
                 cv_opts: CVOptions) -> None:
    """``spec.yaml``, ``config.yaml`` and ``env.json`` (with how the folds are run)."""
    cfg = plan.cfg
    rf.write_text("spec.yaml", plan.spec.text or "")
    rf.write_yaml("config.yaml", resolved(cfg))
    env = experiment.environment(cfg, cfg.seed or 0,
                                 data_mod.RawData(None, None, info=plan.job.raw_info), options.argv)
    env["cv"] = {"splitter": plan.splitter, "folds": len(plan.folds), "executor": cv_opts.executor,
                 "jobs": cv_opts.jobs, "threads_per_fold": cv_opts.fold_threads(),
                 "address": cv_opts.address,
                 "spec_dir": str(spec.path.resolve().parent) if spec.path else None}
    rf.write_json("env.json", env)


def _fold_tasks(rf: RunFolder, plan: Plan) -> list[FoldTask]:
    """A folder with ``indices.json`` per fold, and the fold's task."""
    cfg, total = plan.cfg, len(plan.folds)
    tasks = []
    for i, (tr, te) in enumerate(plan.folds, 1):
        path = fold_dir(rf.path, i, total)
        path.mkdir()
        repeat = (i - 1) // cfg.cv.folds + 1 if cfg.cv.repeats > 1 else None
        task = FoldTask(i, tr, te, fold_seed(cfg.seed or 0, i), str(path), repeat)
        write_json(path / "indices.json", {"fold": i, "repeat": repeat, "seed": task.seed,
                                           "train": tr.tolist(), "test": te.tolist()})
        tasks.append(task)
    return tasks


def execute(rf: RunFolder, job: Job, tasks: list[FoldTask], done: list[FoldOutcome],
            splitter: str, cv_opts: CVOptions, log: Log) -> CVResult:
    """Train ``tasks`` (the folds besides those ``done``), record them as they finish, then
    summarize. Raise CVInterrupted on Ctrl-C, SIGTERM or a lost worker."""
    total = len(done) + len(tasks)
    results = _train(rf, job, tasks, list(done), cv_opts, log)
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
    return CVResult(rf.path, sorted(results, key=lambda o: o.fold), summary, frame)


def _train(rf: RunFolder, job: Job, tasks: list[FoldTask], results: list[FoldOutcome],
           cv_opts: CVOptions, log: Log) -> list[FoldOutcome]:
    """``results`` with the outcomes of ``tasks`` appended, ``folds.csv`` written after each."""
    total = len(results) + len(tasks)
    previous = _raise_on_sigterm()
    try:
        for o in outcomes(job, tasks, cv_opts):
            if o.files is not None:
                _write_files(fold_dir(rf.path, o.fold, total), o.files)
                o.files = None
            results.append(o)
            _record(rf, results, job, total)
            rf.set_status(folds_done=len(results))
            log(progress(o, total, results))
            if o.status == "interrupted":
                raise KeyboardInterrupt
    except (KeyboardInterrupt, WorkerLost) as exc:
        reason = str(exc) if isinstance(exc, WorkerLost) else "interrupted (Ctrl-C or SIGTERM)"
        results = [o for o in results if o.status != "interrupted"]
        _record(rf, results, job, total)
        n = sum(o.status == "completed" for o in results)
        rf.set_status("interrupted", error=f"{reason}; {n} of {total} folds completed")
        raise CVInterrupted(rf.path, n, total, reason) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return results


def _record(rf: RunFolder, results: list[FoldOutcome], job: Job, total: int) -> pd.DataFrame:
    frame = folds_frame(results, job.cfg.cv.repeats > 1, total)
    rf.write_text("folds.csv", frame.to_csv(index=False))
    return frame


def _raise_on_sigterm() -> Any:
    """SIGTERM stops the CV like Ctrl-C (finished folds kept, status interrupted)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_term(signum: int, frame: Any) -> None:
        raise Interrupted()

    return signal.signal(signal.SIGTERM, on_term)


def _write_files(folder: Path, files: dict[str, bytes]) -> None:
    """A Ray fold's files, written into its fold folder."""
    folder.mkdir(exist_ok=True)
    for name, content in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, content)


def _cv_plots(rf: RunFolder, log: Log) -> None:
    """The CV's figures (:mod:`kexp.report` loads matplotlib, so only when plots are asked for)."""
    from kexp import report

    try:
        report.plot_history(rf.path)
    except KexpError as exc:
        log(f"Note: plot: {exc}")
