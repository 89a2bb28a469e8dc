"""Signals and the stop request: how Ctrl-C and SIGTERM stop kexp in order.

Inside a run's guard (:meth:`kexp.rundir.write.RunFolder.guard`) a signal only asks for a
stop (:func:`stop_on_signals` sets :data:`STOP`); training honours it at the next batch
(:class:`kexp.train.callbacks.StopOnSignal`) and the run folder at its next file, both in
the main thread, by raising :class:`Interrupted`. Around the loop that hands out folds or
trials, :func:`interruptible` makes SIGTERM stop it like Ctrl-C and turns an interrupt
or a lost worker into one :class:`Stopped` with its reason.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


class Interrupted(KeyboardInterrupt):
    """A stop asked for by SIGTERM or Ctrl-C, raised in the main thread."""

    def __init__(self, signum: int | None = None) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum


def signal_name(signum: int | None) -> str:
    if signum == signal.SIGINT:
        return "Ctrl-C"
    if signum is None:
        return "Ctrl-C or SIGTERM"
    return signal.Signals(signum).name


class StopRequest:
    """The first SIGINT/SIGTERM received while :func:`stop_on_signals` is active."""

    signum: int | None = None


STOP = StopRequest()


def stop_requested() -> int | None:
    """The signal that asked this process to stop, or None."""
    return STOP.signum


def raise_if_stopped() -> None:
    """Raise :class:`Interrupted` when a signal asked for a stop (call between batches)."""
    if STOP.signum is not None:
        raise Interrupted(STOP.signum)


def ask_to_stop(signum: int, frame: Any) -> None:
    """The signal handler: remember the first signal; later ones change nothing."""
    if STOP.signum is None:
        STOP.signum = signum


def handled(sig: int) -> bool:
    """Whether the process handles ``sig`` (one it ignores stays ignored)."""
    return signal.getsignal(sig) not in (signal.SIG_IGN, None)


def in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM only set :data:`STOP` (nothing is raised
    inside a signal handler, where TensorFlow may be running). The request is new at
    each block and stays set after it (the process is stopping). A signal the process
    ignores stays ignored; off the main thread nothing changes."""
    previous: dict[int, Any] = {}
    if in_main_thread():
        STOP.signum = None
        previous = {sig: signal.signal(sig, ask_to_stop)
                    for sig in (signal.SIGINT, signal.SIGTERM) if handled(sig)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def raise_on_sigterm() -> Any:
    """SIGTERM stops the CV (or sweep) like Ctrl-C (finished folds or trials kept, status
    interrupted); a second one while the workers are being stopped changes nothing. Returns
    the previous handler (None outside the main thread)."""
    if not in_main_thread():
        return None
    received: list[int] = []

    def on_term(signum: int, frame: Any) -> None:
        if not received:
            received.append(signum)
            raise Interrupted()

    return signal.signal(signal.SIGTERM, on_term)


class Stopped(KeyboardInterrupt):
    """The loop over folds or trials stopped early: Ctrl-C, SIGTERM or a lost worker
    (``reason`` says which)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unfinished(KeyboardInterrupt):
    """A CV or sweep stopped with work left: the finished folds or trials are kept in
    ``path``; ``command --resume path`` trains the rest."""

    unit = "tasks"
    command = "kexp"

    def __init__(self, path: Any, done: int, total: int, reason: str) -> None:
        super().__init__(reason)
        self.path, self.done, self.total, self.reason = path, done, total, reason

    def advice(self) -> str:
        return (f"Interrupted: {self.reason}. {self.done} of {self.total} {self.unit} completed "
                f"and kept in {self.path}.\nContinue with: {self.command} --resume {self.path}")


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """While the block runs, SIGTERM stops it like Ctrl-C; either, or a lost worker
    (:class:`kexp.engine.workers.WorkerLost`), leaves it as :class:`Stopped`."""
    from kexp.engine.workers import WorkerLost

    previous = raise_on_sigterm()
    try:
        yield
    except Stopped:
        raise
    except WorkerLost as exc:
        raise Stopped(str(exc)) from None
    except KeyboardInterrupt:
        raise Stopped("interrupted (Ctrl-C or SIGTERM)") from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
