"""kexp sweep --executor ray: trials as Ray tasks whose files come back to the sweep folder."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from kexp.cli import cli
from kexp.engine import runner
from kexp.sweep import executors
from kexp.sweep.trial import TrialOutcome, TrialTask
from tests.conftest import TINY
from tests.helpers import kexp_env, only_folder

BASE = ["--param", "fit.batch_size=16,32,64", "--no-plots", "--set", "deterministic=true"]




@pytest.mark.slow  # starts a local Ray instance whose workers each import TensorFlow
def test_ray_gives_the_same_trials_as_jobs_1(tiny: Path) -> None:
    pytest.importorskip("ray", reason="ray is not installed (pip install 'kexp[ray]')")
    one = CliRunner().invoke(cli, ["sweep", str(tiny), *BASE, "--runs-dir", "one", "--no-save-models"])
    ray = CliRunner().invoke(cli, ["sweep", str(tiny), *BASE, "--runs-dir", "ray",
                                   "--executor", "ray", "--jobs", "2", "--threads", "1"])
    assert one.exit_code == 0 and ray.exit_code == 0, one.output + ray.output
    a = pd.read_csv(only_folder(Path("one")) / "trials.csv")
    folder = only_folder(Path("ray"))
    b = pd.read_csv(folder / "trials.csv")
    assert b["trial"].tolist() == [1, 2, 3] and (b["status"] == "completed").all()
    pd.testing.assert_frame_equal(a[["trial", "fit.batch_size", "loss", "status", "epochs", "folder"]],
                                  b[["trial", "fit.batch_size", "loss", "status", "epochs", "folder"]])
    for row in b.itertuples():  # every trial's files came back from its worker's temporary folder
        run = folder / row.folder
        assert json.loads((run / "status.json").read_text())["status"] == "completed"
        assert (run / "history.csv").is_file() and (run / "model.keras").stat().st_size > 0
        same = json.loads((only_folder(Path("one")) / row.folder / "metrics.json").read_text())
        assert json.loads((run / "metrics.json").read_text())["metrics"] == same["metrics"]
    assert json.loads((folder / "status.json").read_text())["status"] == "completed"
    assert (folder / "best.yaml").is_file()


def test_a_missing_ray_is_exit_2_with_the_install_command(tiny: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    result = CliRunner().invoke(cli, ["sweep", str(tiny), *BASE, "--runs-dir", "runs",
                                      "--executor", "ray"])
    assert result.exit_code == 2, result.output
    assert "--executor ray needs Ray: pip install 'kexp[ray]'" in result.output
    assert not Path("runs").exists()  # refused before the sweep folder is made


def test_address_without_the_ray_executor_is_a_usage_error(tiny: Path) -> None:
    result = CliRunner().invoke(cli, ["sweep", str(tiny), *BASE, "--address", "auto"])
    assert result.exit_code == 2 and "add --executor ray" in result.output


class _FakeRay(types.ModuleType):
    """Enough of ``ray`` to run the executor in this process: each task runs at ``remote``;
    a task whose trial number is in ``crash`` fails as a lost Ray worker would."""

    class exceptions:  # noqa: N801 - mirrors ray.exceptions
        class RayError(Exception):
            pass

    def __init__(self, crash: set[int]) -> None:
        super().__init__("ray")
        self.crash, self.calls = crash, []  # type: list[tuple[str, Any]]
        self.results: dict[int, Any] = {}  # a task's ref is its trial number

    def is_initialized(self) -> bool:
        return False

    def init(self, **kwargs: Any) -> None:
        self.calls.append(("init", kwargs))

    def shutdown(self) -> None:
        self.calls.append(("shutdown", None))

    def put(self, obj: Any) -> Any:  # the object store: a task's shared object as it is
        return obj

    def remote(self, **resources: Any) -> Any:
        ray = self

        class Remote:
            @staticmethod
            def remote(run: Any, shared: Any, task: TrialTask, threads: int) -> Any:
                ray.results[task.number] = (None if task.number in ray.crash
                                            else runner.in_temporary_folder(run, shared, task,
                                                                            threads))
                return task.number

        self.calls.append(("remote", resources))
        return lambda fn: Remote

    def wait(self, refs: list[Any], num_returns: int) -> tuple[list[Any], list[Any]]:
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref: Any) -> Any:
        if self.results[ref] is None:
            raise self.exceptions.RayError(f"The worker died unexpectedly (trial {ref})\ntrace")
        return self.results[ref]

    def cancel(self, ref: Any, force: bool) -> None:
        pass


def test_a_lost_ray_task_is_a_failed_trial_and_files_come_back(tiny: Path, monkeypatch) -> None:
    fake = _FakeRay(crash={2})
    monkeypatch.setitem(sys.modules, "ray", fake)
    result = CliRunner().invoke(cli, ["sweep", str(tiny), *BASE, "--runs-dir", "runs", "--no-save-models",
                                      "--executor", "ray", "--jobs", "2", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert ("init", {"include_dashboard": False, "log_to_driver": False, "num_cpus": 2,
                     "runtime_env": fake.calls[0][1]["runtime_env"]}) == fake.calls[0]
    assert ("remote", {"num_cpus": 1}) in fake.calls and fake.calls[-1] == ("shutdown", None)
    folder = only_folder(Path("runs"))
    trials = pd.read_csv(folder / "trials.csv")
    assert trials["status"].tolist() == ["completed", "failed", "completed"]
    assert trials["error"][1] == "Ray: The worker died unexpectedly (trial 2)"
    for row in trials.iloc[[0, 2]].itertuples():
        assert json.loads((folder / row.folder / "status.json").read_text())["status"] == "completed"
    assert not (folder / trials["folder"][1]).exists()  # trained again by --resume


def test_a_ray_trial_trains_in_a_temporary_folder(tmp_path: Path) -> None:
    from kexp.spec import parse_spec

    task = TrialTask(1, {}, parse_spec(TINY), str(tmp_path / "trials" / "001-x"), "loss", [],
                     plots=False, save_model=False)
    out, files = runner.in_temporary_folder(executors.run_in, None, task, 1)
    assert isinstance(out, TrialOutcome) and out.status == "completed" and out.folder == "001-x"
    assert not (tmp_path / "trials").exists()
    assert {"status.json", "history.csv", "metrics.json", "config.yaml"} <= set(files)


def _session(sid: int) -> list[str]:
    """``pid command`` of every process of session ``sid`` (zombies aside)."""
    out = []
    for entry in Path("/proc").iterdir():
        try:
            text = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        fields = text[text.rindex(")") + 2:].split()
        if entry.name.isdigit() and int(fields[3]) == sid and fields[0] != "Z":
            out.append(f"{entry.name} {text[text.index('(') + 1:text.rindex(')')]}")
    return out


@pytest.mark.slow  # a local Ray instance, a worker importing TensorFlow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc (Linux)")
def test_kill_9_of_a_ray_sweep_leaves_no_ray_process(tiny: Path) -> None:
    """A local Ray instance's processes (GCS, raylet, their agents, the trial workers) die
    with kexp: its agents alone would outlive a ``kill -9`` by about a minute."""
    import os
    import signal
    import subprocess
    import time

    pytest.importorskip("ray", reason="ray is not installed (pip install 'kexp[ray]')")
    tiny.write_text(TINY.replace("epochs: 1", "epochs: 5000"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "kexp", "sweep", str(tiny), "--param", "fit.batch_size=8,16",
         "--executor", "ray", "--jobs", "2", "--threads", "1", "--no-plots", "--runs-dir", "runs"],
        env=kexp_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(  # a Ray worker training a trial
                "ray::in_temp" in p for p in _session(proc.pid)):  # (comm: 15 characters)
            time.sleep(0.5)
        assert any("raylet" in p for p in _session(proc.pid)), _session(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 15
        while _session(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _session(proc.pid), f"outlived the kill -9 of kexp: {_session(proc.pid)}"
    finally:
        for line in _session(proc.pid):
            os.kill(int(line.split()[0]), signal.SIGKILL)
