"""Shared fixtures: tiny real data, spec writing, and a CLI runner; the specs and data they
write (the plain helpers the tests call are in helpers.py).

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

#: every process a test starts ends with it (tests/reaper.py); the backend suites run beside
#: the rest (tests/backend_runs.py)
pytest_plugins = ["tests.reaper", "tests.backend_runs"]

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


@pytest.fixture()
def every_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """kexp in this process starts every worker --jobs asks for, however busy the machine
    is: its busy-core rule (kexp's KEXP_BUSY_CHECK) would start fewer on a busy one. For
    the tests that count or compare worker processes; the rule itself is tested without it."""
    monkeypatch.setenv("KEXP_BUSY_CHECK", "0")


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


def write_tiny_classes(path: Path, n: int, seed: int, c_high: float,
                       site_and_price: bool = False) -> None:
    """A tiny CSV of three numeric features (a, b, c) and a 0/1 ``label`` (every third row);
    with ``site_and_price``, also a ``site`` of 6 groups and a numeric ``price`` (a
    regression target)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    columns = {"a": rng.normal(5, 2, n), "b": rng.normal(-3, 1, n), "c": rng.uniform(0, c_high, n)}
    if site_and_price:
        columns["site"] = np.arange(n) % 6
    columns["label"] = (np.arange(n) % 3 == 0).astype(int)
    if site_and_price:
        columns["price"] = rng.normal(0, 1, n)
    pd.DataFrame(columns).to_csv(path, index=False)


def make_project(root: Path, specs: dict[str, str], *, rows: int, seed: int, c_high: float,
                 site_and_price: bool = False) -> Path:
    """``root`` holding ``tiny.csv`` (:func:`write_tiny_classes` of ``rows``) and a file
    name -> text of ``specs``."""
    write_tiny_classes(root / "tiny.csv", rows, seed, c_high, site_and_price)
    for name, text in specs.items():
        (root / name).write_text(text)
    return root


@pytest.fixture(scope="module")
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project of the test module (its ``PROJECT``: :func:`make_project`'s keywords), in
    a folder its tests share."""
    return make_project(tmp_path_factory.mktemp("project"), **request.module.PROJECT)


@pytest.fixture()
def own_project(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The project of the test module, as ``project``, in the test's own ``tmp_path``: for
    tests that leave runs, locks or processes of their own in it."""
    return make_project(tmp_path, **request.module.PROJECT)


def tiny_spec(name: str = "tiny", *, samples: int = 120, epochs: int = 1, batch_size: int = 32,
              deterministic: bool = False, test: float | None = None) -> str:
    """A spec that trains in a second: random data (6 features, 2 classes), one small
    Dense layer, quiet; ``test``: the fraction of the data held out as the test part."""
    return (f"name: {name}\nseed: 3\n" + ("deterministic: true\n" if deterministic else "")
            + f"data: {{source: random, samples: {samples}, shape: [6], classes: 2"
            + (f", test: {{size: {test}}}" if test is not None else "") + "}\n"
            + "preprocess: {y: sparse}\n"
            "model:\n"
            "  layers:\n"
            "    - Dense: {units: 4, activation: relu}\n"
            "    - Dense: {units: 2, activation: softmax}\n"
            "compile: {loss: sparse_categorical_crossentropy, metrics: [accuracy]}\n"
            f"fit: {{epochs: {epochs}, batch_size: {batch_size}, verbose: 0}}\n")


#: kexp sweep's tests' spec (120 random samples, one epoch)
TINY = tiny_spec()


def functional_spec() -> dict:
    """The smallest functional model, x -> h -> out, on 24 random samples: a new dict."""
    return {
        "name": "single",
        "seed": 1,
        "data": {"source": "random", "samples": 24, "shape": [8], "classes": 2},
        "model": {
            "type": "functional",
            "inputs": {"x": {"shape": [8]}},
            "nodes": {
                "h": {"Dense": {"units": 4, "activation": "relu"}, "inputs": "x"},
                "out": {"Dense": {"units": 1, "activation": "sigmoid"}, "inputs": "h"},
            },
            "outputs": ["out"],
        },
        "compile": {"loss": "binary_crossentropy", "metrics": ["accuracy"]},
        "fit": {"epochs": 1, "batch_size": 8, "verbose": 0},
    }


@pytest.fixture()
def tiny_text() -> str:
    """The spec ``tiny`` writes: ``TINY``, unless the test module overrides this fixture."""
    return TINY


@pytest.fixture()
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_text: str) -> Path:
    """``tiny_text`` written to ``tiny.yaml`` in a temporary current folder."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "tiny.yaml"
    path.write_text(tiny_text)
    return path
