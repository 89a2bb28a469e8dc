"""Worker processes that die with their parent.

:func:`die_with_parent` is the first thing a CV worker process does: on Linux it asks
the kernel for SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``, through
ctypes), checks that the parent is still the one that started it (it may have died
already), and starts a watchdog thread that polls the parent pid, the portable
fallback. A ``kill -9`` of ``kexp cv --jobs N`` thus leaves no worker training on.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # linux/prctl.h
POLL_S = 0.5


def die_with_parent(parent_pid: int, poll_s: float = POLL_S) -> None:
    """End this process as soon as ``parent_pid`` (its parent now) is gone."""
    if sys.platform.startswith("linux"):
        parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGKILL)
    threading.Thread(target=_watch, args=(parent_pid, poll_s), name="kexp-parent-watchdog",
                     daemon=True).start()


def parent_death_signal(signum: int) -> bool:
    """Ask Linux to send ``signum`` to this process when its parent dies; False if it cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent_pid: int, poll_s: float) -> None:
    while os.getppid() == parent_pid:
        time.sleep(poll_s)
    os.kill(os.getpid(), signal.SIGKILL)
