"""Run a planned sweep into its sweep folder, and the loop that records trials as they finish.

The sweep folder ``runs/<stamp>-<name>-sweep-<hex>/`` holds ``spec.yaml`` (as given),
``config.yaml`` (the base config with its ``sweep`` section), ``sweep.json`` (what a
resume needs: the spec's path, the base spec with its overrides applied, the hash of
config.yaml, every trial's values and folder),
``trials/NNN-<values>/`` (each a complete run folder; with ``--cv K`` a CV folder, and
the best parameters refit into ``refit/``, :mod:`kexp.sweep.refit`), ``trials.csv``,
``best.yaml``, ``summary.json``, ``status.json`` (kind ``sweep``) and, for ``tpe`` or
``prune``, ``study.db`` (the Optuna study, :mod:`kexp.sweep.bayes`). Ctrl-C or SIGTERM stop it as
``interrupted`` with the finished trials kept; ``kexp sweep --resume`` trains the rest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kexp import experiment, hashes
from kexp.engine import lock, progress
from kexp.engine.signals import Stopped, Unfinished, interruptible
from kexp.errors import KexpError
from kexp.rundir.write import RunFolder
from kexp.spec import resolved
from kexp.sweep import record
from kexp.sweep.executors import outcomes
from kexp.sweep.plan import SweepPlan, Trial
from kexp.sweep.refit import refit
from kexp.sweep.trial import TrialOutcome, TrialTask
from kexp.track import live
from kexp.track.folder import sweep_metrics
from kexp.train import feed


@dataclass
class SweepOptions:
    """How trials are run (not part of the spec)."""

    jobs: int = 1
    threads: int | None = None  # TensorFlow threads per worker (default cores // jobs)
    executor: str = "local"  # local | ray
    address: str | None = None  # Ray cluster address; None starts a local instance
    plots: bool = True
    save_models: bool = True
    #: worker processes started already (kexp.engine.workers.start); None: start them
    workers: Any = None
    #: the sweep folder's lock (kexp.engine.lock.hold), which worker processes inherit
    held: Any = None
    stack: bool = False  # --stack: each trial's folds stacked; on JAX trials together


class SweepInterrupted(Unfinished):
    """Ctrl-C, SIGTERM or a lost worker: finished trials are kept; resume with --resume."""

    unit = "trials"
    command = "kexp sweep"


def sweep(plan: SweepPlan, options: experiment.Options, opts: SweepOptions,
          log: experiment.Log = experiment.silent) -> record.SweepResult:
    """Run every trial of ``plan`` in a new sweep folder under ``options.runs_dir``."""
    live.check(plan.cfg)  # MLflow installed, when tracking is on
    rf = RunFolder.create(options.runs_dir, f"{plan.cfg.name}-sweep", kind="sweep")
    with lock.hold(rf.path, "kexp sweep") as held:  # one process at a time trains its trials
        return _start(rf, plan, options, dataclasses.replace(opts, held=held), log)


def _start(rf: RunFolder, plan: SweepPlan, options: experiment.Options, opts: SweepOptions,
           log: experiment.Log) -> record.SweepResult:
    rf.set_status("running", name=plan.cfg.name, trials=plan.total, trials_done=0)
    log(f"Sweep folder: {rf.path} ({plan.sweep.method}, {plan.total} trials, "
        f"{plan.sweep.metric} {plan.goal}, {opts.jobs} job(s))")
    rf.write_text("spec.yaml", plan.base.text or "")
    config = rf.write_yaml("config.yaml", {**resolved(plan.cfg), "sweep": plan.sweep.model_dump(mode="json")})
    rf.write_json("sweep.json", {
        "spec_path": str(plan.base.path.resolve()) if plan.base.path else None,
        "base": plan.base.data,
        "config_sha256": hashes.file_sha256(config),
        "batches": feed.generation(),
        "trials": [{"trial": t.number, "params": t.params, "folder": t.folder} for t in plan.trials],
    })
    (rf.path / "trials").mkdir()
    return execute(rf, plan, tasks(plan, rf.path, options, opts), [], opts, log, options)


def tasks(plan: SweepPlan, root: Path, options: experiment.Options, opts: SweepOptions,
          numbers: set[int] | None = None) -> list[TrialTask]:
    """The trials to run (all, or those numbered ``numbers``)."""
    return [
        TrialTask(t.number, t.params, t.spec, str(root / "trials" / t.folder), plan.sweep.metric,
                  options.argv, opts.plots, opts.save_models, plan.sweep.cv, stack=opts.stack)
        for t in plan.trials if numbers is None or t.number in numbers
    ]


def trial_outcomes(root: Path, plan: SweepPlan, todo: list[TrialTask], done: list[TrialOutcome],
                   opts: SweepOptions, options: experiment.Options,
                   log: experiment.Log = experiment.silent) -> Iterator[TrialOutcome]:
    """Each trial's outcome as it finishes; with ``tpe`` or ``prune`` through the sweep's
    Optuna study (:mod:`kexp.sweep.bayes`), which proposes ``tpe``'s trials as it goes."""
    def run_tasks(batch: list[TrialTask]) -> Iterator[TrialOutcome]:
        return outcomes(batch, opts.jobs, opts.threads, opts.executor, opts.address,
                        opts.workers, opts.held)

    if opts.stack:
        from kexp.sweep import stacked

        return stacked.outcomes(todo, log)
    if plan.sweep.method != "tpe" and plan.sweep.prune is None:
        return run_tasks(todo)
    from kexp.sweep.bayes import study_outcomes

    def new_task(trial: Trial) -> TrialTask:
        return tasks(dataclasses.replace(plan, trials=[trial]), root, options, opts)[0]

    return study_outcomes(root, plan, todo, done, run_tasks, new_task, opts.jobs)


