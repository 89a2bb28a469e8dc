"""Worker processes beside the main one: ``kexp cv --jobs N`` and ``kexp sweep --jobs N``
train on N processes, the main one and N - 1 spawned workers.

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

Each worker dies with the main process (:mod:`kexp.engine.lifeline`); on any stop (Ctrl-C,
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

from kexp.engine import progress
from kexp.engine.cores import threads_per_worker

STOP_GRACE_S = 10.0


class WorkerLost(Exception):
    """A worker process died (killed, or out of memory); the run stops as if interrupted."""


def _ready() -> int:
    """A worker's first task: return once its initializer (TensorFlow's import) is done."""
    return os.getpid()


def init_worker(parent_pid: int, threads: int, verbose: bool, events: Any = None) -> None:
    """A worker's start: die with the parent, report progress into ``events`` (the writing
    end of a pipe the parent reads), set TensorFlow's threads, import it."""
    from kexp import backend
    from kexp.engine.lifeline import die_with_parent

    die_with_parent(parent_pid)
    if events is not None:
        os.set_blocking(events.fileno(), False)  # a full pipe drops an event, never blocks
        progress.send_to(lambda event: _send(events, event))
    backend.set_verbose(verbose)
    backend.set_threads(threads)
    backend.keras()


def _send(events: Any, event: Any) -> None:
    """One progress event into the pipe: a message this small is written whole or not at
    all (POSIX: at most PIPE_BUF bytes), so the workers' messages never interleave."""
    with contextlib.suppress(OSError):  # full (the parent is not reading), or gone
        events.send(event)


def started(wanted: bool, jobs: int, threads: int | None, verbose: bool) -> Any:
    """A ``with`` block holding :func:`start`'s workers (None unless ``wanted``): left
    normally, the idle workers are killed; left by an exception, stopped as interrupted."""
    return start(jobs, threads, verbose) if wanted else contextlib.nullcontext()


def start(jobs: int, threads: int | None, verbose: bool) -> Workers:
    """The ``jobs - 1`` workers of ``--jobs N`` (this process trains too), spawned now,
    with ``threads`` TensorFlow threads each (None: ``cores // jobs``)."""
    import multiprocessing

    # the workers' progress events: a pipe (no semaphores to clean up at a quick exit)
    reader, writer = multiprocessing.get_context("spawn").Pipe(duplex=False)
    workers = Workers(jobs - 1, init_worker,
                      (os.getpid(), threads_per_worker(jobs, threads), verbose, writer), reader)
    workers.writer = writer
    return workers.start()


class Workers:
    """``count`` spawned worker processes, started at once (:meth:`start`)."""

    def __init__(self, count: int, initializer: Callable[..., None],
                 initargs: tuple[Any, ...], events: Any = None) -> None:
        self.count, self.initializer, self.initargs = count, initializer, initargs
        self.events = events  # the reading end of the workers' progress events (None: none)
        self.writer: Any = None  # its writing end, kept open for workers started later
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
        for end in (self.events, self.writer):
            if end is not None:
                end.close()
        self.events = self.writer = None

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
                         main_trains=local is not None, events=self.events)
        finished = False
        try:
            feeder.begin()
            while True:
                task = feeder.next_task() if local is not None else None
                if local is not None and task is not None:
                    yield local(task)
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
                 main_trains: bool, events: Any = None) -> None:
        self.main_trains, self.events = main_trains, events
        self.pool, self.probes, self.work = pool, probes, work
        self.pending, self.key, self.unit = pending, key, unit
        self.lock = threading.Lock()
        self.running: dict[Any, Any] = {}
        # (task, its future); the task is None for a worker that did not start
        self.results: queue.Queue[tuple[Any | None, Any]] = queue.Queue()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="kexp-feeder", daemon=True)
        self.outstanding = 0  # results due from the workers (tasks given, failed starts)

    def begin(self) -> None:
        self.thread.start()

    def next_task(self) -> Any:
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
        progress.started(self.key(task))

    def _loop(self) -> None:
        from concurrent.futures import FIRST_COMPLETED, wait

        waiting = set(self.probes)
        while not self.stopping.is_set():
            with self.lock:
                if not waiting and not self.running:
                    return
                watch = waiting | set(self.running)
            done, _ = wait(watch, timeout=0.2, return_when=FIRST_COMPLETED)
            self._relay()
            with self.lock:
                for fut in done:
                    cold = fut in waiting
                    if cold:
                        waiting.discard(fut)
                        if fut.exception() is not None:  # the worker did not start
                            self.outstanding += 1
                            self.results.put((None, fut))
                    else:
                        task = self.running.pop(fut)
                        progress.finished(self.key(task))
                        self.results.put((task, fut))
                    if fut.exception() is None:
                        self._give(cold)  # the worker that finished is free: the next task

    def _relay(self) -> None:
        """The workers' progress events so far, passed on to this process's view."""
        if self.events is None:
            return
        with contextlib.suppress(OSError, EOFError, ValueError):  # closed, or a cut message
            while self.events.poll():
                progress.relay(self.events.recv())

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
