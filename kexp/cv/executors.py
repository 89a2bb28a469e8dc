"""Where a CV's folds train, each yielding a FoldOutcome as folds finish: stacked
(``stack=True``: all folds as one model, :mod:`kexp.cv.stack`), or through the task
runner of :mod:`kexp.engine.runner` (in this process, in worker processes, or on Ray),
each process training its folds on one warm model (:mod:`kexp.train.warm`) unless
``fresh_models``.

:func:`outcomes` picks one from the :class:`~kexp.cv.options.CVOptions`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from kexp.cv import stack
from kexp.cv.folds import FoldOutcome, FoldTask, Job, train_fold
from kexp.cv.options import CVOptions
from kexp.engine import runner
from kexp.engine.lock import FolderLock
from kexp.engine.output import silent
from kexp.rundir.write import write_tree
from kexp.train import warm as warm_mod


def outcomes(job: Job, tasks: list[FoldTask], opts: CVOptions,
             held: FolderLock | None = None) -> Iterator[FoldOutcome]:
    """The folds' outcomes, from the executor ``opts`` asks for; worker processes
    inherit ``held``, the CV folder's lock, and die with this process."""
    if not tasks:
        return iter(())
    if opts.stack:
        return stack.train(job, tasks, silent, opts.trained)
    job.fresh_models = opts.fresh_models
    work = runner.Work(run_fold, key=lambda t: t.fold, unit="folds", lost=lost_fold,
                       deliver=deliver_fold, shared=job)
    return runner.outcomes(work, tasks, runner.Where(
        jobs=opts.jobs, threads=opts.threads, executor=opts.executor, address=opts.address,
        workers=opts.workers, lock=held))


def run_fold(job: Job, task: FoldTask, folder: str | None) -> FoldOutcome:
    """One fold, into ``folder`` (None: its own), on this process's warm model unless the
    CV asks for fresh models."""
    return train_fold(job, task, folder, warm=None if job.fresh_models else warm_mod.PROCESS)


def lost_fold(task: FoldTask, error: str) -> FoldOutcome:
    """The outcome of a fold whose Ray task was lost."""
    return FoldOutcome(task.fold, "failed", *task.sizes, repeat=task.repeat,
                       error=error)


def deliver_fold(task: FoldTask, files: dict[str, bytes]) -> None:
    """A Ray fold's files, written into its fold folder (an earlier attempt's removed,
    its ``indices.json`` kept)."""
    write_tree(Path(task.path), files, keep=("indices.json",))
