"""Shared fixtures: tiny real data, spec writing, and a CLI runner.

TensorFlow is imported at most once per test session (by the first test that
trains); data is a few dozen rows so each training test takes a second or two.
"""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
PIMA = ROOT / "datasets" / "pima-indians-diabetes.csv"
MNIST = ROOT / "datasets" / "mnist-sample.npz"


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary current folder holding datasets/ (tiny copies) and runs/."""
    data = tmp_path / "datasets"
    data.mkdir()
    lines = PIMA.read_text().splitlines()[:120]
    (data / "pima.csv").write_text("\n".join(lines) + "\n")
    with np.load(MNIST) as npz:
        np.savez(
            data / "digits.npz",
            x_train=npz["x_train"][:300], y_train=npz["y_train"][:300],
            x_test=npz["x_test"][:100], y_test=npz["y_test"][:100],
        )
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture()
def write_spec(workdir: Path):
    def write(text: str, name: str = "spec.yaml") -> Path:
        path = workdir / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


PIMA_SPEC = """\
name: pima-tiny
seed: 1
data:
  source: csv
  path: datasets/pima.csv
  features: "0:8"
  target: 8
  test: {size: 0.25}
preprocess:
  x: [standardize]
model:
  layers:
    - Dense: {units: 4, activation: relu, input_dim: 8}
    - Dense: {units: 1, activation: sigmoid}
compile:
  loss: binary_crossentropy
  optimizer: {Adam: {learning_rate: 0.01}}
  metrics: [accuracy]
fit:
  epochs: 2
  batch_size: 16
  validation_split: 0.2
"""

DIGITS_SPEC = """\
name: digits-tiny
seed: 3
data:
  source: npz
  path: datasets/digits.npz
preprocess:
  x: [flatten, {scale: 255}]
  y: one_hot
model:
  layers:
    - Dense: {units: 16, activation: relu, kernel_initializer: normal}
    - Dense: {units: 10, activation: softmax}
compile:
  loss: categorical_crossentropy
  optimizer: adam
  metrics: [accuracy]
fit:
  epochs: 2
  batch_size: 64
  validation_split: 0.2
"""


#: a busy loop that ends by itself when the test's process is gone or after 5 minutes,
#: so that a test killed midway leaves no process behind
BUSY_LOOP = (
    "import os, sys, time\n"
    "parent, end = int(sys.argv[1]), time.monotonic() + 300\n"
    "n = 0\n"
    "while time.monotonic() < end:\n"
    "    n += 1\n"
    "    if n % 1000000 == 0 and os.getppid() != parent:\n"
    "        break\n"
)


@pytest.fixture()
def busy_cpu():
    """Three busy-loop processes: on a 2-core machine the CPU is saturated."""
    import subprocess
    import sys

    loops = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(os.getpid())]) for _ in range(3)]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
        for loop in loops:
            loop.wait()


def write_tiny_classes(path: Path, n: int, seed: int, c_high: float) -> None:
    """A tiny CSV of three numeric features (a, b, c) and a 0/1 ``label`` (every third row)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    pd.DataFrame({"a": rng.normal(5, 2, n), "b": rng.normal(-3, 1, n),
                  "c": rng.uniform(0, c_high, n),
                  "label": (np.arange(n) % 3 == 0).astype(int)}).to_csv(path, index=False)


def only_folder(runs: Path) -> Path:
    """The one run, CV or sweep folder a command made in ``runs``."""
    (folder,) = [p for p in Path(runs).iterdir() if p.is_dir()]
    return folder


#: a spec that trains in a second: random data, one epoch (kexp sweep's tests)
TINY = """\
name: tiny
seed: 3
data: {source: random, samples: 120, shape: [6], classes: 2}
preprocess: {y: sparse}
model:
  layers:
    - Dense: {units: 4, activation: relu}
    - Dense: {units: 2, activation: softmax}
compile: {loss: sparse_categorical_crossentropy, metrics: [accuracy]}
fit: {epochs: 1, batch_size: 32, verbose: 0}
"""


@pytest.fixture()
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``TINY`` written to ``tiny.yaml`` in a temporary current folder."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path
