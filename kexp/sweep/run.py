"""Run a planned sweep into its sweep folder, and the loop that records trials as they finish.

The sweep folder ``runs/<stamp>-<name>-sweep-<hex>/`` holds ``spec.yaml`` (as given),
``config.yaml`` (the base config with its ``sweep`` section), ``sweep.json`` (what a
resume needs: the spec's path, the base spec with its overrides applied, the hash of
config.yaml, every trial's values and folder),
``trials/NNN-<values>/`` (each a complete run folder), ``trials.csv``, ``best.yaml``,
``summary.json`` and ``status.json`` (kind ``sweep``). Ctrl-C or SIGTERM stop it as
``interrupted`` with the finished trials kept; ``kexp sweep --resume`` trains the rest.
"""

from __future__ import annotations

import hashlib
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kexp import experiment, report
from kexp.errors import KexpError
from kexp.rundir.write import Interrupted, RunFolder
from kexp.spec import resolved
from kexp.sweep import record
from kexp.sweep.executors import WorkerLost, outcomes
from kexp.sweep.plan import Plan
from kexp.sweep.trial import TrialOutcome, TrialTask


@dataclass
class SweepOptions:
    """How trials are run (not part of the spec)."""

    jobs: int = 1
    threads: int | None = None  # TensorFlow threads per worker (default cores // jobs)
    plots: bool = True
    save_models: bool = True


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C, SIGTERM or a lost worker: finished trials are kept; resume with --resume."""

    def __init__(self, path: Path, done: int, total: int, reason: str) -> None:
        super().__init__(reason)
        self.path, self.done, self.total, self.reason = path, done, total, reason


def sweep(plan: Plan, options: experiment.Options, opts: SweepOptions,
          log: experiment.Log = experiment.silent) -> record.SweepResult:
    """Run every trial of ``plan`` in a new sweep folder under ``options.runs_dir``."""
    rf = RunFolder.create(options.runs_dir, f"{plan.cfg.name}-sweep", kind="sweep")
    rf.set_status("running", name=plan.cfg.name, trials=len(plan.trials), trials_done=0)
    log(f"Sweep folder: {rf.path} ({plan.sweep.method}, {len(plan.trials)} trials, "
        f"{plan.sweep.metric} {plan.goal}, {opts.jobs} job(s))")
    rf.write_text("spec.yaml", plan.base.text or "")
    config = rf.write_yaml("config.yaml", {**resolved(plan.cfg), "sweep": plan.sweep.model_dump(mode="json")})
    rf.write_json("sweep.json", {
        "spec_path": str(plan.base.path.resolve()) if plan.base.path else None,
        "base": plan.base.data,
        "config_sha256": hashlib.sha256(config.read_bytes()).hexdigest(),
        "trials": [{"trial": t.number, "params": t.params, "folder": t.folder} for t in plan.trials],
    })
    (rf.path / "trials").mkdir()
    return execute(rf, plan, tasks(plan, rf.path, options, opts), [], opts, log)


def tasks(plan: Plan, root: Path, options: experiment.Options, opts: SweepOptions,
          numbers: set[int] | None = None) -> list[TrialTask]:
    """The trials to run (all, or those numbered ``numbers``)."""
    return [
        TrialTask(t.number, t.params, t.spec, str(root / "trials" / t.folder), plan.sweep.metric,
                  options.argv, opts.plots, opts.save_models)
        for t in plan.trials if numbers is None or t.number in numbers
    ]


def execute(rf: RunFolder, plan: Plan, todo: list[TrialTask], done: list[TrialOutcome],
            opts: SweepOptions, log: experiment.Log) -> record.SweepResult:
    """Run ``todo`` (``done`` finished earlier), recording after every trial; summarize."""
    results = list(done)
    _write(rf, plan, results)
    previous = _raise_on_sigterm()
    try:
        for o in outcomes(todo, opts.jobs, opts.threads):
            results.append(o)
            _write(rf, plan, results)
            rf.set_status(trials_done=len(results))
            log(record.progress(o, len(plan.trials), plan, results))
    except (KeyboardInterrupt, WorkerLost) as exc:
        reason = str(exc) if isinstance(exc, WorkerLost) else "interrupted (Ctrl-C or SIGTERM)"
        n = sum(o.status == "completed" for o in results)
        rf.set_status("interrupted", error=f"{reason}; {n} of {len(plan.trials)} trials completed")
        raise SweepInterrupted(rf.path, n, len(plan.trials), reason) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    frame = _write(rf, plan, results)
    summary = record.summary(plan, results)
    rf.write_json("summary.json", summary)
    top = record.best(plan, results)
    if top is not None:
        rf.write_text("best.yaml", record.best_spec(plan, top))
        rf.set_status("completed", error=None)
    else:
        rf.set_status("failed", error="no trial completed; see trials.csv")
    if opts.plots:
        _plots(rf, log)
    return record.SweepResult(rf.path, sorted(results, key=lambda o: o.number), summary, frame)


def _write(rf: RunFolder, plan: Plan, results: list[TrialOutcome]) -> Any:
    frame = record.trials_frame(plan, results)
    rf.write_text("trials.csv", frame.to_csv(index=False))
    return frame


def _raise_on_sigterm() -> Any:
    """SIGTERM between trials stops the sweep like Ctrl-C (finished trials kept)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_term(signum: int, frame: Any) -> None:
        raise Interrupted()

    return signal.signal(signal.SIGTERM, on_term)


def _plots(rf: RunFolder, log: experiment.Log) -> None:
    try:
        report.plot_history(rf.path)
    except KexpError as exc:
        log(f"Note: plot: {exc}")
