"""Output to a closed pipe (``kexp ls | head -1``) is dropped, never a failure."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

#: where a library function's progress lines go (the command line prints them)
Log = Callable[[str], None]


def silent(_: str) -> None:
    """A ``log`` that says nothing."""


class PipeSafe:
    """A text stream whose output to a closed pipe (``kexp run ... | head -1``) is dropped:
    at the first BrokenPipeError its descriptor is pointed at ``os.devnull``."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self._safely(self.stream.write, text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        self._safely(self.stream.writelines, lines)

    def flush(self) -> None:
        self._safely(self.stream.flush)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)

    def _safely(self, method: Callable[..., Any], *args: Any) -> None:
        try:
            method(*args)
        except BrokenPipeError:
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self.stream.fileno())
                os.close(devnull)
                method(*args)


@contextlib.contextmanager
def pipe_safe_output() -> Iterator[None]:
    """While the block runs, ``sys.stdout`` and ``sys.stderr`` are :class:`PipeSafe`."""
    saved = sys.stdout, sys.stderr
    wrapped = [s if s is None or isinstance(s, PipeSafe) else PipeSafe(s) for s in saved]
    sys.stdout, sys.stderr = wrapped
    try:
        yield
    finally:
        for stream in wrapped:
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
        if sys.stdout is wrapped[0]:
            sys.stdout = saved[0]
        if sys.stderr is wrapped[1]:
            sys.stderr = saved[1]
