"""``backend``: the spec's Keras backend (``--backend``, ``KERAS_BACKEND``), checked before
anything trains, recorded, shown; and tests/backend_suite run on JAX and on PyTorch in a
process of their own."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import TINY
from tests.helpers import invoke, kexp_env, only_folder


def test_the_backend_is_resolved_recorded_and_shown(tiny: Path) -> None:
    invoke("run", str(tiny), "--runs-dir", "runs", exit_code=0)
    run = only_folder(Path("runs"))
    assert "\nbackend: tensorflow\n" in (run / "config.yaml").read_text()  # null: resolved
    env = json.loads((run / "env.json").read_text())
    assert env["backend"] == "tensorflow" and env["tensorflow"]
    from kexp import report

    assert report.list_runs(Path("runs")).frame.iloc[0]["backend"] == "tensorflow"


def test_another_backend_than_this_process_imported_is_refused_at_its_line(tiny: Path) -> None:
    tiny.write_text("backend: jax\n" + TINY)
    result = invoke("run", str(tiny), "--runs-dir", "runs", exit_code=2)
    assert ("backend (line 1): jax: Keras is already imported on tensorflow in this process"
            in result.output), result.output
    assert "Traceback" not in result.output and not Path("runs").exists()
    result = invoke("validate", str(tiny), "--backend", "tensorflow", exit_code=0)


def test_a_backend_whose_package_is_missing_says_what_to_install(
        tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    result = invoke("validate", str(tiny), "--backend", "torch", exit_code=2)
    assert ("backend (from --backend torch): the torch backend needs the torch package, which "
            "is not installed. pip install 'kexp[torch]'") in result.output, result.output


def test_auto_chooses_jax_for_a_model_without_convolutions_else_tensorflow(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from kexp import backend

    dense = {"layers": [{"Dense": {"units": 4}}, {"Dropout": {"rate": 0.1}}]}
    conv = {"type": "functional", "inputs": {"x": {"shape": [8, 8, 1]}},
            "nodes": {"c": {"Conv2D": {"filters": 2, "kernel_size": 3}, "inputs": "x"},
                      "s": {"SeparableConv2D": {"filters": 2, "kernel_size": 3}, "inputs": "c"}}}
    real = importlib.util.find_spec
    monkeypatch.setattr(backend, "imported", lambda: None)  # as before Keras's import
    assert backend.resolve("auto", dense) == "jax"
    assert backend.auto_choice() == ("backend: auto chose jax (a model without convolutions: "
                                     "JAX trains it fastest on the CPU)")
    assert backend.resolve("auto", conv) == "tensorflow"
    assert "convolutions (Conv2D, SeparableConv2D)" in str(backend.auto_choice())
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "jax" else real(name, *a))
    assert backend.resolve("auto", dense) == "tensorflow"
    assert "jax is not installed" in str(backend.auto_choice())
    monkeypatch.undo()
    # Keras already on TensorFlow in this process: auto keeps it rather than fail
    monkeypatch.setattr(backend, "imported", lambda: "tensorflow")
    assert backend.resolve("auto", dense) == "tensorflow"
    assert "imported on it already" in str(backend.auto_choice())
    assert backend.resolve("torch") == "torch" and backend.resolve(None) == backend.default_name()
    assert backend.auto_choice() is None  # the next spec that names its backend says nothing of auto


@pytest.mark.slow  # a process of its own imports JAX
def test_a_run_with_backend_auto_records_what_it_chose(tiny: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "kexp", "run", str(tiny), "--backend", "auto",
                           "--runs-dir", "runs"], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"})
    assert done.returncode == 0, done.stderr[-2000:]
    run = only_folder(Path("runs"))
    assert "\nbackend: jax\n" in (run / "config.yaml").read_text()
    env = json.loads((run / "env.json").read_text())
    assert env["backend"] == "jax"
    assert env["backend_auto"] == ("backend: auto chose jax (a model without convolutions: JAX "
                                   "trains it fastest on the CPU)")
    assert env["backend_auto"] in json.loads((run / "status.json").read_text())["notes"]


@pytest.mark.slow  # a process of its own imports JAX
def test_jax_trains_and_stacks_arrays_in_memory_without_importing_tensorflow(tiny: Path) -> None:
    """NumPy batches feed JAX (kexp.train.feed.array_batches): the process never pays
    TensorFlow's import. (A process with TensorFlow loaded ends by quick exit, before the
    print.)"""
    import subprocess
    import sys

    code = ("import sys\n"
            "from kexp.cli import main\n"
            "for argv in (['run', sys.argv[1]], ['cv', sys.argv[1], '--folds', '2', '--stack']):\n"
            "    sys.argv = ['kexp', *argv, '--backend', 'jax', '--runs-dir', 'runs']\n"
            "    try:\n"
            "        main()\n"
            "    except SystemExit as exc:\n"
            "        assert exc.code in (0, None), exc.code\n"
            "print('tensorflow imported:', 'tensorflow' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code, str(tiny)], capture_output=True,
                          text=True, env={k: v for k, v in os.environ.items()
                                          if k != "KERAS_BACKEND"}, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("tensorflow imported: False"), done.stdout[-2000:]
    run = next(p for p in Path("runs").iterdir() if (p / "env.json").exists())
    env = json.loads((run / "env.json").read_text())
    assert env["backend"] == "jax" and env["tensorflow"]  # its version, read from its metadata


@pytest.mark.slow  # two processes import Keras on JAX, then TensorFlow for the text layer
def test_text_trains_and_predicts_on_jax_in_a_process_without_tensorflow(tmp_path: Path) -> None:
    """The tokenize step's TextVectorization needs TensorFlow on every backend: a fresh
    JAX process imports it for the step (for fitting in ``kexp run``, for the saved
    vocabulary in ``kexp predict``), not only where something else imported it first."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    def kexp(*args: str) -> subprocess.CompletedProcess:  # --backend jax beats KERAS_BACKEND
        done = subprocess.run([sys.executable, "-m", "kexp", *args], cwd=ROOT, env=kexp_env(),
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-1000:] + done.stderr[-2000:]
        return done

    kexp("run", "configs/text_lstm.yaml", "--backend", "jax", "--epochs", "1",
         "--runs-dir", str(tmp_path))
    run = only_folder(tmp_path)
    assert json.loads((run / "env.json").read_text())["backend"] == "jax"
    texts = tmp_path / "texts.csv"
    texts.write_text("text\nThe computer crashed again\nBeam me up\n")
    kexp("predict", str(run), str(texts), "--out", str(tmp_path / "out.csv"))
    assert len((tmp_path / "out.csv").read_text().splitlines()) == 3


