"""``kexp run --workers host:port,host:port --worker I``: one training on several processes
(JAX's multi-process runtime), tested with two worker processes on 127.0.0.1: the loss
curve of one process, only the chief's run folder, and a killed worker failing the run
with no process left."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from importlib.util import find_spec
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import TINY, tiny_spec
from tests.helpers import invoke, kexp_env, kill_group, only_folder

needs_jax = pytest.mark.skipif(find_spec("jax") is None, reason="jax is not installed (kexp[jax])")
TWO = "127.0.0.1:{port},127.0.0.1:{other}"


def _workers() -> str:
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    return TWO.format(port=ports[0], other=ports[1])


def _start(folder: Path, spec: str, *args: str) -> subprocess.Popen:
    log = open(folder / f"out{len(list(folder.glob('out*')))}.txt", "w")  # noqa: SIM115
    (folder / "tmp").mkdir(exist_ok=True)  # where a worker's scratch run folder goes
    return subprocess.Popen([sys.executable, "-m", "kexp", "run", spec, "--backend", "jax",
                             "--runs-dir", "runs", *args], cwd=folder,
                            env=kexp_env(TMPDIR=str(folder / "tmp")),
                            stdout=log, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _output(folder: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(folder.glob("out*.txt")))


@pytest.mark.parametrize(("args", "message"), [
    (["--workers", "127.0.0.1:1,127.0.0.1:2"], "--workers needs --worker I"),
    (["--workers", "127.0.0.1:1,127.0.0.1:2", "--worker", "2"], "--worker 2: expected 0 to 1"),
    (["--workers", "127.0.0.1:1", "--worker", "0"], "name at least two workers"),
    (["--workers", "127.0.0.1,127.0.0.1:2", "--worker", "0"], "expected host:port addresses"),
], ids=["no-worker", "worker-out-of-range", "one-worker", "no-port"])
def test_bad_worker_options_exit_2(tiny: Path, args: list[str], message: str) -> None:
    result = invoke("run", str(tiny), *args, exit_code=2)
    assert message in result.output, result.output


def test_several_workers_need_jax_and_a_seed(tiny: Path) -> None:
    two = ["--workers", "127.0.0.1:1,127.0.0.1:2", "--worker", "0", "--runs-dir", "runs"]
    result = invoke("run", str(tiny), *two, exit_code=2)
    assert "runs on JAX's multi-process runtime" in result.output
    assert "Add --backend jax" in result.output
    tiny.write_text(TINY.replace("seed: 3\n", ""))
    result = invoke("run", str(tiny), *two, "--set", "backend=jax", exit_code=2)
    assert "seed (line 1): every worker must start from the same weights" in result.output
    assert not Path("runs").exists()
    result = invoke("run", "--resume", "runs/x", "--workers", "127.0.0.1:1,127.0.0.1:2", exit_code=2)
    assert "--workers" in result.output


@pytest.mark.slow  # three processes import JAX
@needs_jax
def test_two_workers_train_the_loss_curve_of_one_process(tmp_path: Path) -> None:
    (tmp_path / "tiny.yaml").write_text(tiny_spec(samples=160, epochs=3, batch_size=16, test=0.2))
    workers = _workers()
    held_out = ("--set", "fit.validation_split=0.25")  # 96 rows train, 32 validate: batches of 16
    procs = [_start(tmp_path, "tiny.yaml", "--workers", workers, "--worker", str(i), *held_out)
             for i in (1, 0)]
    alone = subprocess.run([sys.executable, "-m", "kexp", "run", "tiny.yaml", "--backend", "jax",
                            "--runs-dir", "alone", *held_out], cwd=tmp_path, env=kexp_env(),
                           capture_output=True, text=True, timeout=300)
    assert alone.returncode == 0, alone.stderr
    for proc in procs:
        assert proc.wait(timeout=300) == 0, _output(tmp_path)
    run = only_folder(tmp_path / "runs")  # the chief's only
    assert "Worker 1 of 2: trained; the chief (worker 0) wrote the run folder" in _output(tmp_path)
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "completed"
    assert json.loads((run / "env.json").read_text())["workers"] == workers.split(",")
    together = pd.read_csv(run / "history.csv")
    one = pd.read_csv(only_folder(tmp_path / "alone") / "history.csv")
    assert together["val_loss"].notna().all()
    pd.testing.assert_frame_equal(together, one, rtol=1e-5)
    assert (run / "predictions.csv").read_text() == (
        only_folder(tmp_path / "alone") / "predictions.csv").read_text()
    assert not list((tmp_path / "tmp").glob("kexp-worker-*"))  # worker 1's scratch, removed
    assert "kexp-worker-" not in _output(tmp_path)  # only the chief names a run folder


@pytest.mark.slow  # two processes import JAX
@needs_jax
@pytest.mark.parametrize("busy", [False, True], ids=["idle", "cpu-busy"])
def test_a_killed_worker_fails_the_run_and_leaves_no_process(tmp_path: Path, busy: bool,
                                                             request: pytest.FixtureRequest) -> None:
    if busy:
        request.getfixturevalue("busy_cpu")
    (tmp_path / "long.yaml").write_text(tiny_spec(samples=128, epochs=100000, batch_size=16))
    workers = _workers()
    other = _start(tmp_path, "long.yaml", "--workers", workers, "--worker", "1")
    chief = _start(tmp_path, "long.yaml", "--workers", workers, "--worker", "0")
    try:
        deadline = time.monotonic() + 300
        status: dict = {}
        while time.monotonic() < deadline and not status.get("epochs"):
            time.sleep(0.5)
            files = list((tmp_path / "runs").glob("*/status.json"))
            status = json.loads(files[0].read_text()) if files else {}
            assert chief.poll() is None and other.poll() is None, _output(tmp_path)
        assert status.get("epochs"), _output(tmp_path)
        other.send_signal(signal.SIGKILL)
        t0 = time.monotonic()
        assert chief.wait(timeout=60) == 1, _output(tmp_path)
        assert time.monotonic() - t0 < 30
        other.wait(timeout=30)
        for proc in (chief, other):  # nothing left in either worker's process group
            with pytest.raises(ProcessLookupError):
                os.killpg(proc.pid, 0)
    finally:
        kill_group(chief)
        kill_group(other)
    status = json.loads(next((tmp_path / "runs").glob("*/status.json")).read_text())
    assert status["status"] == "failed"
    assert status["error"].startswith("another worker of the training stopped (worker 0 of 2 "
                                      "here)"), status
    assert f"Error: {status['error']}" in _output(tmp_path)
    assert "Traceback" not in _output(tmp_path)