def execute(rf: RunFolder, plan: SweepPlan, todo: list[TrialTask], done: list[TrialOutcome],
            opts: SweepOptions, log: experiment.Log,
            options: experiment.Options | None = None) -> record.SweepResult:
    """Run ``todo`` (``done`` finished earlier), recording after every trial; summarize."""
    results = list(done)
    _write(rf, plan, results)
    tracking = live.begin(plan.cfg, rf, live.warner(rf, list(rf.status.get("notes") or []), log))
    nested = dataclasses.replace(plan, base=tracking.nest_spec(plan.base))  # trials: MLflow children
    todo = [dataclasses.replace(t, spec=tracking.nest_spec(t.spec)) for t in todo]
    try:
        with interruptible(), progress.shown("trials", plan.total, len(results)):
            for o in trial_outcomes(rf.path, nested, todo, done, opts,
                                    options or experiment.Options(), log):
                results.append(o)
                _write(rf, plan, results)
                rf.set_status(trials_done=len(results))
                log(record.progress_line(o, plan.total, plan, results))
        refitted = (refit(rf.path, plan, results, opts.plots, opts.save_models, log)
                    if plan.sweep.cv else None)  # --cv: the best parameters on the training part
    except Stopped as stop:
        n = sum(o.status == "completed" for o in results)
        rf.set_status("interrupted", error=f"{stop.reason}; {n} of {plan.total} trials completed")
        tracking.end("KILLED")
        raise SweepInterrupted(rf.path, n, plan.total, stop.reason) from None
    frame = _write(rf, plan, results)
    summary = record.summary(plan, results)
    if refitted is not None:
        summary["refit"] = refitted
    rf.write_json("summary.json", summary)
    top = record.best(plan, results)
    if top is not None:
        rf.write_text("best.yaml", record.best_spec(plan, top))
        rf.set_status("completed", error=None)
    else:
        rf.set_status("failed", error="no trial completed; see trials.csv")
    if opts.plots:
        _plots(rf, log)
    tracking.finish(sweep_metrics(summary), subfolders=False)
    return record.SweepResult(rf.path, sorted(results, key=lambda o: o.number), summary, frame)


def _write(rf: RunFolder, plan: SweepPlan, results: list[TrialOutcome]) -> Any:
    frame = record.trials_frame(plan, results)
    rf.write_text("trials.csv", frame.to_csv(index=False))
    return frame


def _plots(rf: RunFolder, log: experiment.Log) -> None:
    try:
        from kexp import report  # pandas' and matplotlib's plotting: only when drawing

        report.plot_history(rf.path)
    except KexpError as exc:
        log(f"Note: plot: {exc}")
