"""Where trials run: one after another in this process, or in worker processes.

Workers are spawned processes that each import TensorFlow once and train several trials,
with ``cores // jobs`` TensorFlow threads each; they die with the main process
(:func:`kexp.cv.lifeline.die_with_parent`) and are stopped when the sweep is interrupted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from kexp import backend
from kexp.cv.executors import stop
from kexp.cv.lifeline import die_with_parent
from kexp.sweep.trial import TrialOutcome, TrialTask, run_trial


class WorkerLost(Exception):
    """A worker process died (killed, out of memory): the sweep stops, resumable."""


def outcomes(tasks: list[TrialTask], jobs: int, threads: int | None = None) -> Iterator[TrialOutcome]:
    """Each task's outcome as trials finish."""
    if jobs > 1 and len(tasks) > 1:
        return _processes(tasks, jobs, threads or max(1, (os.cpu_count() or 1) // jobs))
    return (run_trial(task) for task in tasks)


def _init_worker(parent_pid: int, threads: int, verbose: bool) -> None:
    die_with_parent(parent_pid)
    backend.set_verbose(verbose)
    backend.set_threads(threads)


def _processes(tasks: list[TrialTask], jobs: int, threads: int) -> Iterator[TrialOutcome]:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(tasks)), mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker, initargs=(os.getpid(), threads, backend.is_verbose()),
    )
    pending = {pool.submit(run_trial, t): t for t in tasks}
    finished = False
    try:
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=lambda f: pending[f].number):
                task = pending.pop(fut)
                try:
                    yield fut.result()
                except BrokenProcessPool:
                    lost = sorted(t.number for t in [task, *pending.values()])
                    raise WorkerLost("a worker process died (killed, or out of memory); "
                                     f"unfinished trials: {', '.join(map(str, lost))}") from None
        finished = True
    finally:
        procs = _pool_processes(pool)
        if finished:
            pool.shutdown(wait=True)
        else:  # Ctrl-C, SIGTERM or a lost worker: stop the other workers now
            pool.shutdown(wait=False, cancel_futures=True)
            stop(procs)


def _pool_processes(pool: Any) -> list[Any]:
    """The pool's worker processes (the standard library keeps them in ``pool._processes``)."""
    return list((getattr(pool, "_processes", None) or {}).values())
