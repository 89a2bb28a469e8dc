"""kexp cv under faults, in real subprocesses: workers die with a killed parent (also with the
CPU busy), SIGTERM stops every process, one process at a time holds a CV folder, and worker
processes that outlive their parent keep holding it, so a resume cannot race them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from kexp.cli import cli
from kexp.engine import cores, lock
from kexp.errors import RunError
from tests.helpers import kexp_env, kill_group, status_once_training

START_S = 300  # the CV and 2 workers import TensorFlow on 2 (maybe busy) cores
GONE_S = 20  # PR_SET_PDEATHSIG is immediate; the watchdog polls every 0.5 s; generous under load
STOP_S = 120

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")

LONG = """\
name: long
seed: 3
data: {source: csv, path: tiny.csv, target: label, features: [a, b, c]}
preprocess: {x: [standardize]}
model:
  layers:
    - Dense: {units: 4, activation: relu, input_dim: 3}
    - Dense: {units: 1, activation: sigmoid}
compile: {loss: binary_crossentropy, metrics: [accuracy]}
fit: {epochs: 100000, batch_size: 1, verbose: 0}
"""
#: the module's ``own_project`` (conftest.py): every test's own, for its runs and processes
PROJECT = {"specs": {"long.yaml": LONG}, "rows": 36, "seed": 0, "c_high": 100}


def start(cwd: Path, *args: str, **env: str) -> subprocess.Popen:
    """``python ARGS`` in its own session, with ``env`` added to its environment: its
    process group (= its pid) holds every process it starts, also once they are orphaned."""
    with open(cwd / "stderr.txt", "w") as err:
        return subprocess.Popen(
            [sys.executable, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=err, text=True,
            env=kexp_env(**env), start_new_session=True,
        )


def _fields(stat: Path) -> list[str]:
    text = stat.read_text()
    return text[text.rindex(")") + 2:].split()  # state, ppid, pgrp, ...


def group(pgid: int) -> dict[int, str]:
    """The processes of process group ``pgid`` with a thread that is not a zombie yet (a
    killed process holds its files until its last thread is gone): pid -> command line."""
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if int(_fields(proc / "stat")[2]) != pgid:
                continue
            if all(_fields(t / "stat")[0] == "Z" for t in (proc / "task").iterdir()):
                continue
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        found[int(proc.name)] = cmd
    return found


def wait_gone(pgid: int, timeout: float = GONE_S) -> dict[int, str]:
    """Wait until process group ``pgid`` is empty; what is still alive after ``timeout``."""
    deadline = time.monotonic() + timeout
    while (alive := group(pgid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def workers(proc: subprocess.Popen) -> dict[int, str]:
    return {pid: cmd for pid, cmd in group(proc.pid).items() if "spawn_main" in cmd}


def start_cv_with_2_workers(project: Path) -> tuple[subprocess.Popen, Path]:
    # --jobs 3: this process and 2 workers train, however busy the machine is (kexp's
    # busy-core rule off)
    proc = start(project, "-m", "kexp", "cv", "long.yaml", "--folds", "3", "--jobs", "3",
                 "--threads", "1", "--no-plots", **{cores.BUSY_CHECK_ENV: "0"})
    # the CV folder, once a fold trains in a worker (its status.json: running, 1+ epoch)
    cv_dir = status_once_training(project, "runs/*/fold-*/status.json", proc, START_S).parent.parent
    deadline = time.monotonic() + START_S
    while len(workers(proc)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(workers(proc)) == 2, group(proc.pid)
    return proc, cv_dir


def resume_refused_naming(cv_dir: Path, pid: int) -> None:
    result = CliRunner().invoke(cli, ["cv", "--resume", str(cv_dir), "--no-plots"])
    assert result.exit_code == 2, result.output
    assert f"in use by pid {pid}" in result.output and "Traceback" not in result.output


# ------------------------------------------------------------------ kill -9, SIGTERM


def kill_9_leaves_no_worker(project: Path) -> None:
    proc, cv_dir = start_cv_with_2_workers(project)
    try:
        resume_refused_naming(cv_dir, proc.pid)  # the running CV holds its folder
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        alive = wait_gone(proc.pid)
        assert not alive, f"survived the kill -9 of their parent: {alive}"
    finally:
        kill_group(proc)
    lock.hold(cv_dir).release()  # free once no worker is left
    assert json.loads((cv_dir / "status.json").read_text())["status"] == "running"  # ls: died


@pytest.mark.slow  # a CV and 2 worker processes import TensorFlow (~30-60 s on 2 cores)
def test_kill_9_of_the_cv_leaves_no_worker(own_project: Path) -> None:
    kill_9_leaves_no_worker(own_project)


@pytest.mark.slow  # the same with the CPU saturated
def test_kill_9_of_the_cv_leaves_no_worker_with_the_cpu_busy(own_project: Path,
                                                             busy_cpu: None) -> None:
    kill_9_leaves_no_worker(own_project)


@pytest.mark.slow  # a CV and 2 worker processes import TensorFlow
def test_sigterm_stops_the_cv_and_its_workers(own_project: Path) -> None:
    proc, cv_dir = start_cv_with_2_workers(own_project)
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=STOP_S) == 130, (own_project / "stderr.txt").read_text()
        assert not wait_gone(proc.pid)
    finally:
        kill_group(proc)
    err = (own_project / "stderr.txt").read_text()
    assert f"Continue with: kexp cv --resume {cv_dir.relative_to(own_project)}" in err, err
    status = json.loads((cv_dir / "status.json").read_text())
    assert status["status"] == "interrupted", status
    for fold in cv_dir.glob("fold-*/status.json"):  # a fold in training records its end
        assert json.loads(fold.read_text())["status"] != "running", fold
    lock.hold(cv_dir).release()


# -------------------------------------------------------- the lock, workers that survive

SURVIVOR = """\
import multiprocessing, sys, time
from pathlib import Path

