"""The executors that run a CV's folds, each yielding a FoldOutcome as folds finish.

* in-process (``jobs=1``): one after another in this process;
* local processes (``jobs=N``): a ``ProcessPoolExecutor`` with the "spawn"
  context; each worker imports TensorFlow once and trains several folds, dies with
  this process (:mod:`kexp.cv.lifeline`) and holds the CV folder's lock with it;
* Ray (``executor="ray"``): one Ray task per fold, on a local Ray instance or a
  cluster (``address``); each fold's files come back to the driver;
* stacked (``stack=True``): all folds as one model, see :mod:`kexp.cv.stack`.

:func:`outcomes` picks one from the :class:`~kexp.cv.options.CVOptions`.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kexp import backend
from kexp.cv import stack
from kexp.cv.folds import FoldOutcome, FoldTask, Job, train_fold
from kexp.cv.lifeline import die_with_parent
from kexp.cv.lock import CVLock, Inherited
from kexp.cv.options import CVOptions
from kexp.errors import RunError
from kexp.train.warm import Warm


class WorkerLost(Exception):
    """A worker process died (killed, or out of memory); the CV stops as if interrupted."""


def outcomes(job: Job, tasks: list[FoldTask], opts: CVOptions,
             held: CVLock | None = None) -> Iterator[FoldOutcome]:
    """The folds' outcomes, from the executor ``opts`` asks for; worker processes
    inherit ``held``, the CV folder's lock, and die with this process."""
    if not tasks:
        return iter(())
    if opts.stack:
        return stack.train(job, tasks, _silent)
    if opts.executor == "ray":
        return _ray(job, tasks, opts)
    if opts.jobs > 1 and len(tasks) > 1:
        return _processes(job, tasks, opts, held)
    return _in_process(job, tasks, None if opts.fresh_models else Warm())


def _silent(_: str) -> None:
    pass


def _in_process(job: Job, tasks: list[FoldTask], warm: Warm | None) -> Iterator[FoldOutcome]:
    for task in tasks:
        yield train_fold(job, task, warm=warm)


# ------------------------------------------------------------------ local processes

_WORKER_JOB: Job | None = None
_WORKER_LOCK: Inherited | None = None
_WORKER_WARM: Warm | None = None
STOP_GRACE_S = 10.0


def _init_worker(parent_pid: int, lock: Inherited, job: Job, threads: int,
                 verbose: bool, reuse: bool) -> None:
    """A worker's start: die with the parent, keep the CV folder's lock, set up TensorFlow;
    with ``reuse``, the worker trains its folds on one warm model (kexp.train.warm)."""
    global _WORKER_JOB, _WORKER_LOCK, _WORKER_WARM
    die_with_parent(parent_pid)
    _WORKER_LOCK = lock
    backend.set_verbose(verbose)
    backend.set_threads(threads)
    _WORKER_JOB = job
    _WORKER_WARM = Warm() if reuse else None


def _worker_fold(task: FoldTask) -> FoldOutcome:
    assert _WORKER_JOB is not None
    return train_fold(_WORKER_JOB, task, warm=_WORKER_WARM)


def _processes(job: Job, tasks: list[FoldTask], opts: CVOptions,
               held: CVLock | None) -> Iterator[FoldOutcome]:
    lock = held.inherited() if held is not None else Inherited(None)
    return in_processes(
        _worker_fold, tasks, opts.jobs, _init_worker,
        (os.getpid(), lock, job, opts.fold_threads(), backend.is_verbose(),
         not opts.fresh_models),
        key=lambda t: t.fold, unit="folds",
    )


