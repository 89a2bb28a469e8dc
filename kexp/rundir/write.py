"""The run folder: the record of one experiment.

Every file is written to a temporary name in the same folder and moved into
place with ``os.replace``, so a reader never sees half a file. ``status.json``
says running / completed / failed / interrupted; :meth:`RunFolder.guard` makes
sure an exception, Ctrl-C or SIGTERM never leaves it saying "running".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from kexp.errors import KexpError


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(tmp, mode, **({} if isinstance(data, bytes) else {"encoding": "utf-8"})) as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json.dumps(obj, indent=2, default=str) + "\n")


def write_yaml(path: Path, obj: Any) -> None:
    atomic_write(path, yaml.safe_dump(obj, sort_keys=False, allow_unicode=True))


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM."""


class RunFolder:
    """A folder ``<runs_dir>/<YYYYmmdd-HHMMSS>-<name>-<6 hex>/``."""

    def __init__(self, path: Path, kind: str = "run") -> None:
        self.path = path
        self.kind = kind
        self._status: dict[str, Any] = {}
        self._t0 = time.monotonic()

    @classmethod
    def create(cls, runs_dir: Path, name: str, kind: str = "run") -> RunFolder:
        """Make a new, unique folder (never reuses or overwrites one)."""
        runs_dir.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        for _ in range(100):
            path = runs_dir / f"{stamp}-{name}-{secrets.token_hex(3)}"
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return cls(path, kind)
        raise OSError(f"could not create a unique run folder in {runs_dir}")  # pragma: no cover

    @classmethod
    def reopen(cls, path: Path, status: dict[str, Any], kind: str = "run") -> RunFolder:
        """An existing folder whose work goes on (``kexp cv --resume``): its status as
        saved, marked running again by this process."""
        rf = cls(path, kind)
        rf._status = dict(status)
        rf.set_status("running", error=None, finished=None, duration_s=None, pid=os.getpid(),
                      host=socket.gethostname())
        return rf

    # -- files
    def file(self, name: str) -> Path:
        return self.path / name

    def write_text(self, name: str, text: str) -> Path:
        atomic_write(self.file(name), text)
        return self.file(name)

    def write_json(self, name: str, obj: Any) -> Path:
        write_json(self.file(name), obj)
        return self.file(name)

    def write_yaml(self, name: str, obj: Any) -> Path:
        write_yaml(self.file(name), obj)
        return self.file(name)

    # -- status
    def set_status(self, status: str | None = None, **fields: Any) -> None:
        if not self._status:
            self._status = {
                "kind": self.kind,
                "name": None,
                "status": "running",
                "started": now_iso(),
                "finished": None,
                "duration_s": None,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "error": None,
                "epochs": 0,
                "notes": [],
            }
        if status is not None:
            self._status["status"] = status
            if status != "running":
                self._status["finished"] = now_iso()
                self._status["duration_s"] = round(time.monotonic() - self._t0, 3)
        self._status.update(fields)
        self.write_json("status.json", self._status)

    @property
    def status(self) -> dict[str, Any]:
        return dict(self._status)

    @contextlib.contextmanager
    def guard(self) -> Iterator[RunFolder]:
        """Mark the run failed/interrupted if the block does not finish."""
        previous = None
        if threading.current_thread() is threading.main_thread():

            def on_term(signum: int, frame: Any) -> None:
                raise Interrupted()

            previous = signal.signal(signal.SIGTERM, on_term)
        try:
            yield self
        except KeyboardInterrupt:
            self.set_status("interrupted", error="interrupted (Ctrl-C or SIGTERM)")
            raise
        except BaseException as exc:
            msg = str(exc) if isinstance(exc, KexpError) else f"{type(exc).__name__}: {exc}"
            self.set_status("failed", error=msg)
            raise
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
