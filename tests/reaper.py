"""A pytest plugin: every process a test starts (``subprocess.Popen``, and ``run`` through
it) is ended when the test ends, whatever its assertions did. A test that starts a CV in its
own session and fails before its ``finally`` (a helper that timed out waiting for a worker)
would otherwise leave that CV and its workers training for as long as the machine is up.

A process started with ``start_new_session`` leads a process group that holds everything it
started, also once orphaned: the whole group gets SIGKILL. Any other process gets SIGKILL
itself. Loaded by ``tests/conftest.py`` (``pytest_plugins``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

_Popen = subprocess.Popen
#: the tests' folder: processes started by code in it (or in any test_*.py) end with the test
TESTS = os.path.dirname(os.path.abspath(__file__)) + os.sep


class _Started(_Popen):  # type: ignore[type-arg]
    """``subprocess.Popen``, recording in :data:`STARTED` what the tests' own code starts
    (not what a library starts for itself: Ray's services, ``subprocess.run``'s child)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        caller = sys._getframe(1).f_code.co_filename
        if caller.startswith(TESTS) or os.path.basename(caller).startswith("test_"):
            STARTED.append((self, bool(kwargs.get("start_new_session")
                                       or kwargs.get("process_group") == 0)))


#: (process, whether it leads its own process group) started by the running test
STARTED: list[tuple[subprocess.Popen, bool]] = []


def end(proc: subprocess.Popen, leads_group: bool) -> bool:
    """SIGKILL to ``proc`` (and to its group when it leads one); whether anything was left."""
    left = proc.poll() is None
    try:
        if leads_group:
            os.killpg(proc.pid, signal.SIGKILL)  # also the orphans of a leader that is gone
            left = True
        elif left:
            proc.kill()
    except ProcessLookupError:
        left = proc.poll() is None
    except PermissionError:  # the group's id was taken by a process of another user
        pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:  # pragma: no cover - an unkillable process (D state)
        pass
    return left


@pytest.fixture(autouse=True)
def _end_started_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(subprocess, "Popen", _Started)
    STARTED.clear()
    try:
        yield
    finally:
        for proc, leads_group in reversed(STARTED):
            end(proc, leads_group)
        STARTED.clear()
