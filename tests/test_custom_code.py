"""Custom code named in a spec: imported, checked against its slot before anything
calls it, kept with the run, and loaded back by ``kexp predict`` from any folder."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from kexp.cli import cli
from kexp.errors import ConfigError
from kexp.model import custom, layers, objects, resolve
from tests.conftest import PIMA_SPEC, ROOT
from tests.helpers import only_folder

keras = pytest.importorskip("keras")
PAYLOAD = "echo PWNED > pwned.txt"

RANDOM_SPEC = """\
name: custom-tiny
seed: 1
data: {source: random, samples: 24, shape: [4], classes: 2}
model:
  layers:
    - LAYER
    - Dense: {units: 1, activation: ACTIVATION}
compile:
  loss: LOSS
  optimizer: OPTIMIZER
  metrics: METRICS
fit:
  epochs: 1
  batch_size: 8
  callbacks: CALLBACKS
"""
SAFE = {
    "LAYER": "Dense: {units: 3}", "ACTIVATION": "sigmoid", "LOSS": "binary_crossentropy",
    "OPTIMIZER": "adam", "METRICS": "[accuracy]", "CALLBACKS": "[]",
}
ATTACKS = {
    "LAYER": f'"os:system": {{command: "{PAYLOAD}"}}',
    "ACTIVATION": f'{{"os:system": "{PAYLOAD}"}}',
    "LOSS": f'{{"os:system": "{PAYLOAD}"}}',
    "OPTIMIZER": f'{{"os:system": "{PAYLOAD}"}}',
    "METRICS": f'[{{"os:system": "{PAYLOAD}"}}]',
    "CALLBACKS": f'[{{"os:system": "{PAYLOAD}"}}]',
}
SLOT_PATHS = {
    "LAYER": "model.layers[0].os:system", "ACTIVATION": "model.layers[1].Dense.activation.os:system",
    "LOSS": "compile.loss.os:system", "OPTIMIZER": "compile.optimizer.os:system",
    "METRICS": "compile.metrics[0].os:system", "CALLBACKS": "fit.callbacks[0].os:system",
}

PARTS = '''\
"""Custom code for kexp's tests."""
import keras
from shutil import rmtree  # noqa: F401  (a standard-library function, imported here)


def loss_fn(y_true, y_pred):
    return keras.ops.mean(keras.ops.abs(y_true - y_pred), axis=-1)


def one_argument(y_true):
    return y_true


def act(x):
    return keras.ops.relu(x)


@keras.saving.register_keras_serializable(package="kxcustom")
class ScaledLoss(keras.losses.Loss):
    def __init__(self, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, y_true, y_pred):
        return self.scale * keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)


