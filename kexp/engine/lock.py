"""One process at a time holds a CV folder or a sweep folder.

:func:`hold` locks ``<cv>/.lock`` without waiting (filelock's ``lock_descriptor``: the
``flock`` that ``FileLock`` uses, on a descriptor kexp owns) and writes the holder's pid
and host into it; a second ``kexp cv`` on the folder gets a :class:`RunError` naming
them. The worker processes inherit the locked descriptor (:meth:`FolderLock.inherited`),
so the lock is held until the last of them is gone: a resume can never race a worker
that outlived its parent. Nothing reads the hidden ``.lock`` but this module.
"""

from __future__ import annotations

import json
import os
import socket
import time
from multiprocessing import context
from pathlib import Path
from typing import Any

from filelock import lock_descriptor, unlock_descriptor

from kexp.engine.lifeline import pid_alive
from kexp.errors import RunError

LOCK_FILE = ".lock"


class Inherited:
    """A descriptor of the lock that a :mod:`multiprocessing` process receives: pickled
    while the child is spawned, it is added to the descriptors the child keeps open;
    pickled later (a task sent to a running worker), it is passed over a Unix socket
    (``multiprocessing.reduction.DupFd``). Either way the child holds the same open
    lock, and never touches it (unlocking it would free the parent's lock)."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, tuple[Any]]:
        if self.fd is None:
            return Inherited, (None,)
        popen = context.get_spawning_popen()
        if popen is not None and hasattr(popen, "duplicate_for_child"):
            return Inherited, (popen.duplicate_for_child(self.fd),)
        from multiprocessing import reduction

        if not getattr(reduction, "HAVE_SEND_HANDLE", False):
            return Inherited, (None,)
        return _received, (reduction.DupFd(self.fd),)


def _received(dup: Any) -> Inherited:
    """The lock's descriptor, received from the process that holds it."""
    return Inherited(dup.detach())


class FolderLock:
    """The held lock of one CV or sweep folder; :meth:`release` (or leaving ``with``) frees it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd: int | None = fd

    def inherited(self) -> Inherited:
        return Inherited(self.fd)

    def release(self) -> None:
        fd, self.fd = self.fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
            unlock_descriptor(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def hold(cv_dir: Path, command: str = "kexp cv") -> FolderLock:
    """Lock ``cv_dir`` for this process; RunError if another process holds it
    (``command`` is what a user resumes the folder with: ``kexp cv``, ``kexp sweep``)."""
    path = Path(cv_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise RunError(f"{path}: cannot open the CV folder's lock file ({exc.strerror})") from None
    try:
        if not lock_descriptor(fd, blocking=False):
            raise RunError(_in_use(cv_dir, _holder(fd), command))
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                  "since": _now()}).encode(), 0)
    except OSError as exc:
        os.close(fd)
        raise RunError(f"{path}: cannot lock the CV folder ({exc.strerror or exc}); "
                       "its file system may not support file locks") from None
    except BaseException:
        os.close(fd)
        raise
    return FolderLock(path, fd)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())


def _holder(fd: int, wait_s: float = 1.0) -> dict[str, Any]:
    """What the holder wrote into the lock file (it writes right after locking)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            data = json.loads(os.pread(fd, 4096, 0) or b"null")
        except (OSError, ValueError):
            data = None
        if isinstance(data, dict) or time.monotonic() > deadline:
            return data if isinstance(data, dict) else {}
        time.sleep(0.05)


def _in_use(cv_dir: Path, holder: dict[str, Any], command: str) -> str:
    pid, host = holder.get("pid"), holder.get("host")
    if not isinstance(pid, int):
        who = "another process (its pid is not recorded)"
    else:
        who = f"pid {pid}" + (f" on {host}" if host and host != socket.gethostname() else "")
    msg = (f"{cv_dir}: in use by {who}, which holds {cv_dir / LOCK_FILE}; two processes "
           f"must not train the same {'trials' if command == 'kexp sweep' else 'folds'}.")
    if isinstance(pid, int) and host == socket.gethostname() and not pid_alive(pid):
        return (f"{msg} Pid {pid} has exited but its worker processes still hold the lock; "
                "they stop within seconds: try again then")
    stop = f" (kill {pid})" if isinstance(pid, int) else ""
    return f"{msg} Wait for it to finish, or stop it{stop}, then run {command} --resume {cv_dir}"
