"""Where trials run: through the task runner of :mod:`kexp.engine.runner`, one after
another in this process, in worker processes (``jobs=N``: this process and ``N - 1``
workers take trials as they become free), or as Ray tasks whose files come back into
the trial's folder of the sweep.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from kexp.engine import runner
from kexp.engine.lock import FolderLock
from kexp.engine.workers import Workers
from kexp.rundir.write import write_tree
from kexp.sweep.trial import TrialOutcome, TrialTask, run_trial


def outcomes(tasks: list[TrialTask], jobs: int, threads: int | None = None,
             executor: str = "local", address: str | None = None,
             workers: Workers | None = None,
             held: FolderLock | None = None) -> Iterator[TrialOutcome]:
    """Each task's outcome as trials finish (``executor``: ``local`` or ``ray``; ``workers``:
    the worker processes started already, :func:`kexp.engine.workers.start`; ``held``: the
    sweep folder's lock, which they inherit)."""
    work = runner.Work(run_in, key=lambda t: t.number, unit="trials", lost=lost_trial,
                       deliver=deliver_trial)
    return runner.outcomes(work, tasks, runner.Where(
        jobs=jobs, threads=threads, executor=executor, address=address, workers=workers,
        lock=held))


def run_in(shared: Any, task: TrialTask, folder: str | None) -> TrialOutcome:
    """One trial, into ``folder`` (None: its own)."""
    return run_trial(task if folder is None else replace(task, path=folder))


def lost_trial(task: TrialTask, error: str) -> TrialOutcome:
    """The outcome of a trial whose Ray task was lost."""
    return TrialOutcome(task.number, task.params, "failed", folder=Path(task.path).name,
                        error=error)


def deliver_trial(task: TrialTask, files: dict[str, bytes]) -> None:
    """A Ray trial's files, written into its folder of the sweep (an earlier attempt's
    removed)."""
    write_tree(Path(task.path), files)
