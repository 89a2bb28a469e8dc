"""Progress of a CV or a sweep: which folds or trials started and finished, the epoch
each running one has reached, the time spent and an estimate of the time left.

Events flow one way. The runner (:mod:`kexp.engine.runner`) says when a task starts and
finishes; the task's fit reports each epoch (:func:`epoch`, called by the callback
:func:`kexp.train.callbacks.epoch_status`) under the task this process is working on
(:func:`working_on`). In a worker process the events go into a queue
(:func:`send_to`) that the main process relays (:func:`relay`). In the main process they
reach the view :func:`shown` opened, if any: a live :class:`LiveView` on a terminal
(``rich``), enabled by the command line (:func:`enable`); otherwise nothing is shown and
the one line per finished fold or trial stays the record, as in a log or CI.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

Event = tuple[Any, ...]

_SINK: list[Callable[[Event], None]] = []  # where events go from this process
_KEY = threading.local()  # .stack: the tasks this thread works on (outermost first)
_LIVE = threading.Event()  # the command line asked for a live view (stdout is a terminal)


def send_to(sink: Callable[[Event], None] | None) -> None:
    """Send this process's events to ``sink`` (None: drop them)."""
    _SINK[:] = [sink] if sink is not None else []


def _emit(event: Event) -> None:
    for sink in list(_SINK):
        with contextlib.suppress(Exception):  # progress never stops the work
            sink(event)


def relay(event: Event) -> None:
    """An event a worker reported, passed on to this process's view."""
    _emit(event)


@contextlib.contextmanager
def working_on(key: int) -> Iterator[None]:
    """While the block runs, epochs are reported as task ``key``'s. A task inside a task
    (a sweep trial's CV folds) reports under the outer one."""
    _keys().append(key)
    try:
        yield
    finally:
        _keys().pop()


def _keys() -> list[int]:
    if not hasattr(_KEY, "stack"):
        _KEY.stack = []
    stack: list[int] = _KEY.stack
    return stack


def started(key: int) -> None:
    if not _keys():  # a fold inside a trial is the trial's progress, not a task of its own
        _emit(("started", key))


def finished(key: int) -> None:
    if not _keys():
        _emit(("finished", key))


def epoch(done: int, epochs: int | None) -> None:
    """The running task has finished ``done`` of its ``epochs``."""
    keys = _keys()
    if keys:
        _emit(("epoch", keys[0], done, epochs))


def enable(live: bool = True) -> None:
    """Show a live view of the next CV or sweep this process runs (the command line: when
    stdout is a terminal)."""
    if live:
        _LIVE.set()
    else:
        _LIVE.clear()


@contextlib.contextmanager
def shown(unit: str, total: int, done: int = 0) -> Iterator[None]:
    """While the block runs ``total`` tasks (``done`` of them finished before), this
    process's events update a live view, when one is enabled."""
    if not _LIVE.is_set() or _SINK:
        yield
        return
    view = LiveView(unit, total, done)
    send_to(view.handle)
    try:
        with view:
            yield
    finally:
        send_to(None)


def clock(seconds: float) -> str:
    """``seconds`` as ``12s``, ``3m05s`` or ``1h02m``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class Tally:
    """What the view shows, from the events: tasks done, running (with their epochs) and
    left, the time spent, and the time left at the pace so far."""

    def __init__(self, unit: str, total: int, done: int = 0) -> None:
        self.unit, self.total, self.before = unit, total, done
        self.done = done
        self.running: dict[int, tuple[int, int | None]] = {}
        self.t0 = time.monotonic()
        self.lock = threading.Lock()

    def handle(self, event: Event) -> None:
        kind, key = event[0], event[1]
        with self.lock:
            if kind == "started":
                self.running[key] = (0, None)
            elif kind == "epoch":
                self.running[key] = (event[2], event[3])
            elif kind == "finished":
                self.running.pop(key, None)
                self.done += 1

    def fraction(self) -> float:
        """How much of this command's work is done: finished tasks, and the epochs of the
        running ones."""
        todo = self.total - self.before
        if todo <= 0:
            return 1.0
        part = sum(d / n for d, n in self.running.values() if n)
        return min(1.0, (self.done - self.before + part) / todo)

    def lines(self) -> list[str]:
        with self.lock:
            elapsed = time.monotonic() - self.t0
            frac = self.fraction()
            left = self.total - self.done - len(self.running)
            eta = clock(elapsed * (1 - frac) / frac) if frac > 0 else "?"
            head = (f"{self.unit}: {self.done}/{self.total} done, {len(self.running)} running, "
                    f"{left} left · {clock(elapsed)} elapsed, about {eta} left")
            name = self.unit.rstrip("s")
            rows = [f"  {name} {k}: " + (f"epoch {d}/{n}" if n else "starting")
                    for k, (d, n) in sorted(self.running.items())]
        return [head, *rows]


class LiveView(Tally):
    """The tally as a live view on the terminal (``rich.live``: redrawn four times a
    second; lines printed meanwhile appear above it)."""

    def __enter__(self) -> LiveView:
        from rich.console import Console
        from rich.live import Live
        from rich.text import Text

        self._text = Text
        self.live = Live(get_renderable=self.render, console=Console(), refresh_per_second=4,
                         transient=True, redirect_stdout=True, redirect_stderr=True)
        self.live.__enter__()
        return self

    def render(self) -> Any:
        return self._text("\n".join(self.lines()))

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)
