"""``distribute: {strategy: data_parallel, devices: [...]}``: one kexp run on two devices
(the CPU split in two logical devices, in a process of its own) trains the loss curve of one
device with the same global batch; what cannot be done is exit 2 naming the key."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from kexp.cli import cli
from tests.conftest import TINY
from tests.helpers import kexp_env, only_folder

THREE = "deterministic: true\n" + TINY.replace("epochs: 1", "epochs: 3")
TWO_CPUS = "distribute: {strategy: data_parallel, devices: [/cpu:0, /cpu:1]}\n"


def _run(spec: Path, runs: Path, *args: str) -> Path:
    done = subprocess.run([sys.executable, "-m", "kexp", "run", str(spec), "--runs-dir", str(runs),
                           *args],
                          capture_output=True, text=True, env=kexp_env(), timeout=300, cwd=spec.parent)
    assert done.returncode == 0, done.stderr
    return only_folder(runs)


def test_two_cpu_devices_train_the_curve_of_one(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(THREE)
    (tmp_path / "two.yaml").write_text(TWO_CPUS + THREE)
    one, two = _run(tmp_path / "one.yaml", tmp_path / "r1"), _run(tmp_path / "two.yaml", tmp_path / "r2")
    used = json.loads((two / "env.json").read_text())["devices_used"]
    assert [d.rsplit("/", 1)[-1] for d in used] == ["device:CPU:0", "device:CPU:1"]
    a, b = (pd.read_csv(r / "history.csv")["loss"].to_numpy() for r in (one, two))
    assert len(a) == len(b) == 3
    np.testing.assert_allclose(b, a, rtol=5e-3)  # the same global batches, summed in another order
    ma, mb = (json.loads((r / "metrics.json").read_text())["metrics"]["loss"] for r in (one, two))
    assert abs(ma - mb) <= 5e-3 * abs(ma)


@pytest.mark.slow  # two processes import JAX
@pytest.mark.skipif(find_spec("jax") is None, reason="jax is not installed (kexp[jax])")
def test_two_jax_cpu_devices_train_the_curve_of_one(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(THREE)
    (tmp_path / "two.yaml").write_text(TWO_CPUS + THREE)
    one = _run(tmp_path / "one.yaml", tmp_path / "r1", "--backend", "jax")
    two = _run(tmp_path / "two.yaml", tmp_path / "r2", "--backend", "jax")
    env = json.loads((two / "env.json").read_text())
    assert env["backend"] == "jax" and env["devices_used"] == ["cpu:0", "cpu:1"]
    a, b = (pd.read_csv(r / "history.csv")["loss"].to_numpy() for r in (one, two))
    assert len(a) == len(b) == 3
    np.testing.assert_allclose(b, a, rtol=5e-3)
    assert (one / "predictions.csv").read_text().splitlines()[0] == \
        (two / "predictions.csv").read_text().splitlines()[0]


def test_devices_that_are_not_there_and_cv_are_refused(tiny: Path) -> None:
    tiny.write_text("distribute: {devices: [/gpu:0, /gpu:1]}\n" + TINY)
    result = CliRunner().invoke(cli, ["run", str(tiny), "--runs-dir", "runs"])
    assert result.exit_code == 2, result.output
    assert "distribute.devices[0] (line 1): no device '/gpu:0' here (devices: /cpu:0" in result.output
    assert not Path("runs").exists() or not any(Path("runs").iterdir())
    tiny.write_text(TWO_CPUS + TINY)
    result = CliRunner().invoke(cli, ["cv", str(tiny), "--folds", "2", "--runs-dir", "runs"])
    assert result.exit_code == 2, result.output
    assert "distribute (line 1): kexp cv trains its models one per process" in result.output
