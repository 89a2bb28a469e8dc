"""kexp run end to end on tiny data: the run folder is complete and honest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from kexp import experiment
from kexp.cli import cli
from kexp.errors import RunError
from kexp.rundir.write import RunFolder
from kexp.spec import load_spec
from tests.conftest import DIGITS_SPEC, PIMA_SPEC, ROOT
from tests.helpers import only_folder

RUN_FILES = {
    "spec.yaml", "config.yaml", "env.json", "status.json", "history.csv", "metrics.json",
    "predictions.csv", "model.keras", "summary.txt", "preprocess.json", "loss.png", "accuracy.png",
}


def test_run_writes_a_complete_folder(write_spec, runner, workdir):
    spec = write_spec(DIGITS_SPEC)
    result = runner.invoke(cli, ["run", str(spec), "--set", "fit.epochs=3"])
    assert result.exit_code == 0, result.output
    run = only_folder(workdir / "runs")
    assert RUN_FILES <= {p.name for p in run.iterdir()}
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    assert "test metrics: accuracy:" in result.output and f"Run folder: runs/{run.name}" in result.output

    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "completed" and status["epochs"] == 3 and status["kind"] == "run"
    assert status["finished"] and status["duration_s"] > 0

    history = pd.read_csv(run / "history.csv")
    assert list(history.columns) == ["epoch", "accuracy", "learning_rate", "loss", "val_accuracy", "val_loss"]
    assert len(history) == 3

    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["evaluated_on"] == "test" and metrics["samples"] == 100
    assert set(metrics["metrics"]) == {"loss", "accuracy"}

    preds = pd.read_csv(run / "predictions.csv")
    assert list(preds.columns) == ["y_true", "y_pred", *[f"prob_{i}" for i in range(10)]]
    assert len(preds) == 100
    assert preds[[f"prob_{i}" for i in range(10)]].sum(axis=1).round(4).eq(1).all()

    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["fit"]["epochs"] == 3 and resolved["fit"]["shuffle"] is True
    assert resolved["compile"]["steps_per_execution"] == 1  # every default spelled out
    assert (run / "spec.yaml").read_text() == spec.read_text()  # the spec as given

    env = json.loads((run / "env.json").read_text())
    for key in ("python", "tensorflow", "keras", "numpy", "platform", "command", "seed", "data"):
        assert key in env
    assert len(env["data"]["sha256"]) == 64 and env["seed"] == 3
    assert "Total params" in (run / "summary.txt").read_text()
    assert "'input_dim'" not in (run / "summary.txt").read_text()


def test_same_seed_deterministic_same_history(write_spec, runner, workdir):
    spec = write_spec(PIMA_SPEC.replace("seed: 1", "seed: 5\ndeterministic: true"))
    for _ in range(2):
        assert runner.invoke(cli, ["run", str(spec)]).exit_code == 0
    a, b = sorted(p for p in (workdir / "runs").iterdir())
    assert a != b  # two runs never share a folder
    assert (a / "history.csv").read_text() == (b / "history.csv").read_text()
    assert (a / "predictions.csv").read_text() == (b / "predictions.csv").read_text()


def test_binary_predictions_and_predict_roundtrip(write_spec, runner, workdir):
    spec = write_spec(PIMA_SPEC)
    assert runner.invoke(cli, ["run", str(spec)]).exit_code == 0
    run = only_folder(workdir / "runs")
    preds = pd.read_csv(run / "predictions.csv")
    assert list(preds.columns) == ["y_true", "y_pred", "prob_0", "prob_1"]
    assert set(preds["y_pred"]) <= {0, 1}

    new = workdir / "new.csv"  # new patients: feature columns only
    rows = (workdir / "datasets" / "pima.csv").read_text().splitlines()[:7]
    new.write_text("\n".join(",".join(r.split(",")[:8]) for r in rows) + "\n")
    result = runner.invoke(cli, ["predict", str(run), str(new), "--out", "out.csv"])
    assert result.exit_code == 0, result.output
    out = pd.read_csv(workdir / "out.csv")
    assert list(out.columns) == ["y_pred", "prob_0", "prob_1"] and len(out) == 7

    # the saved standardize step is the training part's, not refitted on new data
    state = json.loads((run / "preprocess.json").read_text())
    assert state["steps"][0]["name"] == "standardize"
    assert len(state["steps"][0]["state"]["mean_"]) == 8


def test_predict_bad_run_folder(runner, workdir):
    result = runner.invoke(cli, ["predict", str(workdir), "x.csv"])
    assert result.exit_code == 2
    assert "no config.yaml; is this a completed kexp run folder?" in result.output


def test_custom_loss_run_and_predict(write_spec, runner, workdir):
    text = (
        PIMA_SPEC.replace("features: \"0:8\"\n  target: 8", "features: [0, 2, 3, 4, 5, 6, 7]\n  target: 1")
        .replace("input_dim: 8", "input_dim: 7")
        .replace("{units: 1, activation: sigmoid}", "{units: 1}")
        .replace("loss: binary_crossentropy", "loss: examples.inventory:inventory_cost")
        .replace("metrics: [accuracy]", "metrics: [mae]")
    )
    spec = write_spec(text)
    result = runner.invoke(cli, ["run", str(spec)])
    assert result.exit_code == 0, result.output
    run = only_folder(workdir / "runs")
    assert list(pd.read_csv(run / "predictions.csv").columns) == ["y_true", "y_pred"]
    assert "val_mae" in pd.read_csv(run / "history.csv").columns
    result = runner.invoke(cli, ["predict", str(run), "datasets/pima.csv", "--out", "p.csv"])
    assert result.exit_code == 0, result.output


def test_keras2_spellings_give_notes(write_spec, runner, workdir):
    text = PIMA_SPEC.replace("optimizer: {Adam: {learning_rate: 0.01}}", "optimizer: {SGD: {lr: 0.05, decay: 0.001, momentum: 0.9}}")
    spec = write_spec(text)
    result = runner.invoke(cli, ["run", str(spec)])
    assert result.exit_code == 0, result.output
    assert "Note: compile.optimizer.SGD.lr: Keras 2 'lr' is 'learning_rate'" in result.output
    assert "InverseTimeDecay(0.05, decay_steps=1, decay_rate=0.001)" in result.output
    assert "Note: model.layers[0].Dense.input_dim" in result.output
    status = json.loads((only_folder(workdir / "runs") / "status.json").read_text())
    assert any("decay" in n for n in status["notes"])


def test_callbacks_early_stopping_and_checkpoint(write_spec, runner, workdir):
    text = PIMA_SPEC.replace(
        "validation_split: 0.2",
        "validation_split: 0.2\n  callbacks:\n    - EarlyStopping: {monitor: val_loss, patience: 0, min_delta: 10}\n    - ModelCheckpoint: {}\n    - TerminateOnNaN",
    ).replace("epochs: 2", "epochs: 20")
    result = write_spec(text)
    out = runner.invoke(cli, ["run", str(result)])
    assert out.exit_code == 0, out.output
    run = only_folder(workdir / "runs")
    assert len(pd.read_csv(run / "history.csv")) < 20
    assert (run / "checkpoint.keras").is_file()


def test_no_test_set_evaluates_on_training_data(write_spec, runner, workdir):
    spec = write_spec(PIMA_SPEC.replace("test: {size: 0.25}", "test: null"))
    result = runner.invoke(cli, ["run", str(spec)])
    assert result.exit_code == 0
    assert "train metrics:" in result.output
    run = only_folder(workdir / "runs")
    assert json.loads((run / "metrics.json").read_text())["evaluated_on"] == "train"


def test_interrupted_run_is_marked(write_spec, workdir, monkeypatch):
    spec = load_spec(write_spec(PIMA_SPEC))
    from kexp.train import fit as train

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "fit", boom)
    with pytest.raises(KeyboardInterrupt):
        experiment.run(spec, experiment.Options(runs_dir=workdir / "runs"))
    status = json.loads((only_folder(workdir / "runs") / "status.json").read_text())
    assert status["status"] == "interrupted" and status["finished"]


def test_diverging_run_is_failed(write_spec, runner, workdir):
    text = PIMA_SPEC.replace("x: [standardize]", "x: [{scale: 0.0000001}]").replace(
        "{Adam: {learning_rate: 0.01}}", "{SGD: {learning_rate: 1000000.0}}"
    ).replace("loss: binary_crossentropy", "loss: mse").replace(
        "{units: 1, activation: sigmoid}", "{units: 1}"
    ).replace("metrics: [accuracy]", "metrics: [mae]")
    spec = write_spec(text)
    result = runner.invoke(cli, ["run", str(spec)])
    assert result.exit_code == 2, result.output
    assert "training diverged" in result.output
    status = json.loads((only_folder(workdir / "runs") / "status.json").read_text())
    assert status["status"] == "failed" and "NaN" in status["error"]


def test_exception_marks_failed(write_spec, workdir, monkeypatch):
    spec = load_spec(write_spec(PIMA_SPEC))
    from kexp.train import fit as train

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(train, "evaluate", broken)
    with pytest.raises(RuntimeError):
        experiment.run(spec, experiment.Options(runs_dir=workdir / "runs"))
    status = json.loads((only_folder(workdir / "runs") / "status.json").read_text())
    assert status["status"] == "failed" and status["error"] == "RuntimeError: disk on fire"


def test_unique_folders_in_the_same_second(tmp_path):
    a = RunFolder.create(tmp_path, "x")
    b = RunFolder.create(tmp_path, "x")
    assert a.path != b.path and a.path.name[:15] == b.path.name[:15]


def test_validate_prints_summary(write_spec, runner, workdir):
    spec = write_spec(DIGITS_SPEC)
    result = runner.invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 0, result.output
    assert "Total params: 12,730" in result.output
    assert "Data: 240 train" not in result.output  # validation_split is taken inside fit
    assert f"OK: {spec} is valid." in result.output
    assert not (workdir / "runs").exists()


def test_epochs_seed_name_options(write_spec, runner, workdir):
    spec = write_spec(PIMA_SPEC)
    result = runner.invoke(cli, ["run", str(spec), "--epochs", "1", "--seed", "9", "--name", "other"])
    assert result.exit_code == 0, result.output
    run = only_folder(workdir / "runs")
    assert "-other-" in run.name
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert (cfg["fit"]["epochs"], cfg["seed"], cfg["name"]) == (1, 9, "other")


def test_no_plots_leaves_the_pngs_to_kexp_plot(write_spec, runner, workdir):
    spec = write_spec(PIMA_SPEC)
    result = runner.invoke(cli, ["run", str(spec), "--epochs", "1", "--no-plots"])
    assert result.exit_code == 0, result.output
    run = only_folder(workdir / "runs")
    assert json.loads((run / "status.json").read_text())["status"] == "completed"
    assert not list(run.glob("*.png"))
    result = runner.invoke(cli, ["plot", str(run)])
    assert result.exit_code == 0, result.output
    assert {"loss.png", "accuracy.png"} <= {p.name for p in run.glob("*.png")}


def test_missing_seed_is_drawn_and_recorded(write_spec, runner, workdir):
    spec = write_spec(PIMA_SPEC.replace("seed: 1\n", ""))
    assert runner.invoke(cli, ["run", str(spec)]).exit_code == 0
    cfg = yaml.safe_load((only_folder(workdir / "runs") / "config.yaml").read_text())
    assert isinstance(cfg["seed"], int)


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_help_and_spec_errors_do_not_import_tensorflow(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nfit: {epocs: 1}\n")
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from kexp.cli import cli\n"
        "r = CliRunner().invoke(cli, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        f"r = CliRunner().invoke(cli, ['run', {str(bad)!r}])\n"
        "assert r.exit_code == 2, r.output\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'\n"
        f"r = CliRunner().invoke(cli, ['cv', {str(bad)!r}])\n"
        "assert r.exit_code == 2, r.output\n"
        "assert 'sklearn' not in sys.modules and 'tensorflow' not in sys.modules, 'heavy imports'\n"
        "print('ok')\n"
    )
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_cli_exit_code_2_and_no_traceback_in_a_real_process(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {source: mnist}\nmodel: {layers: [{Dense: {units: 10}}]}\ncompile: {loss: mse}\nfit: {epochs: 0}\n")
    proc = subprocess.run([sys.executable, "-m", "kexp", "run", str(bad)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "Error: fit.epochs (line 4): expected a number of epochs greater than 0, received 0"


def test_run_error_class_exit_code():
    assert RunError("x").exit_code == 2


def test_tensorboard_callback_logs_into_the_run_folder(write_spec, runner, workdir):
    spec = write_spec(PIMA_SPEC.replace("validation_split: 0.2", "validation_split: 0.2\n  callbacks: [TensorBoard]"))
    result = runner.invoke(cli, ["run", str(spec)])
    assert result.exit_code == 0, result.output
    assert list((only_folder(workdir / "runs") / "tensorboard").rglob("events.out.tfevents.*"))


def test_tensorboard_missing_is_a_clear_error(write_spec, runner, workdir, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    spec = write_spec(PIMA_SPEC.replace("validation_split: 0.2", "validation_split: 0.2\n  callbacks: [TensorBoard]"))
    result = runner.invoke(cli, ["run", str(spec)])
    assert result.exit_code == 2
    assert "fit.callbacks[0] (line 23): the TensorBoard callback needs the tensorboard package" in result.output
    assert not (workdir / "runs").exists()


def test_unexpected_failure_is_one_line_exit_1(write_spec, runner, workdir, monkeypatch):
    from kexp.train import fit as train

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(train, "evaluate", broken)
    spec = write_spec(PIMA_SPEC)
    result = runner.invoke(cli, ["run", str(spec)])
    assert result.exit_code == 1
    assert "Error: unexpected failure: RuntimeError: disk on fire" in result.output
    assert "Traceback" not in result.output
    status = json.loads((only_folder(workdir / "runs") / "status.json").read_text())
    assert status["status"] == "failed"
    verbose = runner.invoke(cli, ["-v", "run", str(spec)])
    assert isinstance(verbose.exception, RuntimeError)  # -v shows the real exception


@pytest.mark.parametrize("kind", ["dense", "two-outputs", "lstm", "many-batches"])
def test_predictions_equal_keras_predict(kind: str) -> None:
    """kexp.train.predictions.predict gives model.predict's numbers: called batch by batch
    for a small input on a model of Keras's own, non-recurrent layers; through
    model.predict otherwise (recurrent layers, more than EAGER_BATCHES batches)."""
    import keras
    import numpy as np

    from kexp.train import predictions as pred

    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    if kind == "lstm":
        x = rng.normal(size=(50, 7, 3)).astype("float32")
        model = keras.Sequential([keras.Input((7, 3)), keras.layers.LSTM(4),
                                  keras.layers.Dense(2, activation="softmax")])
    else:
        x = rng.normal(size=(50 if kind != "many-batches" else 500, 6)).astype("float32")
        inp = keras.Input((6,))
        hidden = keras.layers.Dropout(0.5)(keras.layers.Dense(8, activation="relu")(inp))
        outs = [keras.layers.Dense(3, activation="softmax", name="a")(hidden)]
        if kind == "two-outputs":
            outs.append(keras.layers.Dense(1, name="b")(hidden))
        model = keras.Model(inp, outs if len(outs) > 1 else outs[0])
    batch = 8 if kind != "many-batches" else 10
    calls: list[int] = []
    model.predict = lambda *a, _orig=model.predict, **k: calls.append(1) or _orig(*a, **k)
    got = pred.predict(model, x, batch)
    assert bool(calls) == (kind in ("lstm", "many-batches"))
    want = keras.Model.predict(model, x, batch_size=batch, verbose=0)
    for g, w in zip(keras.tree.flatten(got), keras.tree.flatten(want), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)
        assert g.shape == w.shape


def test_evaluate_gives_keras_evaluate_numbers_without_tracing_again() -> None:
    """kexp.train.fit.evaluate feeds the test rows as kexp feeds validation rows: the same
    metrics as model.evaluate on the arrays, and the fit's traced test function is reused."""
    import keras
    import numpy as np

    from kexp.train import feed
    from kexp.train import fit as fit_mod

    keras.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(90, 4)), rng.integers(0, 2, size=(90, 1)).astype("float64")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(feed.batches(x[:60], y[:60], 16, True, 5, repeat=True), steps_per_epoch=4,
              validation_data=feed.batches(x[60:], y[60:], 16, False, 5), shuffle=False, verbose=0)
    traced = model.test_function
    got = fit_mod.evaluate(model, {"x": x[60:]}, {"y": y[60:]}, 16)
    assert model.test_function is traced
    want = model.evaluate(x[60:], y[60:], batch_size=16, verbose=0, return_dict=True)
    assert got.keys() == want.keys()
    for name, value in want.items():
        assert got[name] == pytest.approx(float(value), rel=1e-6), name


