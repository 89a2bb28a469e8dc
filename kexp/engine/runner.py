"""The one task runner of ``kexp cv`` and ``kexp sweep``: every task (a fold, a trial)
run once, and its outcome yielded as it finishes.

Where the tasks run (:class:`Where`):

* in this process, one after another (``jobs=1``);
* in this process and ``jobs - 1`` spawned workers (:mod:`kexp.engine.workers`, usually
  started before the spec is loaded), tasks handed out as processes become free; the
  workers hold the folder's lock while they live (:mod:`kexp.engine.lock`) and die with
  this process (:mod:`kexp.engine.lifeline`);
* on Ray (``executor="ray"``, :mod:`kexp.engine.cluster`): one Ray task per task, which
  runs it in a temporary folder on its worker and returns that folder's files; they are
  delivered into the task's folder here (:attr:`Work.deliver`, written atomically).

What runs is a :class:`Work`: a module-level function ``run(shared, task, folder)``
(``folder``: where to write instead of the task's own, Ray's temporary folder) and the
``shared`` object every task needs, sent once to each worker (a pickle file) or to Ray's
object store. The runner also tells :mod:`kexp.engine.progress` which tasks start and
finish, and the workers report each epoch there.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kexp import backend
from kexp.engine import progress
from kexp.engine.cores import threads_per_task
from kexp.engine.lock import FolderLock, Inherited
from kexp.engine.workers import Workers, start


@dataclass
class Work:
    """What the runner runs, and how it names and delivers a task."""

    #: ``run(shared, task, folder) -> outcome``, a module-level function (workers and Ray
    #: import it by name); it records a task's own failure in its outcome, never raises it
    run: Callable[[Any, Any, str | None], Any]
    #: a task's number in messages and progress (fold 3, trial 12)
    key: Callable[[Any], int]
    #: ``folds`` or ``trials``
    unit: str
    #: the outcome of a task that Ray lost (its worker died): ``lost(task, error)``
    lost: Callable[[Any, str], Any]
    #: write a Ray task's files (relative path -> bytes) into the task's folder
    deliver: Callable[[Any, dict[str, bytes]], None]
    #: what every task needs (None: nothing)
    shared: Any = None


@dataclass
class Where:
    """Where the tasks run (not part of the spec)."""

    jobs: int = 1
    threads: int | None = None  # TensorFlow threads per process or Ray task
    executor: str = "local"  # local | ray
    address: str | None = None  # Ray cluster address; None starts a local instance
    workers: Workers | None = None  # started already (kexp.engine.workers.start); None: start
    lock: FolderLock | None = None  # the folder's lock, which worker processes inherit


def outcomes(work: Work, tasks: list[Any], where: Where) -> Iterator[Any]:
    """Each task's outcome, as tasks finish."""
    if not tasks:
        return iter(())
    if where.executor == "ray":
        return _ray(work, tasks, where)
    if where.jobs > 1 and len(tasks) > 1:
        return _processes(work, tasks, where)
    return _in_process(work, tasks)


def _here(work: Work, task: Any) -> Any:
    """``task`` in this process, its start, epochs and end told to the progress view."""
    key = work.key(task)
    progress.started(key)
    with progress.working_on(key):
        out = work.run(work.shared, task, None)
    progress.finished(key)
    return out


def _in_process(work: Work, tasks: list[Any]) -> Iterator[Any]:
    for task in tasks:
        yield _here(work, task)


# ------------------------------------------------------------------ local processes

_SHARED: dict[str, Any] = {}  # in a worker: each shared object, read once from its file
_HELD: Inherited | None = None  # in a worker: the folder lock kept while it lives


def _in_worker(item: tuple[Callable[..., Any], str | None, Any, int, Inherited]) -> Any:
    """One task in a worker: the shared object (read once from its file), the folder's
    lock (kept while the worker lives), then the work, reporting its epochs."""
    global _HELD
    run, path, task, key, lock = item
    if lock.fd is not None:
        if _HELD is None:
            _HELD = lock
        elif lock.fd != _HELD.fd:
            os.close(lock.fd)
    if path is not None and path not in _SHARED:
        with open(path, "rb") as fh:
            _SHARED[path] = pickle.load(fh)  # written by the main process of this command
    with progress.working_on(key):
        return run(_SHARED.get(path) if path is not None else None, task, None)


def _processes(work: Work, tasks: list[Any], where: Where) -> Iterator[Any]:
    """The tasks in this process and ``jobs - 1`` workers (``where.workers`` if started)."""
    pool = where.workers if where.workers is not None else start(
        where.jobs, where.threads, backend.is_verbose())
    lock = where.lock.inherited() if where.lock is not None else Inherited(None)
    path = None
    try:
        if work.shared is not None:
            fd, path = tempfile.mkstemp(prefix=f"kexp-{work.unit}-", suffix=".pkl")
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(work.shared, fh, protocol=pickle.HIGHEST_PROTOCOL)
        items = [(work.run, path, t, work.key(t), lock) for t in tasks]
        yield from pool.run(_in_worker, items, key=lambda item: item[3], unit=work.unit,
                            local=lambda item: _here(work, item[2]))
    finally:
        if path is not None:
            os.unlink(path)
        if where.workers is None:
            pool.close()


# ------------------------------------------------------------------------------ Ray


def in_temporary_folder(run: Callable[..., Any], shared: Any, task: Any,
                        threads: int) -> tuple[Any, dict[str, bytes]]:
    """A Ray task: ``run`` the task in a temporary folder named as its own; its outcome
    and the folder's files."""
    backend.set_threads(threads)
    with tempfile.TemporaryDirectory(prefix="kexp-task-") as tmp:
        folder = Path(tmp) / Path(task.path).name
        folder.mkdir()
        out = run(shared, task, str(folder))
        files = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*")
                 if p.is_file()}
    return out, files


def _ray(work: Work, tasks: list[Any], where: Where) -> Iterator[Any]:
    from kexp.engine.cluster import import_ray, ray_init

    ray = import_ray()
    threads = threads_per_task(where.jobs, where.threads)
    stop = ray_init(ray, where.address, where.jobs * threads if where.jobs > 1 else None)
    remote = ray.remote(num_cpus=threads)(in_temporary_folder)
    shared = ray.put(work.shared)
    refs = {remote.remote(work.run, shared, t, threads): t for t in tasks}
    try:
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            task = refs.pop(done[0])
            try:
                out, files = ray.get(done[0])
            except ray.exceptions.RayError as exc:
                out = work.lost(task, f"Ray: {str(exc).splitlines()[0]}")
            else:
                work.deliver(task, files)
            progress.finished(work.key(task))
            yield out
    finally:
        for ref in refs:
            ray.cancel(ref, force=True)
        if stop is not None:
            stop()