def in_processes(work: Callable[[Any], Any], tasks: list[Any], jobs: int,
                 initializer: Callable[..., None], initargs: tuple[Any, ...],
                 key: Callable[[Any], int], unit: str) -> Iterator[Any]:
    """``work(task)`` for every task in at most ``jobs`` spawned worker processes, yielded as
    tasks finish (by ``key`` among those finishing together). A dead worker raises
    :class:`WorkerLost` naming the unfinished ``unit``; on any stop (Ctrl-C, SIGTERM, a lost
    worker) the other workers are stopped before this returns."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(tasks)), mp_context=multiprocessing.get_context("spawn"),
        initializer=initializer, initargs=initargs,
    )
    pending = {pool.submit(work, t): t for t in tasks}
    procs = _pool_processes(pool)  # spawned at the first submit
    finished = False
    try:
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=lambda f: key(pending[f])):
                task = pending.pop(fut)
                try:
                    yield fut.result()
                except BrokenProcessPool:
                    lost = sorted(key(t) for t in [task, *pending.values()])
                    raise WorkerLost("a worker process died (killed, or out of memory); "
                                     f"unfinished {unit}: {', '.join(map(str, lost))}") from None
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:  # Ctrl-C, SIGTERM or a lost worker: stop the other workers now
            procs += _pool_processes(pool)
            pool.shutdown(wait=False, cancel_futures=True)
            stop(procs)


def _pool_processes(pool: Any) -> list[Any]:
    """The pool's worker processes (the standard library keeps them in ``pool._processes``)."""
    return list((getattr(pool, "_processes", None) or {}).values())


def stop(procs: list[Any], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM the processes (a training fold records itself interrupted), SIGKILL those
    still alive after ``grace_s``; return when all are gone, so that the CV folder's lock
    is released only once no worker can write into it."""
    from multiprocessing.connection import wait

    alive: dict[Any, Any] = {p.sentinel: p for p in procs if p.is_alive()}
    for proc in alive.values():
        proc.terminate()
    deadline = time.monotonic() + grace_s
    while alive and time.monotonic() < deadline:
        for sentinel in wait(list(alive), timeout=max(0.0, deadline - time.monotonic())):
            alive.pop(sentinel, None)
    for proc in alive.values():
        proc.kill()
    wait(list(alive), timeout=grace_s)


# ------------------------------------------------------------------------------ Ray


def _ray_fold(job: Job, task: FoldTask, threads: int) -> FoldOutcome:
    """A Ray task: train the fold in a temporary folder and return its files."""
    backend.set_threads(threads)
    with tempfile.TemporaryDirectory(prefix="kexp-fold-") as tmp:
        folder = Path(tmp) / Path(task.path).name
        folder.mkdir()
        out = train_fold(job, task, str(folder))
        out.files = {
            str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()
        }
    return out


def import_ray() -> Any:
    """The ``ray`` module; RunError (exit 2) with the install command when it is missing."""
    try:
        import ray
    except ImportError:
        install = "pip install 'kexp[ray]' (or pip install ray)"
        raise RunError(f"--executor ray needs Ray: {install}") from None
    return ray


def ray_init(ray: Any, address: str | None, num_cpus: int | None) -> bool:
    """Start a Ray instance of ``num_cpus`` CPUs (None: all), or connect to the cluster at
    ``address``, unless one is up; True if started (then the caller shuts it down)."""
    if ray.is_initialized():
        return False
    root = str(Path(__file__).resolve().parents[2])
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
           "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"),
           "KERAS_BACKEND": "tensorflow"}
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                              "runtime_env": {"env_vars": env}}
    if address:
        kwargs["address"] = address
    else:
        kwargs["num_cpus"] = num_cpus
    ray.init(**{k: v for k, v in kwargs.items() if v is not None})
    return True


def _ray(job: Job, tasks: list[FoldTask], opts: CVOptions) -> Iterator[FoldOutcome]:
    ray = import_ray()
    started = ray_init(ray, opts.address, opts.jobs * opts.fold_threads() if opts.jobs > 1 else None)
    threads = opts.threads or 1
    remote = ray.remote(num_cpus=threads)(_ray_fold)
    job_ref = ray.put(job)
    refs = {remote.remote(job_ref, t, threads): t for t in tasks}
    try:
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            task = refs.pop(done[0])
            try:
                yield ray.get(done[0])
            except ray.exceptions.RayError as exc:
                yield FoldOutcome(task.fold, "failed", len(task.train), len(task.test),
                                  repeat=task.repeat, error=f"Ray: {str(exc).splitlines()[0]}")
    finally:
        for ref in refs:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()
