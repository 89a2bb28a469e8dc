"""Exact resume: a run stopped at any point (an exception, SIGKILL mid-epoch, during the
evaluation after training) goes on with ``kexp run --resume`` from its last checkpoint
and ends with the history.csv, metrics and predictions of the run that was never
stopped, byte for byte (``deterministic: true``, TensorFlow on CPU); so do a CV's fold and
a sweep's trial. And what cannot be resumed as it was is refused, exit 2, naming why.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kexp.train import checkpoint
from tests.helpers import invoke, kexp_env, kill_group, only_folder

CRASH = '''\
"""A callback that stops its process once, at a batch end of an epoch (batch -1: when
training has ended, in the evaluation's place), by an exception or SIGKILL."""
import os
import signal
from pathlib import Path

import keras


class Crash(keras.callbacks.Callback):
    def __init__(self, epoch, batch, marker, kill=False):
        super().__init__()
        self.epoch, self.batch, self.marker, self.kill = epoch, batch, marker, kill
        self.current = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def _crash(self):
        if Path(self.marker).exists():
            return
        Path(self.marker).write_text("stopped here")
        if self.kill:
            os.kill(os.getpid(), signal.SIGKILL)
        raise RuntimeError("the test stops the run here")

    def on_train_batch_end(self, batch, logs=None):
        if self.batch >= 0 and self.current == self.epoch and batch == self.batch:
            self._crash()

    def on_train_end(self, logs=None):
        if self.batch < 0:
            self._crash()
'''

SPEC = """\
name: resumed
seed: 5
deterministic: true
data:
  source: csv
  path: datasets/pima.csv
  features: "0:8"
  target: 8
  test: {{size: 0.25, stratify: true}}
preprocess:
  x: [standardize]
model:
  layers:
    - Dense: {{units: 8, activation: relu, input_dim: 8}}
    - Dropout: 0.3
    - Dense: {{units: 1, activation: sigmoid}}
compile:
  loss: binary_crossentropy
  optimizer: {optimizer}
  metrics: [accuracy]
fit:
  epochs: {epochs}
  batch_size: 8
  validation_split: 0.2
  callbacks:
    - EarlyStopping: {{monitor: val_loss, patience: {patience}, restore_best_weights: true}}
{more}    - crash:Crash: {{epoch: {epoch}, batch: {batch}, marker: {marker}, kill: {kill}}}
"""

PLATEAU = "    - ReduceLROnPlateau: {monitor: val_loss, patience: 1, factor: 0.5}\n"
DECAY = ("{Adam: {learning_rate: {ExponentialDecay: {initial_learning_rate: 0.02, "
         "decay_steps: 10, decay_rate: 0.8}}}}")


def _spec(workdir: Path, *, epoch: int, batch: int, epochs: int = 6, patience: int = 50,
          optimizer: str = "{Adam: {learning_rate: 0.01}}", more: str = PLATEAU,
          kill: bool = False, name: str = "spec.yaml") -> Path:
    (workdir / "crash.py").write_text(CRASH)
    sys.modules.pop("crash", None)  # an earlier test's, from its own folder
    path = workdir / name
    path.write_text(SPEC.format(optimizer=optimizer, epochs=epochs, patience=patience, more=more,
                                epoch=epoch, batch=batch, marker=workdir / "marker",
                                kill="true" if kill else "false"))
    return path


def _reference(spec: Path, runs: str = "reference") -> Path:
    """The run never stopped: the same spec, its crash already spent."""
    marker = spec.parent / "marker"
    marker.write_text("spent")
    invoke("run", str(spec), "--runs-dir", runs, exit_code=0)
    marker.unlink()
    return only_folder(Path(runs))


def _same_record(a: Path, b: Path) -> None:
    for name in ("history.csv", "predictions.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert json.loads((a / "metrics.json").read_text()) == json.loads((b / "metrics.json").read_text())


def _status(folder: Path) -> dict:
    return json.loads((folder / "status.json").read_text())


# ------------------------------------------------------------------ identity, this process


@pytest.mark.parametrize(("epoch", "batch", "epochs", "patience", "optimizer", "more", "saved"), [
    (2, 3, 6, 50, "{Adam: {learning_rate: 0.01}}", PLATEAU, 2),  # mid-epoch, ReduceLROnPlateau
    (4, 0, 6, 50, DECAY, "", 4),  # the first batch of an epoch; a learning-rate schedule
    (0, -1, 6, 50, "{Adam: {learning_rate: 0.01}}", PLATEAU, 6),  # after training: evaluation
    (0, -1, 40, 1, "{Adam: {learning_rate: 0.05}}", "", None),  # EarlyStopping stopped it
], ids=["mid-epoch", "schedule", "after-training", "early-stopped"])
def test_a_stopped_run_resumes_to_the_record_of_one_never_stopped(
        workdir: Path, epoch: int, batch: int, epochs: int, patience: int, optimizer: str,
        more: str, saved: int | None) -> None:
    spec = _spec(workdir, epoch=epoch, batch=batch, epochs=epochs, patience=patience,
                 optimizer=optimizer, more=more)
    reference = _reference(spec)
    invoke("run", str(spec), "--runs-dir", "runs", exit_code=1)
    folder = only_folder(Path("runs"))
    assert _status(folder)["status"] == "failed"
    ckpt, _ = checkpoint.latest(folder / "checkpoints")
    assert ckpt is not None
    if saved is None:  # stopped early: the checkpoint of the epoch it stopped at
        saved = len((reference / "history.csv").read_text().splitlines()) - 1
        assert saved < epochs and ckpt.stopped
    assert ckpt.epoch == saved
    result = invoke("run", "--resume", str(folder), exit_code=0)
    assert f"at epoch {saved + 1} of {epochs}" in result.output
    _same_record(reference, folder)
    status = _status(folder)
    assert status["status"] == "completed" and status["epochs"] == _status(reference)["epochs"]
    assert [r["from_epoch"] for r in status["resumes"]] == [saved]
    assert not (folder / "checkpoints").exists()  # a finished run keeps its model.keras only


def test_checkpoints_every_n_epochs_keep_the_newest(workdir: Path) -> None:
    spec = _spec(workdir, epoch=6, batch=2, epochs=8)
    text = spec.read_text().replace("  callbacks:", "  checkpoint: {every_epochs: 3, keep: 2}\n"
                                                   "  callbacks:")
    spec.write_text(text)
    reference = _reference(spec)
    invoke("run", str(spec), "--runs-dir", "runs", exit_code=1)
    folder = only_folder(Path("runs"))
    assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == [
        "epoch-000003.npz", "epoch-000006.npz"]
    # the newest damaged (cut short): the one before it, and a note saying so
    newest = folder / "checkpoints" / "epoch-000006.npz"
    newest.write_bytes(newest.read_bytes()[:200])
    result = invoke("run", "--resume", str(folder), exit_code=0)
    assert "epoch-000006.npz is damaged" in result.output and "at epoch 4 of 8" in result.output
    _same_record(reference, folder)


def test_checkpoint_false_writes_none(workdir: Path) -> None:
    spec = _spec(workdir, epoch=1, batch=2)
    spec.write_text(spec.read_text().replace("  callbacks:", "  checkpoint: false\n  callbacks:"))
    invoke("run", str(spec), "--runs-dir", "runs", exit_code=1)
    folder = only_folder(Path("runs"))
    assert not (folder / "checkpoints").exists()
    result = invoke("run", "--resume", str(folder), exit_code=2)
    assert "no checkpoint to resume from" in result.output and "fit.checkpoint is false" in result.output


# -------------------------------------------------------------------------- refusals


@pytest.fixture()
def stopped(workdir: Path) -> Path:
    """A run that failed at epoch 3 with checkpoints of epochs 1 and 2."""
    invoke("run", str(_spec(workdir, epoch=2, batch=1)), "--runs-dir", "runs", exit_code=1)
    return only_folder(Path("runs"))


def test_resume_refuses_what_changed(stopped: Path, workdir: Path) -> None:
    config = stopped / "config.yaml"
    original = config.read_text()
    config.write_text(original.replace("batch_size: 8", "batch_size: 16"))
    out = invoke("run", "--resume", str(stopped), exit_code=2).output
    assert "differs from the config the run started with: fit.batch_size: 8 then, 16 now" in out
    config.write_text(original)

    spec = stopped / "spec.yaml"
    original = spec.read_text()
    spec.write_text(original + "# edited\n")
    assert "spec.yaml: changed since the run started" in invoke(
        "run", "--resume", str(stopped), exit_code=2).output
    spec.write_text(original)

    data = workdir / "datasets" / "pima.csv"
    original = data.read_text()
    data.write_text(original.replace("\n", "\n", 1).replace("1", "2", 1))
    assert "the data that" in invoke("run", "--resume", str(stopped), exit_code=2).output
    data.write_text(original)

    crash = workdir / "crash.py"
    crash.write_text(crash.read_text() + "\n# edited\n")
    out = invoke("run", "--resume", str(stopped), exit_code=2).output
    assert "custom code changed since the run started: module 'crash'" in out
    assert _status(stopped)["status"] == "failed"  # nothing was trained or marked running


def test_resume_refuses_a_completed_running_or_other_folder(stopped: Path, workdir: Path) -> None:
    status = _status(stopped)
    (stopped / "status.json").write_text(json.dumps({**status, "status": "running",
                                                     "pid": os.getpid()}))
    assert "still running (process" in invoke("run", "--resume", str(stopped), exit_code=2).output
    (stopped / "status.json").write_text(json.dumps({**status, "status": "completed"}))
    assert "the run completed; there is nothing to resume" in invoke(
        "run", "--resume", str(stopped), exit_code=2).output
    (stopped / "status.json").write_text(json.dumps({**status, "kind": "cv"}))
    assert "resume it with kexp cv --resume" in invoke(
        "run", "--resume", str(stopped), exit_code=2).output
    usage = invoke("run", "spec.yaml", "--resume", str(stopped), "--epochs", "3", exit_code=2)
    assert "SPEC, --epochs cannot be given with it" in usage.output
    assert "missing SPEC" in invoke("run", exit_code=2).output


# ------------------------------------------------------------------- CV folds, sweep trials


def test_a_cv_fold_resumes_from_its_own_checkpoint(workdir: Path) -> None:
    spec = _spec(workdir, epoch=3, batch=2)
    marker = workdir / "marker"
    marker.write_text("spent")
    invoke("cv", str(spec), "--folds", "2", "--runs-dir", "reference", "--no-plots", exit_code=0)
    marker.unlink()
    invoke("cv", str(spec), "--folds", "2", "--runs-dir", "runs", "--no-plots", exit_code=1)
    cv = only_folder(Path("runs"))
    assert _status(cv / "fold-01")["status"] == "failed"
    invoke("cv", "--resume", str(cv), exit_code=0)
    assert [r["from_epoch"] for r in _status(cv / "fold-01")["resumes"]] == [3]
    reference = only_folder(Path("reference"))
    for fold in ("fold-01", "fold-02"):
        _same_record(reference / fold, cv / fold)


def test_a_sweep_trial_resumes_from_its_own_checkpoint(workdir: Path) -> None:
    spec = _spec(workdir, epoch=2, batch=4)
    args = ["--param", "fit.batch_size=8,16", "--no-plots", "--no-save-models"]
    marker = workdir / "marker"
    marker.write_text("spent")
    invoke("sweep", str(spec), *args, "--runs-dir", "reference", exit_code=0)
    marker.unlink()
    invoke("sweep", str(spec), *args, "--runs-dir", "runs", exit_code=0)  # trial 1 failed
    sweep = only_folder(Path("runs"))
    first = sorted((sweep / "trials").iterdir())[0]
    assert _status(first)["status"] == "failed"
    invoke("sweep", "--resume", str(sweep), exit_code=0)
    assert [r["from_epoch"] for r in _status(first)["resumes"]] == [2]
    _same_record(sorted((only_folder(Path("reference")) / "trials").iterdir())[0], first)


# ------------------------------------------------------------------ SIGKILL, a real process


def test_sigkill_mid_epoch_on_a_busy_machine_then_resume(workdir: Path, busy_cpu: None) -> None:
    spec = _spec(workdir, epoch=3, batch=5, kill=True)
    reference = _reference(spec)
    proc = subprocess.Popen([sys.executable, "-m", "kexp", "run", str(spec), "--runs-dir", "runs"],
                            cwd=workdir, env=kexp_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=300)
    finally:
        kill_group(proc)
    assert proc.returncode == -signal.SIGKILL, err
    folder = only_folder(Path("runs"))
    assert _status(folder)["status"] == "running"  # what kill -9 leaves: kexp ls says died
    assert "died" in invoke("ls", "runs", exit_code=0).output
    done = subprocess.run([sys.executable, "-m", "kexp", "run", "--resume", str(folder)],
                          cwd=workdir, env=kexp_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "at epoch 4 of 6" in done.stderr
    _same_record(reference, folder)
    assert [r["from_epoch"] for r in _status(folder)["resumes"]] == [3]


def test_a_checkpoint_holds_the_optimizer_and_callback_state(workdir: Path) -> None:
    invoke("run", str(_spec(workdir, epoch=3, batch=0)), "--runs-dir", "runs", exit_code=1)
    ckpt, _ = checkpoint.latest(only_folder(Path("runs")) / "checkpoints")
    assert ckpt is not None and ckpt.epoch == 3 and ckpt.meta["batches"] == 3 * ckpt.meta["steps"]
    names = [c["class"] for c in ckpt.meta["callbacks"]]
    assert names == ["EarlyStopping", "ReduceLROnPlateau", "Crash"]
    early = ckpt.meta["callbacks"][0]
    assert early["state"]["wait"] >= 0 and early["arrays"] == {"best_weights": 4}
    assert int(np.asarray(ckpt.arrays["optimizer.0"])) == 3 * ckpt.meta["steps"]  # iterations
    assert ckpt.history.count("\n") == 4  # header and 3 epochs, as CSVLogger wrote them
    assert ckpt.meta["record"]["spec_path"] == str(workdir / "spec.yaml")
