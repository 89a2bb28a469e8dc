"""One fold of a cross-validation, and the executors that run folds.

:func:`train_fold` trains one fold into its run folder (fresh model, preprocessing
fitted on the fold's training part, seed from the base seed and fold number).
The executors yield a :class:`FoldOutcome` per fold as folds finish:

* in-process (``jobs=1``): one after another in this process;
* local processes (``jobs=N``): a ``ProcessPoolExecutor`` with the "spawn"
  context; each worker imports TensorFlow once and trains several folds;
* Ray (``executor="ray"``): one Ray task per fold, on a local Ray instance or a
  cluster (``address``); each fold's files come back to the driver;
* stacked (``stack=True``): all folds as one model, see :mod:`kexp.stack`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kexp import experiment
from kexp.data import sources as data_mod
from kexp.errors import KexpError, RunError
from kexp.rundir.write import RunFolder
from kexp.spec import Config, Spec


def _silent(_: str) -> None:
    pass


@dataclass
class CVOptions:
    """How the folds are run (not part of the spec)."""

    jobs: int = 1
    executor: str = "local"  # local | ray
    address: str | None = None  # Ray cluster address; None starts a local instance
    threads: int | None = None  # TensorFlow threads per fold process (default cores // jobs)
    save_models: bool = False
    plots: bool = True
    stack: bool = False  # train the folds together as one model (kexp.stack)

    def fold_threads(self) -> int:
        if self.threads:
            return self.threads
        return max(1, (os.cpu_count() or 1) // max(1, self.jobs))


@dataclass
class Job:
    """What every fold needs; sent once to each worker process or to Ray's object store."""

    spec: Spec
    cfg: Config
    x: Any
    y: Any
    raw_info: dict[str, Any]
    notes: list[str]
    argv: list[str]
    save_model: bool = False
    plots: bool = True

    # The schema has generated classes (preprocess step items) that pickle cannot
    # find by name; workers get the config as plain data and validate it again.
    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "cfg": self.cfg.model_dump(mode="json")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({**state, "cfg": Config.model_validate(state["cfg"])})


@dataclass
class FoldTask:
    fold: int  # 1-based
    train: np.ndarray
    test: np.ndarray
    seed: int
    path: str
    repeat: int | None = None


@dataclass
class FoldOutcome:
    fold: int
    status: str  # completed | failed | interrupted
    train_size: int
    test_size: int
    metrics: dict[str, float] = field(default_factory=dict)
    epochs: int = 0
    error: str | None = None
    duration_s: float = 0.0
    repeat: int | None = None
    files: dict[str, bytes] | None = None  # Ray: the fold folder's files, written by the driver


def fold_seed(seed: int, fold: int) -> int:
    """A fold's seed: from the base seed and the fold number only (not from the executor)."""
    return int(np.random.SeedSequence([seed, fold]).generate_state(1)[0] & 0x7FFFFFFF)


def take(a: Any, idx: np.ndarray) -> Any:
    return a.iloc[idx] if isinstance(a, (pd.DataFrame, pd.Series)) else a[idx]


# ---------------------------------------------------------------------- one fold


def train_fold(job: Job, task: FoldTask, folder: str | None = None) -> FoldOutcome:
    """Train and evaluate one fold into its run folder (``folder`` overrides ``task.path``).

    A KexpError or an unexpected exception marks the fold failed and is
    returned, not raised, so that the other folds finish; Ctrl-C propagates.
    """
    from kexp import backend

    t0 = time.monotonic()
    path = Path(folder or task.path)
    path.mkdir(parents=True, exist_ok=True)
    _clear_fold(path)
    rf = RunFolder(path)
    cfg = job.cfg.model_copy(update={"seed": task.seed})
    out = FoldOutcome(task.fold, "failed", len(task.train), len(task.test), repeat=task.repeat)
    keras = backend.keras()
    keras.backend.clear_session()
    backend.seed_everything(task.seed, cfg.deterministic)
    try:
        x_tr, y_tr, x_te, y_te = (take(job.x, task.train), take(job.y, task.train),
                                  take(job.x, task.test), take(job.y, task.test))
        notes = list(job.notes)
        split, pre = experiment.fit_transform(cfg, x_tr, y_tr, x_te, y_te, task.seed)
        model = experiment.build_model(cfg, split, pre, notes)
        raw = data_mod.RawData(x_tr, y_tr, x_te, y_te, info={**job.raw_info, "fold": task.fold})
        weights = experiment.class_weights(cfg, split, pre)
        prepared = experiment.Prepared(job.spec, cfg, task.seed, raw, split, pre, model, notes, weights)
        options = experiment.Options(verbose=0, argv=job.argv, save_model=job.save_model, plots=job.plots,
                                     runs_dir=path.parent)
        result = experiment.train_in_folder(prepared, rf, options)
        out.status, out.metrics = "completed", result.metrics
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - a fold's failure is recorded, the others go on
        out.error = str(exc) if isinstance(exc, KexpError) else f"{type(exc).__name__}: {exc}"
        if rf.status.get("status") in (None, "running"):
            rf.set_status("failed", error=out.error)
    out.epochs = int(rf.status.get("epochs") or 0)
    out.duration_s = round(time.monotonic() - t0, 3)
    return out


