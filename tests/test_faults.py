"""A single run under faults: SIGTERM and Ctrl-C (also with the CPU saturated), a closed
stdout/stderr, a full disk or a file-size limit. Real ``kexp run`` subprocesses; after each,
the run folder tells the truth, no temporary file is left and no child process survives.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kexp.engine import output
from kexp.engine import signals as engine_signals
from kexp.engine.signals import Interrupted
from kexp.rundir import write
from kexp.rundir.write import RunFolder, WriteError
from tests.conftest import PIMA_SPEC
from tests.helpers import kexp_env, kill_group, status_once_training

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc, rlimits")

START_S = 300  # TensorFlow's import on 2 busy cores can take a minute
STOP_S = 120
LONG = PIMA_SPEC.replace("epochs: 2", "epochs: 100000").replace("batch_size: 16", "batch_size: 1")
BIG = PIMA_SPEC.replace("units: 4,", "units: 512,")  # model.keras ~80 KB, the rest < 12 KB
BIG_MODEL = BIG.replace("  epochs: 2\n", "  epochs: 2\n  checkpoint: false\n")
BIG_CHECKPOINT = BIG  # the first epoch's checkpoint (weights + Adam's slots, ~60 KB) is too large


# ---------------------------------------------------------------------------- helpers

def _kexp(workdir: Path, *args: str, limit: int | None = None, pipes: bool = False) -> subprocess.Popen:
    """``kexp ARGS`` in its own session (its process group is its pid: see _survivors), with
    Ctrl-C handled even where this test runs with SIGINT ignored, and an optional file-size
    limit; stdout/stderr to pipes or to files in ``workdir``."""

    def preexec() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if limit is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit raise EFBIG
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    with open(workdir / "stdout.txt", "w") as out, open(workdir / "stderr.txt", "w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "kexp", *args], cwd=workdir, text=True,
            stdout=subprocess.PIPE if pipes else out, stderr=subprocess.PIPE if pipes else err,
            env=kexp_env(),
            start_new_session=True, preexec_fn=preexec,
        )


def _wait(proc: subprocess.Popen, timeout: float) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        raise


def _status_when_training(workdir: Path, proc: subprocess.Popen, epochs: int = 1) -> Path:
    """status.json of the run once it says running with ``epochs`` done."""
    return status_once_training(workdir, "runs/*/status.json", proc, START_S, epochs)


def _stderr(workdir: Path) -> str:
    path = workdir / "stderr.txt"
    return path.read_text() if path.exists() else ""


def _survivors(pgid: int) -> list[str]:
    """Processes still in the process group ``pgid`` (children of a kexp that exited)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        if int(fields[2]) == pgid:
            found.append(text[:text.rindex(")") + 1])
    return found


def _temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".tmp" in p.name]


def _assert_no_debris(workdir: Path, proc: subprocess.Popen) -> None:
    assert not _temporaries(workdir), _temporaries(workdir)
    if Path("/proc/self/stat").exists():
        assert not _survivors(proc.pid), _survivors(proc.pid)


def _stop_a_run(workdir: Path, signals: tuple[int, ...]) -> None:
    (workdir / "long.yaml").write_text(LONG)
    proc = _kexp(workdir, "run", "long.yaml")
    status_file = _status_when_training(workdir, proc)
    for signum in signals:  # a second signal arrives while the run is stopping
        proc.send_signal(signum)
        time.sleep(0.05)
    assert _wait(proc, STOP_S) == 130, _stderr(workdir)
    err = _stderr(workdir)
    assert err.rstrip().endswith("Interrupted.") and "Traceback" not in err, err
    status = json.loads(status_file.read_text())
    assert status["status"] == "interrupted" and status["finished"], status
    assert status["error"] == f"interrupted ({engine_signals.signal_name(signals[0])})"
    _assert_no_debris(workdir, proc)


# ------------------------------------------------------------------ signals, real runs

@pytest.mark.parametrize("signals", [(signal.SIGTERM,), (signal.SIGINT, signal.SIGINT)],
                         ids=["sigterm", "ctrl-c-twice"])
def test_signal_stops_training_exit_130(workdir, signals):
    _stop_a_run(workdir, signals)


@pytest.mark.slow  # TensorFlow's import and training share 2 cores with 3 busy loops
def test_sigterm_twice_with_the_cpu_saturated(workdir, busy_cpu):
    _stop_a_run(workdir, (signal.SIGTERM, signal.SIGTERM))


def test_closed_stdout_and_stderr_do_not_fail_a_run(workdir):
    """``kexp run ... | head -1``: output to a closed pipe is dropped, the run goes on."""
    (workdir / "spec.yaml").write_text(PIMA_SPEC)
    proc = _kexp(workdir, "run", "spec.yaml", pipes=True)
    assert proc.stdout.readline()  # the first line, as `head -1` reads it
    proc.stdout.close()
    proc.stderr.close()
    assert _wait(proc, START_S) == 0
    (status_file,) = (workdir / "runs").glob("*/status.json")
    assert json.loads(status_file.read_text())["status"] == "completed"
    _assert_no_debris(workdir, proc)


def test_closed_pipes_then_sigterm_is_interrupted(workdir):
    (workdir / "long.yaml").write_text(LONG)
    proc = _kexp(workdir, "run", "long.yaml", pipes=True)
    assert proc.stdout.readline()
    proc.stdout.close()
    proc.stderr.close()
    status_file = _status_when_training(workdir, proc, epochs=2)
    deadline = time.monotonic() + STOP_S  # an epoch line hits the closed pipe: stdout -> devnull
    while os.readlink(f"/proc/{proc.pid}/fd/1") != os.devnull and time.monotonic() < deadline:
        time.sleep(0.1)
    assert os.readlink(f"/proc/{proc.pid}/fd/1") == os.devnull
    proc.send_signal(signal.SIGTERM)
    assert _wait(proc, STOP_S) == 130
    assert json.loads(status_file.read_text())["status"] == "interrupted"
    _assert_no_debris(workdir, proc)


