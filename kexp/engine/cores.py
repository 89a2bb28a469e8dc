"""How many cores kexp may use: those this process may run on (its CPU affinity), less
those other programs keep busy, shared out between ``--jobs N`` processes."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

#: set to 0 to start every worker --jobs asks for even on a busy machine (the fault tests)
BUSY_CHECK_ENV = "KEXP_BUSY_CHECK"


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask where the system has one: a
    container or ``taskset`` may allow fewer than the machine has)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


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
    """``threads``, or by default the usable cores shared out between ``jobs`` processes
    (at least 1)."""
    return threads or max(1, usable_cores() // max(1, jobs))


def threads_per_task(jobs: int, threads: int | None) -> int:
    """A Ray task's threads: ``threads``, else a share of the cores when ``jobs > 1``
    bounds the tasks at once, else 1 (Ray runs one task per CPU)."""
    return threads or (threads_per_worker(jobs, None) if jobs > 1 else 1)
