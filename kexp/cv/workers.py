"""Worker processes shared with the main process: ``kexp cv --jobs N`` and ``kexp sweep
--jobs N`` train on N processes, the main one and N - 1 spawned workers.

:meth:`Workers.start` spawns the workers first thing, before the main process loads
the spec, imports TensorFlow or reads the data, so their start-up (about as long as the
main's) runs beside it. Tasks are handed out first come, first served: the main process
trains tasks from the start, a worker takes one as soon as it is ready and again each
time it finishes, so more jobs are never slower than one because workers are slow to
start (on a busy machine, the main process simply trains more of the folds); a worker
that has not trained yet takes a task only while two or more are left, since its first
one also pays for tracing the model. A fold's
result does not depend on the process that trains it (seeds by fold; the warm model of
:mod:`kexp.train.warm` trains the numbers of a fresh one).

Each worker dies with the main process (:mod:`kexp.cv.lifeline`); on any stop (Ctrl-C,
SIGTERM, a lost worker) the others are stopped before :meth:`Workers.run` returns.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

STOP_GRACE_S = 10.0


class WorkerLost(Exception):
    """A worker process died (killed, or out of memory); the run stops as if interrupted."""


def _ready() -> int:
    """A worker's first task: return once its initializer (TensorFlow's import) is done."""
    return os.getpid()


def init_worker(parent_pid: int, threads: int, verbose: bool) -> None:
    """A worker's start: die with the parent, set TensorFlow's threads, import it."""
    from kexp import backend
    from kexp.cv.lifeline import die_with_parent

    die_with_parent(parent_pid)
    backend.set_verbose(verbose)
    backend.set_threads(threads)
    backend.keras()


#: set to 0 to start every worker --jobs asks for even on a busy machine (the fault tests)
BUSY_CHECK_ENV = "KEXP_BUSY_CHECK"


def busy_cores(samples: int = 5, pause_s: float = 0.01) -> int | None:
    """How many threads of other programs are running or ready to run now (Linux's
    ``/proc/loadavg``, less this one; the fewest of a few readings, so a passing burst does
    not count); None where that cannot be read."""
    counts = []
    try:
        for i in range(samples):
            if i:
                time.sleep(pause_s)
            with open("/proc/loadavg", encoding="ascii") as fh:
                counts.append(int(fh.read().split()[3].split("/")[0]))
    except (OSError, ValueError, IndexError):
        return None
    return max(min(counts) - 1, 0)


def usable_cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def fitting_jobs(jobs: int, busy: int | None, cores: int) -> tuple[int, str | None]:
    """How many of ``--jobs N``'s processes to use while other programs keep ``busy`` of
    the ``cores`` busy: no more than the cores they leave (at least this process). A worker
    on a core another program keeps busy only slows this process down (measured: ``kexp cv
    configs/pima.yaml --folds 5 --epochs 30`` with one core of two busy took 9.7 s with
    ``--jobs 2`` against 8.6 s with ``--jobs 1``); on an idle machine ``--jobs`` is taken
    as asked. With a note saying so when fewer are used."""
    if not busy or jobs <= 1 or os.environ.get(BUSY_CHECK_ENV) == "0":
        return jobs, None
    fit = max(1, min(jobs, cores - busy))
    if fit == jobs:
        return jobs, None
    return fit, (f"--jobs {jobs}: {fit} process(es) used, since other programs keep {busy} "
                 f"of the {cores} cores busy (set {BUSY_CHECK_ENV}=0 to use {jobs} anyway)")


def jobs_to_use(jobs: int, log: Callable[[str], None]) -> int:
    """``--jobs N`` fitted to the cores other programs leave idle now (:func:`fitting_jobs`),
    with a note through ``log`` when fewer are used."""
    if jobs <= 1:
        return jobs
    used, note = fitting_jobs(jobs, busy_cores(), usable_cores())
    if note:
        log(f"Note: {note}")
    return used


def threads_per_worker(jobs: int, threads: int | None) -> int:
    """``threads``, or by default ``cores // jobs`` (at least 1)."""
    return threads or max(1, (os.cpu_count() or 1) // max(1, jobs))


def started(wanted: bool, jobs: int, threads: int | None, verbose: bool) -> Any:
    """A ``with`` block holding :func:`start`'s workers (None unless ``wanted``): left
    normally, the idle workers are killed; left by an exception, stopped as interrupted."""
    return start(jobs, threads, verbose) if wanted else contextlib.nullcontext()


def start(jobs: int, threads: int | None, verbose: bool) -> Workers:
    """The ``jobs - 1`` workers of ``--jobs N`` (this process trains too), spawned now,
    with ``threads`` TensorFlow threads each (None: ``cores // jobs``)."""
    return Workers(jobs - 1, init_worker,
                   (os.getpid(), threads_per_worker(jobs, threads), verbose)).start()


class Workers:
    """``count`` spawned worker processes, started at once (:meth:`start`)."""

    def __init__(self, count: int, initializer: Callable[..., None],
                 initargs: tuple[Any, ...]) -> None:
        self.count, self.initializer, self.initargs = count, initializer, initargs
        self.pool: Any = None
        self.probes: list[Any] = []
        self.procs: list[Any] = []

    def start(self) -> Workers:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.pool = ProcessPoolExecutor(
            max_workers=self.count, mp_context=multiprocessing.get_context("spawn"),
            initializer=self.initializer, initargs=self.initargs)
        self.probes = [self.pool.submit(_ready) for _ in range(self.count)]
        self.procs = _pool_processes(self.pool)
        return self

    def close(self, finished: bool = True) -> None:
        """Stop the workers and return once they are gone. ``finished``: they are idle,
        with nothing to write, and are killed at once (an orderly exit would spend a
        second tearing TensorFlow down); otherwise a worker still training records its
        fold interrupted first (SIGTERM, then SIGKILL after a grace period)."""
        if self.pool is None:
            return
        pool, self.pool = self.pool, None
        procs = self.procs + _pool_processes(pool)
        pool.shutdown(wait=False, cancel_futures=True)
        stop(procs, grace_s=0.0 if finished else STOP_GRACE_S)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self.close(finished=kind is None)

    def run(self, work: Callable[[Any], Any], tasks: list[Any], key: Callable[[Any], int],
            unit: str, local: Callable[[Any], Any] | None = None) -> Iterator[Any]:
        """``work(task)`` in the workers and ``local(task)`` in this process (None: workers
        only), every task once, yielded as tasks finish. A dead worker raises
        :class:`WorkerLost` naming the unfinished ``unit``."""
        assert self.pool is not None, "start() the workers first"
        feeder = _Feeder(self.pool, self.probes, work, deque(tasks), key, unit,
                         main_trains=local is not None)
        finished = False
        try:
            feeder.begin()
            while True:
                task = feeder.take() if local is not None else None
                if task is not None:
                    yield local(task)  # type: ignore[misc]
                yield from feeder.drain(block=task is None)
                if feeder.done():
                    break
            finished = True
        finally:
            feeder.halt()
            if not finished:
                self.close(finished=False)


class _Feeder:
    """Hands tasks to workers from a thread of the main process, as they become free."""

    def __init__(self, pool: Any, probes: list[Any], work: Callable[[Any], Any],
                 pending: deque[Any], key: Callable[[Any], int], unit: str,
                 main_trains: bool) -> None:
        self.main_trains = main_trains
        self.pool, self.probes, self.work = pool, probes, work
        self.pending, self.key, self.unit = pending, key, unit
        self.lock = threading.Lock()
        self.running: dict[Any, Any] = {}
        self.results: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="kexp-feeder", daemon=True)
        self.outstanding = 0  # results due from the workers (tasks given, failed starts)

    def begin(self) -> None:
        self.thread.start()

    def take(self) -> Any:
        """The next task for this process (None: none left)."""
        with self.lock:
            return self.pending.popleft() if self.pending else None

    def _give(self, cold: bool) -> None:
        """A pending task to a free worker (called with the lock held). A ``cold`` worker
        (ready, no task done yet: its first task also traces the model) gets one only
        while two or more are pending, when this process trains too: the last one stays
        with this process, which would finish it sooner."""
        if len(self.pending) < (2 if cold and self.main_trains else 1):
            return
        task = self.pending.popleft()
        self.outstanding += 1
        self.running[self.pool.submit(self.work, task)] = task

    def _loop(self) -> None:
        from concurrent.futures import FIRST_COMPLETED, wait

        waiting = set(self.probes)
        while not self.stopping.is_set():
            with self.lock:
                if not waiting and not self.running:
                    return
                watch = waiting | set(self.running)
            done, _ = wait(watch, timeout=0.2, return_when=FIRST_COMPLETED)
            with self.lock:
                for fut in done:
                    cold = fut in waiting
                    if cold:
                        waiting.discard(fut)
                        if fut.exception() is not None:  # the worker did not start
                            self.outstanding += 1
                            self.results.put((None, fut))
                    else:
                        self.results.put((self.running.pop(fut), fut))
                    if fut.exception() is None:
                        self._give(cold)  # the worker that finished is free: the next task

    def drain(self, block: bool) -> Iterator[Any]:
        """The results that came back (waiting for one when ``block`` and any is due)."""
        from concurrent.futures.process import BrokenProcessPool

        while True:
            with self.lock:
                due = self.outstanding > 0
            try:
                task, fut = self.results.get(block=block and due, timeout=0.5)
            except queue.Empty:
                if not (block and due):
                    return
                if self.thread.is_alive():
                    continue
                raise WorkerLost(f"the workers stopped with {self.unit} unfinished") from None
            with self.lock:
                self.outstanding -= 1
            try:
                result = fut.result()
            except BrokenProcessPool:
                with self.lock:
                    left = [t for t in [task, *self.running.values(), *self.pending]
                            if t is not None]
                    lost = sorted(self.key(t) for t in left)
                raise WorkerLost("a worker process died (killed, or out of memory); "
                                 f"unfinished {self.unit}: {', '.join(map(str, lost))}") from None
            if task is not None:
                yield result
            block = False

    def done(self) -> bool:
        with self.lock:
            return not self.pending and self.outstanding == 0

    def halt(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)


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
    if alive:  # (waiting on nothing would sleep the whole timeout)
        wait(list(alive), timeout=STOP_GRACE_S)  # killed: gone within moments
