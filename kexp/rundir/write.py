"""The run folder: the record of one experiment.

Every file is written to a temporary name in the same folder and moved into
place with ``os.replace`` (:func:`replacing`), so a reader never sees half a
file, and a failed write leaves no temporary file behind: it becomes a
:class:`WriteError` naming the file and what happened (disk full, file-size limit).

``status.json`` says running / completed / failed / interrupted;
:meth:`RunFolder.guard` makes sure an exception, Ctrl-C or SIGTERM never leaves
it saying "running". Inside the guard a signal only asks for a stop
(:func:`stop_on_signals`); training honours it at the next batch
(``kexp.train.callbacks``) and the folder at its next file, both in the main
thread, by raising :class:`Interrupted`. Output to a closed pipe
(``kexp run ... | head -1``) is dropped, never a failure (:func:`pipe_safe_output`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import yaml

from kexp.errors import KexpError


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
        with open(tmp, mode, **({} if isinstance(data, bytes) else {"encoding": "utf-8"})) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json.dumps(obj, indent=2, default=str) + "\n")


def write_yaml(path: Path, obj: Any) -> None:
    atomic_write(path, yaml.safe_dump(obj, sort_keys=False, allow_unicode=True))


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


def _handled(sig: int) -> bool:
    return signal.getsignal(sig) not in (signal.SIG_IGN, None)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM only set :data:`STOP` (nothing is raised
    inside a signal handler, where TensorFlow may be running). The request is new at
    each block and stays set after it (the process is stopping). A signal the process
    ignores stays ignored; off the main thread nothing changes."""
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        STOP.signum = None
        previous = {sig: signal.signal(sig, ask_to_stop)
                    for sig in (signal.SIGINT, signal.SIGTERM) if _handled(sig)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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

    main = threading.current_thread() is threading.main_thread()
    handled = [sig for sig in (signal.SIGINT, signal.SIGTERM) if main and _handled(sig)]
    for sig in handled:
        signal.signal(sig, on_signal)
    try:
        with pipe_safe_output():
            yield
    finally:
        for sig in handled:  # Python resets handlers, not SIG_IGN, to the default as it exits
            signal.signal(sig, signal.SIG_IGN)


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
    sys.stdout, sys.stderr = wrapped  # type: ignore[assignment]
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
