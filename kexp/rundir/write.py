"""The run folder: the record of one experiment.

Every file is written to a temporary name in the same folder and moved into
place with ``os.replace`` (:func:`replacing`), so a reader never sees half a
file, and a failed write leaves no temporary file behind: it becomes a
:class:`WriteError` naming the file and what happened (disk full, file-size limit).

``status.json`` says running / completed / failed / interrupted;
:meth:`RunFolder.guard` makes sure an exception, Ctrl-C or SIGTERM never leaves
it saying "running". Inside the guard a signal only asks for a stop
(:func:`kexp.engine.signals.stop_on_signals`); training honours it at the next batch
(``kexp.train.callbacks``) and the folder at its next file, both in the main
thread, by raising :class:`kexp.engine.signals.Interrupted`. Output to a closed pipe
(``kexp run ... | head -1``) is dropped, never a failure
(:func:`kexp.engine.output.pipe_safe_output`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from kexp.engine.output import pipe_safe_output
from kexp.engine.signals import raise_if_stopped, signal_name, stop_on_signals
from kexp.errors import KexpError, UsageError


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


_WHAT = {  # errno: (what happened, how to fix it)
    errno.ENOSPC: ("no space left on device", "free some space and run again"),
    errno.EFBIG: ("file too large: the file-size limit (ulimit -f) was reached",
                  "raise the limit and run again"),
    errno.EDQUOT: ("disk quota exceeded", "free some space and run again"),
    errno.EROFS: ("read-only file system", "write elsewhere (--runs-dir)"),
    errno.EACCES: ("permission denied", "check the folder's permissions or write elsewhere"),
}
DISK_FULL = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
TEMPORARY = re.compile(r"^\..+\.tmp(\.[^.]+)?$")  # .a.json.123.tmp, .model.123.tmp.keras


class WriteError(KexpError, OSError):
    """A file could not be written (disk full, file-size limit, permissions): an
    environment failure, exit code 1, reported in one line naming the file."""

    exit_code = 1

    def __init__(self, target: Path, cause: OSError) -> None:
        what, fix = _WHAT.get(cause.errno or 0, ((cause.strerror or str(cause)).lower(), ""))
        where = f"writing into {target}" if target.is_dir() else f"writing {target}"
        self.message = f"{what} while {where}" + (f"; {fix}" if fix else "")
        super().__init__(self.message)
        self.cause_errno = cause.errno

    def __str__(self) -> str:
        return self.message


def as_write_error(exc: BaseException, folder: Path) -> BaseException:
    """``exc``, or a :class:`WriteError` when it is a disk-full OSError raised while
    writing into ``folder`` by someone else (Keras's CSVLogger, matplotlib)."""
    if isinstance(exc, OSError) and not isinstance(exc, WriteError) and exc.errno in DISK_FULL:
        return WriteError(Path(exc.filename) if isinstance(exc.filename, str) else folder, exc)
    return exc


def error_text(exc: BaseException) -> str:
    """How a failure is recorded: a KexpError's message, else ``Type: message``."""
    return str(exc) if isinstance(exc, KexpError) else f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def replacing(path: Path, keep_suffix: bool = False) -> Iterator[Path]:
    """A temporary path next to ``path`` (``.name.<pid>.tmp``, or ``.stem.<pid>.tmp.suffix``),
    moved into place when the block succeeds and removed when it does not; an OSError
    becomes a :class:`WriteError` naming ``path``."""
    name = f".{path.stem}.{os.getpid()}.tmp{path.suffix}" if keep_suffix else f".{path.name}.{os.getpid()}.tmp"
    tmp = path.with_name(name)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise WriteError(path, exc) from exc
        raise


def remove_temporaries(folder: Path) -> None:
    """Remove the temporary files (``.*.tmp``) a failed write left in ``folder``."""
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            if TEMPORARY.match(entry.name) and entry.is_file():
                entry.unlink(missing_ok=True)


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder."""
    with replacing(path) as tmp:
        mode = "wb" if isinstance(data, bytes) else "w"
        with open(tmp, mode, encoding=None if isinstance(data, bytes) else "utf-8") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json.dumps(obj, indent=2, default=str) + "\n")


def write_yaml(path: Path, obj: Any) -> None:
    atomic_write(path, yaml.safe_dump(obj, sort_keys=False, allow_unicode=True))


def empty_folder(folder: Path, keep: tuple[str, ...] = ()) -> None:
    """Remove ``folder``'s files and subfolders, but those named in ``keep`` (an earlier
    attempt's files, before a fold or trial is trained again)."""
    import shutil

    for p in folder.iterdir():
        if p.name in keep:
            continue
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()


def write_tree(folder: Path, files: dict[str, bytes], keep: tuple[str, ...] = ()) -> None:
    """A folder's files (relative path -> bytes, as a Ray task returned them), each written
    atomically into ``folder``, whose earlier files are removed first (those named in
    ``keep`` stay)."""
    folder.mkdir(parents=True, exist_ok=True)
    empty_folder(folder, keep)
    for name, content in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, content)


