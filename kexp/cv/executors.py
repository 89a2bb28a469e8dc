"""The executors that run a CV's folds, each yielding a FoldOutcome as folds finish.

* in-process (``jobs=1``): one after another in this process;
* local processes (``jobs=N``): this process and ``N - 1`` spawned workers
  (:mod:`kexp.cv.workers`, started before the spec is loaded), folds handed out as
  processes become free; each process trains its folds on one warm model
  (:mod:`kexp.train.warm`); a worker dies with this process (:mod:`kexp.cv.lifeline`)
  and holds the CV folder's lock while it lives;
* Ray (``executor="ray"``): one Ray task per fold, on a local Ray instance or a
  cluster (``address``); each fold's files come back to the driver;
* stacked (``stack=True``): all folds as one model, see :mod:`kexp.cv.stack`.

:func:`outcomes` picks one from the :class:`~kexp.cv.options.CVOptions`.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kexp import backend
from kexp.cv import lifeline, stack, workers
from kexp.cv.folds import FoldOutcome, FoldTask, Job, train_fold
from kexp.cv.lock import CVLock, Inherited
from kexp.cv.options import CVOptions
from kexp.cv.workers import Workers
from kexp.errors import RunError
from kexp.train import warm as warm_mod


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
    return _in_process(job, tasks, None if opts.fresh_models else warm_mod.PROCESS)


def _silent(_: str) -> None:
    pass


def _in_process(job: Job, tasks: list[FoldTask], warm: warm_mod.Warm | None) -> Iterator[FoldOutcome]:
    for task in tasks:
        yield train_fold(job, task, warm=warm)


# ------------------------------------------------------------------ local processes

_WORKER_JOBS: dict[str, Job] = {}
_WORKER_LOCK: Inherited | None = None


def start_workers(opts: CVOptions) -> Workers:
    """The ``jobs - 1`` worker processes of ``kexp cv --jobs N`` (the main process trains
    too), spawned now."""
    return workers.start(opts.jobs, opts.fold_threads(), backend.is_verbose())


def _worker_fold(item: tuple[str, FoldTask, Inherited, bool]) -> FoldOutcome:
    """One fold in a worker: the CV's job (read once from its file), the CV folder's lock
    (kept while the worker lives), then :func:`train_fold` (on the worker's warm model,
    when ``reuse``)."""
    global _WORKER_LOCK
    path, task, lock, reuse = item
    if lock.fd is not None:
        if _WORKER_LOCK is None:
            _WORKER_LOCK = lock
        elif lock.fd != _WORKER_LOCK.fd:
            os.close(lock.fd)
    if path not in _WORKER_JOBS:
        with open(path, "rb") as fh:
            _WORKER_JOBS[path] = pickle.load(fh)  # written by this CV's main process
    return train_fold(_WORKER_JOBS[path], task, warm=warm_mod.PROCESS if reuse else None)


def _processes(job: Job, tasks: list[FoldTask], opts: CVOptions,
               held: CVLock | None) -> Iterator[FoldOutcome]:
    """The folds in this process and ``jobs - 1`` workers (``opts.workers`` if started)."""
    pool = opts.workers if opts.workers is not None else start_workers(opts)
    lock = held.inherited() if held is not None else Inherited(None)
    warm = None if opts.fresh_models else warm_mod.PROCESS
    fd, path = tempfile.mkstemp(prefix="kexp-cv-job-", suffix=".pkl")
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(job, fh, protocol=pickle.HIGHEST_PROTOCOL)
        items = [(path, t, lock, not opts.fresh_models) for t in tasks]
        yield from pool.run(_worker_fold, items,
                               key=lambda item: item[1].fold, unit="folds",
                               local=lambda item: train_fold(job, item[1], warm=warm))
    finally:
        os.unlink(path)
        if opts.workers is None:
            pool.close()


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


def ray_init(ray: Any, address: str | None, num_cpus: int | None) -> Callable[[], None] | None:
    """Start a Ray instance of ``num_cpus`` CPUs (None: all), or connect to the cluster at
    ``address``, unless one is up; the function that shuts it down when this call started
    it, else None. A local instance's processes die with this one, also after a ``kill -9``
    (:func:`kexp.cv.lifeline.reaper`)."""
    if ray.is_initialized():
        return None
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
    watchdog = None if address else lifeline.reaper()

    def stop() -> None:
        ray.shutdown()
        if watchdog is not None:
            watchdog.kill()
            watchdog.wait()

    return stop


def _ray(job: Job, tasks: list[FoldTask], opts: CVOptions) -> Iterator[FoldOutcome]:
    ray = import_ray()
    stop = ray_init(ray, opts.address, opts.jobs * opts.fold_threads() if opts.jobs > 1 else None)
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
        if stop is not None:
            stop()