def test_keras_backend_is_the_default_and_a_bad_one_is_named(
        tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kexp import backend

    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert backend.default_name() == "tensorflow"
    monkeypatch.setenv("KERAS_BACKEND", "theano")
    result = invoke("validate", str(tiny), exit_code=2)
    assert "received 'theano' (from KERAS_BACKEND)" in result.output, result.output
    assert "Write backend: tensorflow, jax or torch" in result.output
    result = invoke("validate", str(tiny), "--backend", "tensorflow", exit_code=0)


@pytest.mark.parametrize("args", [
    ["run", "--resume", "runs/x", "--backend", "jax"],
    ["cv", "--resume", "runs/x", "--backend", "jax"],
    ["sweep", "--resume", "runs/x", "--backend", "jax"],
], ids=["run", "cv", "sweep"])
def test_resume_takes_the_backend_from_the_folder(tiny: Path, args: list[str]) -> None:
    Path("runs/x").mkdir(parents=True)
    result = invoke(*args, exit_code=2)
    assert "--backend" in result.output and "resume" in result.output, result.output


def test_a_sweep_over_the_backend_is_refused(tiny: Path) -> None:
    result = invoke("sweep", str(tiny), "--param", "backend=tensorflow,jax", "--runs-dir", "runs",
                    exit_code=2)
    assert "a sweep trains every trial in processes of one Keras backend" in result.output
    assert "kexp sweep SPEC --backend jax" in result.output


def test_an_older_run_folder_reads_as_tensorflows(tiny: Path) -> None:
    from kexp.report.compare import with_defaults

    assert with_defaults([{"name": "a"}, {"name": "b", "backend": "jax"}]) == [
        {"name": "a", "backend": "tensorflow"}, {"name": "b", "backend": "jax"}]


@pytest.mark.slow  # a process per backend, started once the session collected this test
def test_the_backend_suite_passes_on_jax_and_torch() -> None:
    from tests import backend_runs

    names = backend_runs.installed()
    if not names:
        pytest.skip("neither jax nor torch is installed (pip install 'kexp[jax]' 'kexp[torch]')")
    for name in names:
        code, output = backend_runs.result(name)
        assert code == 0, f"on {name}:\n{output[-6000:]}"
        assert " passed" in output
    assert os.environ.get("KEXP_BACKEND_SUITE") != "1"
    if len(names) < 2:
        pytest.skip(f"only {names[0]} is installed; its suite passed")
