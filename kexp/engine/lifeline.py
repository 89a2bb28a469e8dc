"""Processes that die with their parent, and whether a process is alive.

:func:`die_with_parent` is the first thing a CV worker process does: on Linux it asks
the kernel for SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``, through
ctypes), checks that the parent is still the one that started it (it may have died
already), and starts a watchdog thread that polls the parent pid, the portable
fallback. A ``kill -9`` of ``kexp cv --jobs N`` thus leaves no worker training on.

:func:`reaper` covers processes kexp does not write: a local Ray instance's (its GCS,
raylet and their agents, which outlive a ``kill -9`` of their driver by about a minute
while they try to report the raylet's death to the dead GCS). A small watchdog process
records this process's descendants every :data:`POLL_S` and, once this process is gone,
kills those still there, then exits.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

PR_SET_PDEATHSIG = 1  # linux/prctl.h
POLL_S = 0.5


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


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


#: the watchdog of :func:`reaper` (standard library only, so it starts in moments)
REAPER = """\
import os, signal, sys, time
root, poll = int(sys.argv[1]), float(sys.argv[2])
def stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            text = fh.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # state, ppid, ..., [19] start time
def alive(pid):
    fields = stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")
known = {}
while alive(root):
    kids = {}
    for entry in os.listdir("/proc"):
        fields = stat(entry) if entry.isdigit() else None
        if fields is not None:
            kids.setdefault(int(fields[1]), []).append((int(entry), fields[19]))
    todo = [root]
    while todo:
        for pid, started in kids.get(todo.pop(), []):
            if pid != os.getpid():
                known[pid] = started
                todo.append(pid)
    time.sleep(poll)
for pid, started in known.items():
    fields = stat(pid)
    if fields is not None and fields[19] == started:  # the same process, not a reused pid
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
"""


def reaper(poll_s: float = POLL_S) -> Any:
    """Start the watchdog that kills this process's descendants once this process is gone
    (Linux; None elsewhere). ``.kill()`` it after shutting them down the usual way."""
    if not os.path.isdir("/proc"):
        return None
    return subprocess.Popen([sys.executable, "-c", REAPER, str(os.getpid()), str(poll_s)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