from kexp.engine import lifeline, lock


def worker(parent, held, mode, ready, later):
    if mode == "watchdog":  # the portable fallback alone
        lifeline.parent_death_signal = lambda signum: False
    if mode not in ("orphan", "late"):
        lifeline.die_with_parent(parent)
    if mode == "late":  # started before the lock was taken: it comes with a task
        held = later.get()
        assert held.fd is not None
    Path(ready).touch()
    time.sleep(600)


if __name__ == "__main__":
    ctx = multiprocessing.get_context("spawn")
    later = ctx.Queue()
    mode = sys.argv[2]
    args = [multiprocessing.current_process().pid, None, mode, sys.argv[1] + ".ready", later]
    if mode == "late":
        ctx.Process(target=worker, args=args).start()
        later.put(lock.hold(Path(sys.argv[1])).inherited())
    else:
        args[1] = lock.hold(Path(sys.argv[1])).inherited()
        ctx.Process(target=worker, args=args).start()
    time.sleep(600)
"""


def start_holder(tmp_path: Path, mode: str) -> subprocess.Popen:
    (tmp_path / "holder.py").write_text(textwrap.dedent(SURVIVOR))
    cv_dir = tmp_path / "cv"
    cv_dir.mkdir(exist_ok=True)
    proc = start(tmp_path, "holder.py", str(cv_dir), mode)
    deadline = time.monotonic() + 120
    while not (tmp_path / "cv.ready").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (tmp_path / "cv.ready").exists(), (tmp_path / "stderr.txt").read_text()
    return proc  # the worker runs, with the lock's descriptor and (unless orphan) its lifeline


@pytest.mark.parametrize("mode", ["orphan", "late"])
def test_a_worker_that_outlives_its_parent_keeps_the_folder_locked(tmp_path: Path,
                                                                   mode: str) -> None:
    """``late``: a worker started before the lock was taken (kexp starts its workers
    first) receives the lock with its task, and holds it the same way."""
    proc = start_holder(tmp_path, mode)
    try:
        with pytest.raises(RunError, match=f"in use by pid {proc.pid}"):
            lock.hold(tmp_path / "cv")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        time.sleep(0.5)
        assert group(proc.pid)  # the orphan lives on (no lifeline) ...
        with pytest.raises(RunError, match="has exited but its worker processes still hold"):
            lock.hold(tmp_path / "cv")  # ... and a resume cannot start beside it
    finally:
        kill_group(proc)
    assert not wait_gone(proc.pid)
    lock.hold(tmp_path / "cv").release()


@pytest.mark.parametrize("mode", ["pdeathsig", "watchdog"])
def test_a_worker_dies_with_its_parent(tmp_path: Path, mode: str) -> None:
    if mode == "pdeathsig" and not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux's")
    proc = start_holder(tmp_path, mode)
    try:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert not wait_gone(proc.pid)
    finally:
        kill_group(proc)
    lock.hold(tmp_path / "cv").release()


def test_a_second_holder_is_refused_naming_the_first(tmp_path: Path) -> None:
    with lock.hold(tmp_path):
        with pytest.raises(RunError) as info:
            lock.hold(tmp_path)
        assert f"in use by pid {os.getpid()}" in str(info.value)
        assert f"kill {os.getpid()}" in str(info.value)
    lock.hold(tmp_path).release()  # released: free again
    assert (tmp_path / ".lock").read_text() == ""