def check_creatable(folder: Path, option: str, given: Path | None = None) -> None:
    """UsageError naming ``option`` and its value ``given`` (default: ``folder``) when
    ``folder`` could not be made or written in: a part of its path is a file, or the
    nearest folder of it that exists cannot be written (its permissions, a read-only file
    system). Nothing is made: a run that stops before its folder leaves none behind."""
    shown = f"{option} {given if given is not None else folder}"
    here = Path(folder).absolute()
    while not here.exists() and here != here.parent:
        here = here.parent
    if not here.is_dir():
        raise UsageError(f"{shown}: {here} is a file, not a folder; name a folder for {option}")
    if os.access(here, os.W_OK | os.X_OK):
        return
    try:
        read_only = bool(os.statvfs(here).f_flag & os.ST_RDONLY)
    except OSError:  # pragma: no cover - a folder that exists but cannot be asked
        read_only = False
    why = "a read-only file system" if read_only else "no permission to write there"
    raise UsageError(f"{shown}: cannot write in {here} ({why}); name a folder this user can "
                     "write")


class RunFolder:
    """A folder ``<runs_dir>/<YYYYmmdd-HHMMSS>-<name>-<6 hex>/``."""

    def __init__(self, path: Path, kind: str = "run") -> None:
        self.path = path
        self.kind = kind
        self._status: dict[str, Any] = {}
        self._t0 = time.monotonic()
        self._guarded = False

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

    @classmethod
    def resumed(cls, path: Path, status: dict[str, Any], from_epoch: int) -> RunFolder:
        """A run folder going on from its checkpoint of ``from_epoch`` epochs
        (``kexp run --resume``, a fold or trial trained again): :meth:`reopen`, with the
        resume added to status.json's ``resumes`` (from which epoch, when, which process)."""
        rf = cls.reopen(path, status)
        rf.set_status(resumes=[*(status.get("resumes") or []), {
            "from_epoch": from_epoch, "at": now_iso(), "pid": os.getpid()}])
        return rf

    # -- files
    def file(self, name: str) -> Path:
        return self.path / name

    def write_text(self, name: str, text: str) -> Path:
        self._honour_stop()
        atomic_write(self.file(name), text)
        return self.file(name)

    def write_json(self, name: str, obj: Any) -> Path:
        self._honour_stop()
        write_json(self.file(name), obj)
        return self.file(name)

    def write_yaml(self, name: str, obj: Any) -> Path:
        self._honour_stop()
        write_yaml(self.file(name), obj)
        return self.file(name)

    def replacing(self, name: str) -> contextlib.AbstractContextManager[Path]:
        """A temporary path for ``name`` (suffix kept: ``model.keras``), see :func:`replacing`."""
        self._honour_stop()
        return replacing(self.file(name), keep_suffix=True)

    def _honour_stop(self) -> None:
        if self._guarded:
            raise_if_stopped()

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
        write_json(self.file("status.json"), self._status)  # also while stopping

    @property
    def status(self) -> dict[str, Any]:
        return dict(self._status)

    @contextlib.contextmanager
    def guard(self) -> Iterator[RunFolder]:
        """Mark the run failed/interrupted if the block does not finish.

        SIGINT/SIGTERM ask for a stop, honoured between batches and at the next file
        written (:class:`Interrupted`); a second signal while stopping changes nothing.
        Temporary files are removed however the block ends.
        """
        with pipe_safe_output(), stop_on_signals():
            self._guarded = True
            try:
                yield self
            except KeyboardInterrupt as exc:
                self._end("interrupted", f"interrupted ({signal_name(getattr(exc, 'signum', None))})")
                raise
            except BaseException as exc:
                error = as_write_error(exc, self.path)
                self._end("failed", error_text(error))
                if error is not exc:
                    raise error from exc
                raise
            finally:
                self._guarded = False
                remove_temporaries(self.path)

    def _end(self, status: str, error: str) -> None:
        """Record how the run ended; when the disk is full, status.json is rewritten in
        place (the old file's space holds the new one)."""
        try:
            self.set_status(status, error=error)
        except OSError:
            with contextlib.suppress(OSError):
                text = json.dumps(self._status, indent=2, default=str)
                self.file("status.json").write_text(text + "\n", encoding="utf-8")
