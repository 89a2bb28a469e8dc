"""The ``kexp`` program's process: its signals from start to end, and its quick exit."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

from kexp.engine.output import pipe_safe_output
from kexp.engine.signals import STOP, Interrupted, handled, in_main_thread

#: modules whose exit hooks must run: MLflow ends its runs and flushes queued logging, Ray
#: stops its processes, Optuna closes its storage. With one loaded, kexp exits the usual way.
EXIT_HOOKS = ("mlflow", "ray", "optuna", "pyinstrument", "coverage")  # their atexit work must run


@contextlib.contextmanager
def command_process() -> Iterator[None]:
    """The ``kexp`` program's whole life, outside a run's guard too: the first SIGINT or
    SIGTERM raises :class:`Interrupted` (exit 130); later ones, those after a stop in a
    guard and those during the interpreter's exit are ignored, so that a stopping process
    records its end and exits 130 in peace. Output goes through :func:`pipe_safe_output`."""

    def on_signal(signum: int, frame: Any) -> None:
        if STOP.signum is None:
            STOP.signum = signum
            raise Interrupted(signum)

    main = in_main_thread()
    watched = [sig for sig in (signal.SIGINT, signal.SIGTERM) if main and handled(sig)]
    for sig in watched:
        signal.signal(sig, on_signal)
    try:
        with pipe_safe_output():
            yield
    finally:
        for sig in watched:  # Python resets handlers, not SIG_IGN, to the default as it exits
            signal.signal(sig, signal.SIG_IGN)


def quick_exit_safe() -> bool:
    """Whether this process may skip the interpreter's exit: TensorFlow is loaded (its
    teardown takes about a second: ``kexp run configs/mnist.yaml`` ends in 4.9 s instead of
    5.9 s), no module of :data:`EXIT_HOOKS` is, and no child process is left. Everything
    kexp writes is complete and closed by then (files are written whole and renamed)."""
    import multiprocessing

    if "tensorflow" not in sys.modules or any(m in sys.modules for m in EXIT_HOOKS):
        return False
    return not multiprocessing.active_children()


def quick_exit() -> None:
    """Flush the output and logging, then end the process with exit code 0 at once."""
    import logging

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more to say
            pass
    logging.shutdown()
    os._exit(0)