QUICK_EXIT = """\
import atexit, sys
sys.argv = ["kexp", "run", "tiny.yaml", "--runs-dir", "runs"]
if {extra!r}:
    __import__({extra!r})
atexit.register(lambda: open("exit-hooks-ran", "w").close())
from kexp.cli import main
main()
"""


@pytest.mark.slow  # two processes import TensorFlow
@pytest.mark.parametrize("extra", ["", "optuna"])
def test_a_successful_command_leaves_at_once_unless_a_module_needs_its_exit_hooks(
        tiny: Path, extra: str) -> None:
    """After a command that succeeded with TensorFlow loaded, kexp skips the interpreter's
    exit (about a second of TensorFlow teardown): the output is complete and the run
    folder written, but exit hooks do not run, unless a module that needs them (Optuna,
    MLflow, Ray) is loaded."""
    proc = subprocess.run([sys.executable, "-c", QUICK_EXIT.format(extra=extra)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert "Run folder:" in proc.stdout + proc.stderr
    run = only_folder(Path("runs"))
    assert json.loads((run / "status.json").read_text())["status"] == "completed"
    assert RUN_FILES <= {p.name for p in run.iterdir()}
    assert Path("exit-hooks-ran").exists() == (extra == "optuna")


def test_offline_mnist_goes_to_the_shipped_sample_with_one_line(runner, tmp_path, monkeypatch):
    """Offline without Keras's cache, keras.datasets.mnist is not even tried: no
    ``Downloading data from https://...`` line, one warning naming the sample."""
    from kexp.data import keras_cache

    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(keras_cache, "reachable", lambda name, timeout=0: False)
    result = runner.invoke(cli, ["validate", "configs/mnist.yaml"])
    assert result.exit_code == 0, result.output
    assert "Downloading" not in result.output
    (line,) = [x for x in result.output.splitlines() if "mnist-sample.npz" in x]
    assert "storage.googleapis.com cannot be reached" in line and "not in " in line
    # a cached file is loaded by Keras itself, never probed for
    (tmp_path / "keras" / "datasets").mkdir(parents=True)
    (tmp_path / "keras" / "datasets" / "mnist.npz").write_bytes(b"")
    assert keras_cache.unavailable("mnist") is None


def test_predict_headerless_rows_without_the_target_column(write_spec, runner, workdir):
    """A file without a header whose target is its first column: new rows without it (the
    usual case) predict, rows with it too, and any other width says which are expected."""
    rows = [r.split(",") for r in (workdir / "datasets" / "pima.csv").read_text().splitlines()]
    (workdir / "datasets" / "first.csv").write_text("\n".join(",".join([r[8], *r[:8]]) for r in rows) + "\n")
    spec = write_spec(PIMA_SPEC.replace("datasets/pima.csv", "datasets/first.csv")
                      .replace('features: "0:8"', 'features: "1:9"').replace("target: 8", "target: 0"))
    assert runner.invoke(cli, ["run", str(spec)]).exit_code == 0
    run = only_folder(workdir / "runs")
    (workdir / "new.csv").write_text("\n".join(",".join(r[:8]) for r in rows[:5]) + "\n")
    result = runner.invoke(cli, ["predict", str(run), str(workdir / "new.csv"), "--out", "a.csv"])
    assert result.exit_code == 0, result.output
    (workdir / "with.csv").write_text("\n".join(",".join([r[8], *r[:8]]) for r in rows[:5]) + "\n")
    result = runner.invoke(cli, ["predict", str(run), str(workdir / "with.csv"), "--out", "b.csv"])
    assert result.exit_code == 0, result.output
    a, b = pd.read_csv(workdir / "a.csv"), pd.read_csv(workdir / "b.csv")
    assert list(a["prob_1"]) == list(b["prob_1"]) and "y_true" in b and "y_true" not in a
    (workdir / "short.csv").write_text("\n".join(",".join(r[:5]) for r in rows[:5]) + "\n")
    result = runner.invoke(cli, ["predict", str(run), str(workdir / "short.csv")])
    assert result.exit_code == 2, result.output
    assert "rows of 5 columns (no header)" in result.output and "give rows of 8 columns" in result.output