def _clear_fold(path: Path) -> None:
    """Remove an earlier attempt's files (resume), keeping indices.json."""
    for p in path.iterdir():
        if p.name == "indices.json":
            continue
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()


# ---------------------------------------------------------------------- executors

_WORKER_JOB: Job | None = None
_THREADS_SET = False


def _set_threads(threads: int) -> None:
    """TensorFlow's thread pools, set once per process before its first op."""
    global _THREADS_SET
    if _THREADS_SET:
        return
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    from kexp import backend

    backend.keras()
    import tensorflow

    try:
        tensorflow.config.threading.set_intra_op_parallelism_threads(threads)
        tensorflow.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow already initialized in this process
        pass
    _THREADS_SET = True


def _init_worker(job: Job, threads: int, verbose: bool) -> None:
    global _WORKER_JOB
    from kexp import backend

    backend.set_verbose(verbose)
    _set_threads(threads)
    _WORKER_JOB = job


def _worker_fold(task: FoldTask) -> FoldOutcome:
    assert _WORKER_JOB is not None
    return train_fold(_WORKER_JOB, task)


def _in_process(job: Job, tasks: list[FoldTask], opts: CVOptions) -> Iterator[FoldOutcome]:
    for task in tasks:
        yield train_fold(job, task)


def _processes(job: Job, tasks: list[FoldTask], opts: CVOptions) -> Iterator[FoldOutcome]:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    from kexp import backend

    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=min(opts.jobs, len(tasks)), mp_context=ctx, initializer=_init_worker,
        initargs=(job, opts.fold_threads(), backend.is_verbose()),
    )
    pending = {pool.submit(_worker_fold, t): t for t in tasks}
    procs = list((getattr(pool, "_processes", None) or {}).values())  # spawned at the first submit
    finished = False
    try:
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=lambda f: pending[f].fold):
                task = pending.pop(fut)
                try:
                    yield fut.result()
                except BrokenProcessPool:
                    lost = sorted(t.fold for t in [task, *pending.values()])
                    raise _Lost("a worker process died (killed, or out of memory); unfinished folds: "
                                f"{', '.join(map(str, lost))}") from None
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:  # Ctrl-C, SIGTERM or a lost worker: stop the other workers now
            procs += list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in procs:
                if proc.is_alive():
                    proc.terminate()


class _Lost(Exception):
    pass


def _ray_fold(job: Job, task: FoldTask, threads: int) -> FoldOutcome:
    """A Ray task: train the fold in a temporary folder and return its files."""
    _set_threads(threads)
    with tempfile.TemporaryDirectory(prefix="kexp-fold-") as tmp:
        folder = Path(tmp) / Path(task.path).name
        folder.mkdir()
        out = train_fold(job, task, str(folder))
        out.files = {
            str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()
        }
    return out


def _ray(job: Job, tasks: list[FoldTask], opts: CVOptions) -> Iterator[FoldOutcome]:
    try:
        import ray
    except ImportError:
        raise RunError("--executor ray needs Ray: pip install 'kexp[ray]' (or pip install ray)") from None
    started = False
    if not ray.is_initialized():
        root = str(Path(__file__).resolve().parents[2])
        env = {"PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
               "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"),
               "KERAS_BACKEND": "tensorflow"}
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "runtime_env": {"env_vars": env}}
        if opts.address:
            kwargs["address"] = opts.address
        else:
            kwargs["num_cpus"] = opts.jobs * opts.fold_threads() if opts.jobs > 1 else None
        ray.init(**{k: v for k, v in kwargs.items() if v is not None})
        started = True
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
                yield FoldOutcome(task.fold, "failed", len(task.train), len(task.test), repeat=task.repeat,
                                  error=f"Ray: {str(exc).splitlines()[0]}")
    finally:
        for ref in refs:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


EXECUTORS = {"local": None, "ray": _ray}


def _outcomes(job: Job, tasks: list[FoldTask], opts: CVOptions) -> Iterator[FoldOutcome]:
    if not tasks:
        return iter(())
    if opts.stack:
        from kexp.cv import stack

        return stack.train(job, tasks, _silent)
    if opts.executor == "ray":
        return _ray(job, tasks, opts)
    if opts.jobs > 1 and len(tasks) > 1:
        return _processes(job, tasks, opts)
    return _in_process(job, tasks, opts)