# ------------------------------------------------------------- file-size limit, real runs

@pytest.mark.parametrize(("spec", "limit", "names"), [
    (BIG_MODEL, 48_000, "model.keras"),  # the small files fit, model.keras does not
    (BIG_CHECKPOINT, 48_000, "checkpoints/epoch-000001.npz"),  # fails during training
    (PIMA_SPEC, 30_000, None),  # model.keras fits, a plot does not (matplotlib names no file)
], ids=["model", "checkpoint", "plot"])
def test_file_size_limit_fails_in_one_line_without_debris(workdir, spec, limit, names):
    (workdir / "spec.yaml").write_text(spec)
    proc = _kexp(workdir, "run", "spec.yaml", limit=limit)
    assert _wait(proc, START_S) == 1, _stderr(workdir)
    (run,) = (workdir / "runs").iterdir()
    err = _stderr(workdir)
    target = f"runs/{run.name}/{names}" if names else f"into runs/{run.name};"
    last = err.rstrip().splitlines()[-1]
    assert last.startswith("Error: file too large: the file-size limit (ulimit -f) was reached "
                           f"while writing {target}"), err
    assert "Traceback" not in err and "unexpected failure" not in err
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "failed" and status["error"] == last.removeprefix("Error: ")
    trained = names != "checkpoints/epoch-000001.npz"
    assert (run / "metrics.json").is_file() == trained  # the run got that far
    assert not (run / "model.keras").exists() or names is None
    _assert_no_debris(workdir, proc)


# --------------------------------------------------------------------- in one process

def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_atomic_write_on_a_full_disk_names_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(write.os, "fsync", _enospc)
    with pytest.raises(WriteError) as info:
        write.atomic_write(tmp_path / "metrics.json", "{}")
    assert str(info.value) == (f"no space left on device while writing {tmp_path / 'metrics.json'}; "
                               "free some space and run again")
    assert info.value.exit_code == 1 and isinstance(info.value, OSError)
    assert list(tmp_path.iterdir()) == []


def test_guard_records_failed_when_even_status_json_cannot_be_replaced(tmp_path, monkeypatch):
    rf = RunFolder.create(tmp_path, "x")
    rf.set_status("running")
    monkeypatch.setattr(write.os, "fsync", _enospc)
    with pytest.raises(WriteError), rf.guard():
        (rf.path / ".loss.png.tmp").write_bytes(b"half a png")  # as a failed savefig leaves it
        rf.write_text("history.csv", "epoch\n")
    status = json.loads(rf.file("status.json").read_text())  # rewritten in place
    assert status["status"] == "failed" and "history.csv" in status["error"]
    assert sorted(p.name for p in rf.path.iterdir()) == ["status.json"]


def test_replacing_removes_the_temporary_file_of_a_failed_block(tmp_path):
    with pytest.raises(RuntimeError), write.replacing(tmp_path / "model.keras", keep_suffix=True) as tmp:
        assert tmp.name == f".model.{os.getpid()}.tmp.keras"
        tmp.write_bytes(b"half a model")
        raise RuntimeError("keras failed")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture()
def no_stop() -> Iterator[None]:
    """Leave no stop request behind in this process."""
    yield
    engine_signals.STOP.signum = None


def _signal_main_thread(signum: int) -> None:
    """Send ``signum`` to this process's main thread and wait until its handler ran."""
    signal.pthread_kill(threading.main_thread().ident, signum)
    deadline = time.monotonic() + 10
    while engine_signals.stop_requested() is None and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_signal_in_the_guard_is_a_stop_honoured_at_the_next_file(tmp_path, no_stop):
    rf = RunFolder.create(tmp_path, "x")
    rf.set_status("running")
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with pytest.raises(Interrupted), rf.guard():
        assert signal.getsignal(signal.SIGTERM) is engine_signals.ask_to_stop
        _signal_main_thread(signal.SIGTERM)
        _signal_main_thread(signal.SIGINT)  # a second signal while stopping changes nothing
        assert engine_signals.stop_requested() == signal.SIGTERM
        rf.write_text("metrics.json", "{}")
    status = json.loads(rf.file("status.json").read_text())
    assert (status["status"], status["error"]) == ("interrupted", "interrupted (SIGTERM)")
    assert not rf.file("metrics.json").exists()
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_the_callback_stops_fit_at_the_next_batch(no_stop):
    import numpy as np

    from kexp import backend
    from kexp.train.callbacks import stop_on_signal

    keras = backend.keras()
    batches: list[int] = []

    class SendSigterm(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            batches.append(batch)
            if batch == 1:
                _signal_main_thread(signal.SIGTERM)

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(loss="mse", optimizer="sgd")
    with pytest.raises(Interrupted), engine_signals.stop_on_signals():
        model.fit(np.zeros((40, 2)), np.zeros(40), batch_size=4, epochs=5, verbose=0,
                  callbacks=[SendSigterm(), stop_on_signal()])
    assert batches == [0, 1]


def test_pipe_safe_output_drops_writes_to_a_closed_pipe():
    read_end, write_end = os.pipe()
    os.close(read_end)
    stream = os.fdopen(write_end, "w")
    try:
        safe = output.PipeSafe(stream)
        assert safe.write("epoch 1\n") == 8
        safe.flush()  # EPIPE: the descriptor now points at os.devnull
        safe.write("epoch 2\n")
        safe.flush()
        assert os.readlink(f"/proc/self/fd/{stream.fileno()}") == os.devnull
    finally:
        stream.close()