@keras.saving.register_keras_serializable(package="kxcustom")
class Twice(keras.layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class Quiet(keras.callbacks.Callback):
    def __init__(self, every=1):
        super().__init__()
        self.every = every


instance = ScaledLoss(2.0)
VALUE = 3
'''


def spec_text(**slots: str) -> str:
    text = RANDOM_SPEC
    for key, value in {**SAFE, **slots}.items():
        text = text.replace(key, value)
    return text


@pytest.fixture()
def kxcustom(workdir: Path) -> Path:
    """A package ``kxcustom`` (module ``parts``) in the current folder, importable."""
    pkg = workdir / "kxcustom"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('"""Test package."""\n')
    (pkg / "parts.py").write_text(PARTS)
    resolve.add_search_path(workdir)
    return pkg


# ------------------------------------------------------------------ nothing from a spec runs


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("slot", list(ATTACKS))
def test_a_spec_never_runs_a_shell_command(write_spec, runner, workdir, command, slot):
    spec = write_spec(spec_text(**{slot: ATTACKS[slot]}))
    result = runner.invoke(cli, [command, str(spec)])
    assert not (workdir / "pwned.txt").exists()
    assert result.exit_code == 2, result.output
    assert SLOT_PATHS[slot] in result.output and "'os:system' is a built-in" in result.output
    assert "Traceback" not in result.output
    assert not (workdir / "runs").exists() or not list((workdir / "runs").iterdir())


@pytest.mark.parametrize(
    "loss, what",
    [
        ('{"subprocess:call": ["sh", "-c", "echo PWNED > pwned.txt"]}', "standard library (subprocess.call)"),
        ("{\"builtins:eval\": \"__import__('os').system('echo PWNED > pwned.txt')\"}", "a built-in"),
        ('{"shutil:rmtree": {path: victim}}', "standard library (shutil.rmtree)"),
        ('{"kxcustom.parts:rmtree": {path: victim}}', "standard library (shutil.rmtree)"),
        ('"os:sep"', "not callable (a str)"),
        ('"kxcustom.parts:VALUE"', "not callable (an int)"),
    ],
)
def test_refused_loss_references(write_spec, runner, workdir, kxcustom, loss, what):
    (workdir / "victim").mkdir()
    spec = write_spec(spec_text(LOSS=loss))
    result = runner.invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 2, result.output
    assert what in result.output
    assert "a custom loss must be a Python function f(y_true, y_pred) or a subclass of keras.losses.Loss" in result.output
    assert (workdir / "victim").is_dir() and not (workdir / "pwned.txt").exists()


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_bare_value_as_metric_is_bad_input(write_spec, runner, workdir, command):
    result = runner.invoke(cli, [command, str(write_spec(spec_text(METRICS='["os:sep"]')))])
    assert result.exit_code == 2, result.output
    assert "compile.metrics[0]" in result.output and "not callable" in result.output
    assert "keras.metrics.Metric" in result.output


# ------------------------------------------------------------------ what each slot accepts

LOC = ("compile", "loss")


def test_plain_function_is_returned_not_called(kxcustom):
    fn = objects.loss("kxcustom.parts:loss_fn", LOC, [])
    assert fn.__name__ == "loss_fn"
    assert objects.metric("kxcustom.parts:loss_fn", ("compile", "metrics", 0), []).__name__ == "loss_fn"
    assert objects.activation("kxcustom.parts:act", ("a",)).__name__ == "act"


def test_a_function_given_arguments_is_refused(kxcustom):
    with pytest.raises(ConfigError, match="is a function, so it takes no arguments here"):
        objects.loss({"kxcustom.parts:loss_fn": {"scale": 2}}, LOC, [])


def test_a_function_with_the_wrong_arguments_is_refused(kxcustom):
    with pytest.raises(ConfigError, match=r"takes \(y_true\); Keras calls it as f\(y_true, y_pred\)"):
        objects.loss("kxcustom.parts:one_argument", LOC, [])


def test_classes_are_instantiated_with_the_spec_arguments(kxcustom):
    loss = objects.loss({"kxcustom.parts:ScaledLoss": {"scale": 3.0}}, LOC, [])
    assert loss.scale == 3.0
    assert objects.loss("kxcustom.parts:ScaledLoss", LOC, []).scale == 1.0  # no arguments: made anyway
    layer = layers.layer({"kxcustom.parts:Twice": {"factor": 4.0}}, ("model", "layers", 0))
    assert layer.factor == 4.0
    cb = objects.callback({"kxcustom.parts:Quiet": {"every": 5}}, ("fit", "callbacks", 0), None)
    assert cb.every == 5


@pytest.mark.parametrize(
    "resolve_it, name, accepts",
    [
        (lambda n: objects.loss(n, LOC, []), "kxcustom.parts:Twice", "keras.losses.Loss"),
        (lambda n: objects.metric(n, LOC, []), "kxcustom.parts:ScaledLoss", "keras.metrics.Metric"),
        (lambda n: layers.layer({n: {}}, LOC), "kxcustom.parts:loss_fn", "keras.layers.Layer"),
        (lambda n: objects.optimizer(n, LOC, []), "kxcustom.parts:ScaledLoss", "keras.optimizers.Optimizer"),
        (lambda n: objects.initializer(n, LOC), "kxcustom.parts:act", "keras.initializers.Initializer"),
        (lambda n: objects.regularizer(n, LOC), "kxcustom.parts:Twice", "keras.regularizers.Regularizer"),
        (lambda n: objects.constraint(n, LOC), "kxcustom.parts:Quiet", "keras.constraints.Constraint"),
        (lambda n: objects.callback(n, LOC, None), "kxcustom.parts:loss_fn", "keras.callbacks.Callback"),
        (lambda n: objects.lr_schedule(n, LOC), "kxcustom.parts:Quiet",
         "keras.optimizers.schedules.LearningRateSchedule"),
        (lambda n: objects.loss(n, LOC, []), "kxcustom.parts:instance", "keras.losses.Loss"),
    ],
)
def test_each_slot_takes_only_its_kind(kxcustom, resolve_it, name, accepts):
    with pytest.raises(ConfigError, match=f"must be .*{accepts}"):
        resolve_it(name)


@pytest.mark.parametrize(
    "kind, name, args",
    [
        ("loss", "keras.losses:Huber", {"delta": 2.0}),
        ("metric", "keras.metrics:AUC", {"num_thresholds": 10}),
        ("activation", "keras.layers:ReLU", None),
        ("layer", "keras.layers:Dense", {"units": 2}),
        ("optimizer", "keras.optimizers:Adam", None),
        ("initializer", "keras.initializers:Zeros", None),
        ("regularizer", "keras.regularizers:L2", {"l2": 0.1}),
        ("constraint", "keras.constraints:NonNeg", None),
        ("callback", "keras.callbacks:TerminateOnNaN", None),
        ("learning-rate schedule", "keras.optimizers.schedules:ExponentialDecay",
         {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}),
    ],
)
def test_each_slot_takes_a_subclass_of_its_keras_base(kind, name, args):
    obj = custom.make(kind, name, args, ("x",))
    assert isinstance(obj, custom.base_class(kind))


def test_references_name_each_slot():
    tree = {
        "model": {"layers": [
            {"a.b:L": {"activation": "a.b:act", "kernel_initializer": {"a.b:Init": {}}}},
            {"Bidirectional": {"layer": {"a.b:L2": {"recurrent_activation": "a.b:act2"}}}},
            {"Dense": {"units": 1, "name": "not:code"}},
        ]},
        "compile": {"loss": {"out": "a.b:loss"}, "metrics": ["accuracy", {"a.b:M": {}}],
                    "optimizer": {"Adam": {"learning_rate": {"a.b:Sched": {}}}}},
        "fit": {"callbacks": ["a.b:Cb"]},
        "data": {"target": "col:x"},
    }
    assert {(kind, name) for kind, name, _ in custom.references(tree)} == {
        ("layer", "a.b:L"), ("activation", "a.b:act"), ("initializer", "a.b:Init"),
        ("layer", "a.b:L2"), ("activation", "a.b:act2"), ("loss", "a.b:loss"), ("metric", "a.b:M"),
        ("learning-rate schedule", "a.b:Sched"), ("callback", "a.b:Cb"),
    }
    graph = {"model": {"nodes": {
        "n1": {"a.b:N": {"units": 2, "activation": "a.b:act"}, "inputs": "x"},
        "n2": {"layer": "n1", "inputs": "x"},
        "n3": {"Dense": {"units": 1}, "inputs": ["n1", "n2"]},
    }}}
    assert custom.references(graph) == [
        ("layer", "a.b:N", ("model", "nodes", "n1", "a.b:N")),
        ("activation", "a.b:act", ("model", "nodes", "n1", "a.b:N", "activation")),
    ]


# ------------------------------------------------------------------ kept with the run

CUSTOM_SPEC = (
    PIMA_SPEC.replace('features: "0:8"\n  target: 8', "features: [0, 2, 3, 4, 5, 6, 7]\n  target: 1")
    .replace("- Dense: {units: 4, activation: relu, input_dim: 8}",
             "- Dense: {units: 4, activation: relu, input_dim: 7}\n    - kxcustom.parts:Twice: {factor: 0.5}")
    .replace("{units: 1, activation: sigmoid}", "{units: 1}")
    .replace("loss: binary_crossentropy", "loss: examples.inventory:inventory_cost")
    .replace("metrics: [accuracy]", "metrics: [mae]")
)


def _predict(run: Path, data: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "kexp", "predict", str(run), str(data), "--out", "p.csv"],
        capture_output=True, text=True, cwd=cwd, timeout=300, env=env,
    )


@pytest.mark.slow  # two `kexp predict` subprocesses, each importing TensorFlow
def test_run_keeps_its_custom_modules_and_predicts_from_any_folder(write_spec, runner, workdir, kxcustom, tmp_path_factory):
    result = runner.invoke(cli, ["run", str(write_spec(CUSTOM_SPEC))])
    assert result.exit_code == 0, result.output
    run = only_folder(workdir / "runs")
    env = json.loads((run / "env.json").read_text())
    kept = {r["module"]: r for r in env["custom_code"]}
    assert set(kept) == {"examples", "examples.inventory", "kxcustom", "kxcustom.parts"}
    for module, rel in [("examples.inventory", "examples/inventory.py"), ("kxcustom.parts", "kxcustom/parts.py"),
                        ("examples", "examples/__init__.py")]:
        copy = run / "custom" / rel
        assert copy.read_bytes() == (workdir / rel).read_bytes()
        assert kept[module]["path"] == f"custom/{rel}"
        assert kept[module]["sha256"] == hashlib.sha256(copy.read_bytes()).hexdigest()

    elsewhere = tmp_path_factory.mktemp("elsewhere")  # no examples/ or kxcustom/ here
    proc = _predict(run, workdir / "datasets" / "pima.csv", elsewhere)
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_csv(elsewhere / "p.csv")) == 120

    (run / "custom").rename(run / "custom-gone")  # without the copy, nothing to import
    proc = _predict(run, workdir / "datasets" / "pima.csv", elsewhere)
    assert proc.returncode == 2, proc.stderr
    assert "cannot import module" in proc.stderr and "Traceback" not in proc.stderr


def test_predict_checks_custom_code_and_leaves_sys_path(write_spec, runner, workdir):
    from kexp import predict as predict_mod

    assert runner.invoke(cli, ["run", str(write_spec(PIMA_SPEC))]).exit_code == 0
    run = only_folder(workdir / "runs")
    before = list(sys.path)
    predict_mod.predict(run, workdir / "datasets" / "pima.csv", workdir / "p.csv")
    assert sys.path == before

    config = yaml.safe_load((run / "config.yaml").read_text())
    config["compile"]["loss"] = {"os:system": PAYLOAD}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(cli, ["predict", str(run), "datasets/pima.csv"])
    assert result.exit_code == 2, result.output
    assert "config.yaml: compile.loss.os:system: 'os:system' is a built-in" in result.output
    assert not (workdir / "pwned.txt").exists() and sys.path == before


def test_predict_refuses_a_lambda_layer_with_the_fix(write_spec, runner, workdir):
    assert runner.invoke(cli, ["run", str(write_spec(PIMA_SPEC))]).exit_code == 0
    run = only_folder(workdir / "runs")
    model = keras.Sequential([keras.Input((8,)), keras.layers.Lambda(lambda x: x * 2),
                              keras.layers.Dense(1, activation="sigmoid")])
    (run / "model.keras").unlink()
    model.save(run / "model.keras")
    result = runner.invoke(cli, ["predict", str(run), "datasets/pima.csv"])
    assert result.exit_code == 2, result.output
    assert "Lambda layer" in result.output and "safe mode" in result.output
    assert "package.module:Class" in result.output


def test_a_lambda_layer_in_a_spec_is_refused(write_spec, runner):
    spec = write_spec(spec_text(LAYER='Lambda: {function: "lambda x: x"}'))
    result = runner.invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 2, result.output
    assert "model.layers[0].Lambda" in result.output and "package.module:Class" in result.output


# ------------------------------------------------------------------ the record is complete


def test_config_yaml_records_what_was_used_and_validates_again(write_spec, runner, workdir):
    from kexp.spec import Config

    text = (PIMA_SPEC.replace("optimizer: {Adam: {learning_rate: 0.01}}",
                              "optimizer: {SGD: {lr: 0.05, decay: 0.001, momentum: 0.9}}")
            .replace("loss: binary_crossentropy", "loss: logcosh")
            .replace("metrics: [accuracy]", "metrics: [accuracy, logcosh, kullback_leibler_divergence]"))
    spec = write_spec(text)
    result = runner.invoke(cli, ["run", str(spec), "--set", "fit.epochs=3"])
    assert result.exit_code == 0, result.output
    run = only_folder(workdir / "runs")
    assert (run / "spec.yaml").read_text() == spec.read_text()  # the original spelling
    config = yaml.safe_load((run / "config.yaml").read_text())
    sgd = config["compile"]["optimizer"]["SGD"]
    assert "lr" not in sgd and "decay" not in sgd and sgd["momentum"] == 0.9
    assert sgd["learning_rate"] == {"InverseTimeDecay": {
        "initial_learning_rate": 0.05, "decay_steps": 1, "decay_rate": 0.001}}
    assert config["compile"]["loss"] == "log_cosh"
    assert config["compile"]["metrics"] == ["accuracy", "log_cosh_error", "kl_divergence"]

    cfg = Config.model_validate(config)  # what kexp predict and a resumed CV read
    notes: list[str] = []
    opt = objects.optimizer(cfg.compile.optimizer, ("compile", "optimizer"), notes)
    assert not notes  # nothing left to translate
    assert float(opt.learning_rate) == pytest.approx(0.05)
    schedule = opt._learning_rate
    assert float(schedule(100)) == pytest.approx(0.05 / (1 + 0.001 * 100))

    history = pd.read_csv(run / "history.csv")
    assert list(history.columns).count("learning_rate") == 1 and len(history) == 3
    rates = history["learning_rate"].tolist()
    assert rates == sorted(rates, reverse=True) and rates[0] < 0.05
    steps = round((0.05 / rates[0] - 1) / 0.001)  # iterations after the first epoch
    for epoch, rate in enumerate(rates, start=1):
        assert rate == pytest.approx(0.05 / (1 + 0.001 * steps * epoch), rel=1e-5)
    assert runner.invoke(cli, ["predict", str(run), "datasets/pima.csv"]).exit_code == 0


def test_learning_rate_column_with_reduce_lr_on_plateau(write_spec, runner, workdir):
    text = PIMA_SPEC.replace(
        "  validation_split: 0.2\n",
        "  validation_split: 0.2\n  callbacks:\n"
        "    - ReduceLROnPlateau: {monitor: loss, factor: 0.5, patience: 0, min_delta: 1000000}\n",
    )
    result = runner.invoke(cli, ["run", str(write_spec(text)), "--set", "fit.epochs=3"])
    assert result.exit_code == 0, result.output
    history = pd.read_csv(only_folder(workdir / "runs") / "history.csv")
    assert list(history.columns).count("learning_rate") == 1
    assert history["learning_rate"].tolist() == pytest.approx([0.01, 0.01, 0.005])
