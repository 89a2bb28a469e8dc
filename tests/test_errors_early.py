"""Errors before the wait, and in the user's words (issue 10).

Every name in a spec is resolved before its data is loaded; the loss is checked against
the labels before training; a data file that cannot be read, or labels that cannot be
learnt, are exit 2 with the file's line or the spec's key. No timing here: the latency
is measured by ``bench/error_latency.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kexp.cli import cli
from kexp.data import sources
from kexp.model.blueprint import Blueprint, Node
from kexp.model.loss_labels import Output, check_loss_labels
from tests.conftest import DIGITS_SPEC, PIMA_SPEC
from tests.helpers import replace_once

ROOT = Path(__file__).resolve().parent.parent
P, D = PIMA_SPEC, DIGITS_SPEC


@pytest.fixture()
def no_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading data fails the test: the error must come before it."""
    def load(*args: object, **kwargs: object) -> None:
        raise AssertionError("the data was loaded before the name was checked")

    monkeypatch.setattr(sources, "load", load)


FUNCTIONAL = """\
seed: 1
data: {source: csv, path: datasets/pima.csv, features: "0:8", target: 8}
model:
  type: functional
  inputs: {x: {shape: [8]}}
  nodes:
    h: {Dense: {units: 4}, inputs: x}
    out: {Dense: {units: 1, activation: sigmoid}, inputs: h}
  outputs: [out]
compile: {loss: binary_crossentropy}
fit: {epochs: 1}
"""

NAMES = [
    ("layer", replace_once(P, "- Dense: {units: 1,", "- Dens: {units: 1,"), ["model.layers[1].Dens (line 14)", "unknown layer 'Dens'"]),
    ("layer-argument", replace_once(P, "{units: 1, activation", "{unit: 1, activation"), ["model.layers[1].Dense", "Did you mean 'units'?"]),
    ("wrapped-layer", replace_once(P, "- Dense: {units: 1, activation: sigmoid}", "- Bidirectional: {layer: {LSTMM: {units: 2}}}"),
     ["model.layers[1].Bidirectional.layer.LSTMM", "unknown layer 'LSTMM'", "Did you mean 'LSTM'?"]),
    ("activation", replace_once(P, "units: 1, activation: sigmoid", "units: 1, activation: sigmiod"), ["model.layers[1].Dense.activation", "unknown activation 'sigmiod'"]),
    ("regularizer", replace_once(P, "input_dim: 8}", "input_dim: 8, kernel_regularizer: l3}"), ["kernel_regularizer", "unknown regularizer 'l3'"]),
    ("constraint", replace_once(P, "input_dim: 8}", "input_dim: 8, kernel_constraint: {MaxNorn: {max_value: 2}}}"), ["kernel_constraint", "MaxNorn"]),
    ("initializer", replace_once(P, "input_dim: 8}", "input_dim: 8, bias_initializer: zeroes}"), ["bias_initializer", "unknown initializer 'zeroes'"]),
    ("loss", replace_once(P, "loss: binary_crossentropy", "loss: binary_crosentropy"), ["compile.loss (line 16)", "unknown loss"]),
    ("metric", replace_once(P, "metrics: [accuracy]", "metrics: [accuracy, AUCC]"), ["compile.metrics[1]", "unknown metric 'AUCC'"]),
    ("optimizer", replace_once(P, "{Adam: {learning_rate: 0.01}}", "{Adamm: {learning_rate: 0.01}}"), ["compile.optimizer", "Adamm"]),
    ("schedule", replace_once(P, "{Adam: {learning_rate: 0.01}}", "{Adam: {learning_rate: {ExponentialDecy: {}}}}"), ["compile.optimizer.Adam.learning_rate", "ExponentialDecy"]),
    ("callback", replace_once(P, "validation_split: 0.2", "validation_split: 0.2\n  callbacks: [{EarlyStoping: {patience: 2}}]"), ["fit.callbacks[0].EarlyStoping", "Did you mean 'EarlyStopping'?"]),
    ("custom-loss", replace_once(P, "loss: binary_crossentropy", "loss: examples.nothere:my_loss"), ["compile.loss", "cannot import module 'examples.nothere'"]),
    ("functional-node", replace_once(FUNCTIONAL, "h: {Dense:", "h: {Dnse:"), ["model.nodes.h.Dnse (line 7)", "unknown layer 'Dnse'"]),
    ("per-output-loss", replace_once(FUNCTIONAL, "loss: binary_crossentropy", "loss: {outt: mse, other: mse}"), ["compile.loss.outt", "Did you mean 'out'?"]),
]


@pytest.mark.parametrize("case_id, text, expected", NAMES, ids=[c[0] for c in NAMES])
def test_names_are_resolved_before_the_data_is_loaded(case_id, text, expected, write_spec, runner, no_data):
    result = runner.invoke(cli, ["validate", str(write_spec(text))])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for part in expected:
        assert part in result.output, f"{part!r} not in {result.output!r}"


def test_cv_resolves_names_before_the_data_is_loaded(write_spec, runner, workdir, no_data):
    spec = write_spec(replace_once(P, "loss: binary_crossentropy", "loss: binary_crosentropy"))
    result = runner.invoke(cli, ["cv", str(spec), "--folds", "2", "--runs-dir", "runs"])
    assert result.exit_code == 2, result.output
    assert "compile.loss (line 16): unknown loss" in result.output
    assert not (workdir / "runs").exists()


def test_the_model_built_after_the_check_has_keras_first_layer_names(write_spec, runner):
    result = runner.invoke(cli, ["validate", str(write_spec(P))])
    assert result.exit_code == 0, result.output
    assert "dense (Dense)" in result.output and "dense_1 (Dense)" in result.output
    assert "dense_2" not in result.output


def test_mnist_misspelled_layer_is_reported_without_touching_the_data(tmp_path: Path):
    """The issue's case, in a real process: no download is tried and no sample is read."""
    spec = tmp_path / "mnist.yaml"
    spec.write_text(replace_once((ROOT / "configs" / "mnist.yaml").read_text(), "- Dense: {units: 256", "- Dens: {units: 256"))
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras-home"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-m", "kexp", "validate", str(spec)], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "model.layers[0].Dens (line 13): unknown layer 'Dens'. Did you mean 'Dense'?" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "mnist" not in proc.stdout + proc.stderr.replace(str(spec), "")
    assert not (tmp_path / "keras-home" / "datasets").exists()


# ------------------------------------------------------------------ loss vs labels

MULTI = """\
seed: 1
data: {source: csv, path: datasets/pima.csv, features: "0:8", target: {a: 8, b: 8}}
preprocess: {x: [standardize], y: {a: none, b: one_hot}}
model:
  type: functional
  inputs: {x: {shape: [8]}}
  nodes:
    h: {Dense: {units: 4}, inputs: x}
    a: {Dense: {units: 1, activation: sigmoid}, inputs: h}
    b: {Dense: {units: 2, activation: softmax}, inputs: h}
  outputs: [a, b]
compile: {loss: {a: binary_crossentropy, b: sparse_categorical_crossentropy}}
fit: {epochs: 1}
"""

LOSSES = [
    ("sparse-with-one-hot", replace_once(D, "loss: categorical_crossentropy", "loss: sparse_categorical_crossentropy"),
     ["compile.loss (line 14): sparse_categorical_crossentropy expects integer class labels",
      "preprocess.y: one_hot gives one-hot rows (10 classes)",
      "Change compile.loss to categorical_crossentropy, or preprocess.y to sparse"]),
    ("sparse-class-with-one-hot", replace_once(D, "loss: categorical_crossentropy", "loss: {SparseCategoricalCrossentropy: {from_logits: false}}"),
     ["compile.loss (line 14)", "SparseCategoricalCrossentropy expects integer class labels"]),
    ("categorical-with-sparse", replace_once(D, "y: one_hot", "y: sparse"),
     ["compile.loss (line 14): categorical_crossentropy expects one-hot rows",
      "preprocess.y: sparse gives integer class labels (10 classes)",
      "Change compile.loss to sparse_categorical_crossentropy, or preprocess.y to one_hot"]),
    ("categorical-with-raw-integers", replace_once(D, "  y: one_hot\n", ""),
     ["compile.loss (line 13): categorical_crossentropy expects one-hot rows",
      "the targets are integer labels 0..9 (preprocess.y: none)", "Set preprocess.y: one_hot"]),
    ("binary-for-ten-classes", replace_once(D, "loss: categorical_crossentropy", "loss: binary_crossentropy"),
     ["compile.loss (line 14): binary_crossentropy is for two classes",
      "preprocess.y: one_hot gives one-hot rows (10 classes)", "categorical_crossentropy"]),
    ("sigmoid-for-ten-classes", replace_once(D, "units: 10, activation: softmax", "units: 10, activation: sigmoid"),
     ["model.layers[1].Dense.activation (line 12): a sigmoid output for 10 classes",
      "preprocess.y: one_hot", "compile.loss: categorical_crossentropy", "Use activation: softmax"]),
    ("softmax-on-one-unit", replace_once(P, "units: 1, activation: sigmoid", "units: 1, activation: softmax"),
     ["model.layers[1].Dense.activation (line 14): a softmax over a single unit always outputs 1.0",
      "activation: sigmoid"]),
    ("per-output", MULTI,
     ["compile.loss.b (line 12): output 'b': sparse_categorical_crossentropy expects integer class labels",
      "preprocess.y.b: one_hot gives one-hot rows (2 classes)", "or preprocess.y.b to sparse"]),
]


@pytest.mark.parametrize("case_id, text, expected", LOSSES, ids=[c[0] for c in LOSSES])
def test_loss_is_checked_against_the_labels_before_training(case_id, text, expected, write_spec, runner, workdir):
    result = runner.invoke(cli, ["run", str(write_spec(text)), "--runs-dir", "runs"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for part in expected:
        assert part in result.output, f"{part!r} not in {result.output!r}"
    assert not (workdir / "runs").exists()


def _output(y: np.ndarray, mode: str = "none", loss: str = "binary_crossentropy", units: int = 3) -> Output:
    return Output("y", (None, units), y, mode, None, loss, ("compile", "loss"), ("preprocess", "y"))


def _sequential(activation: str) -> Blueprint:
    node = Node("y", "y", {"Dense": {"units": 3, "activation": activation}}, "x", ("model", "layers", 0))
    return Blueprint("m", {}, [node], ["y"], sequential=True)


def test_what_the_loss_check_lets_through() -> None:
    multi_hot = np.array([[1, 0, 1], [0, 1, 1], [0, 0, 0]], dtype=np.float32)  # several labels per sample
    check_loss_labels(_sequential("sigmoid"), [_output(multi_hot)], "data.target")
    soft = np.array([0.2, 0.9, 0.5], dtype=np.float32)  # probabilities, not classes
    check_loss_labels(_sequential("sigmoid"), [_output(soft, units=1)], "data.target")
    counts = np.array([0.0, 3.0, 3.0], dtype=np.float32)  # a regression target that looks like integers
    check_loss_labels(_sequential("relu"), [_output(counts, loss="mse", units=1)], "data.target")
    one_hot = np.eye(3, dtype=np.float32)
    check_loss_labels(_sequential("softmax"), [_output(one_hot, loss="categorical_crossentropy")], "data.target")
    logits = {"CategoricalCrossentropy": {"from_logits": True}}
    check_loss_labels(_sequential("sigmoid"), [
        Output("y", (None, 3), one_hot, "none", None, logits, ("compile", "loss"), ("preprocess", "y"))
    ], "data.target")


@pytest.mark.parametrize("y, message", [
    (np.array([1.0, 2.0, 2.0, 1.0]), "binary_crossentropy needs targets 0 and 1, but the targets are 1 and 2 "
     "(preprocess.y: none). Map them to 0 and 1, e.g. preprocess.labels: {binary: {positive: [2]}}"),
    (np.array([-1.0, 1.0, 1.0]), "the targets are -1 and 1"),
    (np.array([0.5, 2.5, 1.25]), "binary_crossentropy needs targets between 0 and 1, but the targets range "
     "from 0.5 to 2.5"),
])
def test_binary_crossentropy_needs_targets_between_0_and_1(y: np.ndarray, message: str) -> None:
    from kexp.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        check_loss_labels(_sequential("sigmoid"), [_output(y.astype(np.float32), units=1)], "data.target")
    assert info.value.path == "compile.loss"
    assert message in str(info.value)


# ----------------------------------------------------------------------- data side


def test_labels_of_one_class_are_refused_naming_the_label(write_spec, runner, workdir):
    path = workdir / "datasets" / "pima.csv"
    path.write_text("".join(",".join([*line.split(",")[:-1], "1"]) + "\n" for line in path.read_text().splitlines()))
    result = runner.invoke(cli, ["run", str(write_spec(P)), "--runs-dir", "runs"])
    assert result.exit_code == 2, result.output
    assert "every label in the training part (y_train) is 1: a classifier needs at least two classes" in result.output
    assert "Check data.target" in result.output
    assert not (workdir / "runs").exists()


def _latin1_pima(workdir: Path) -> int:
    """Pima with labels 'positif'/'négatif' in Latin-1; the line of the first 'négatif'."""
    path = workdir / "datasets" / "pima.csv"
    lines = path.read_text().splitlines()
    rows = [",".join([*line.split(",")[:-1], "positif" if line.endswith("1") else "négatif"]) for line in lines]
    path.write_bytes(("\n".join(rows) + "\n").encode("latin-1"))
    return next(i for i, row in enumerate(rows, 1) if row.endswith("négatif"))


def test_a_latin1_csv_names_the_line_and_the_encoding_to_set(write_spec, runner, workdir):
    line = _latin1_pima(workdir)
    spec = replace_once(replace_once(P, "x: [standardize]", "x: [standardize]\n  y: sparse"), "source: csv", "source: csv\n  header: false")
    result = runner.invoke(cli, ["validate", str(write_spec(spec))])
    assert result.exit_code == 2, result.output
    assert f"datasets/pima.csv: line {line} (byte 0xe9 at column" in result.output
    assert "is not utf-8 text. Set data.encoding" in result.output and "encoding: latin-1" in result.output
    result = runner.invoke(cli, ["validate", str(write_spec(replace_once(spec, "source: csv", "source: csv\n  encoding: latin-1")))])
    assert result.exit_code == 0, result.output


def test_an_unreadable_file_is_exit_2_naming_it(write_spec, runner, workdir, monkeypatch):
    path = workdir / "datasets" / "pima.csv"
    if os.geteuid() == 0:  # root reads any file: refuse it the way the OS would
        from kexp.data import csvfile

        def denied(file: object, *args: object, **kwargs: object) -> None:
            raise PermissionError(13, "Permission denied", str(file))

        monkeypatch.setattr(csvfile, "open", denied, raising=False)
    else:
        path.chmod(0)
    try:
        result = runner.invoke(cli, ["run", str(write_spec(P)), "--runs-dir", "runs"])
    finally:
        path.chmod(0o644)
    assert result.exit_code == 2, result.output
    assert "datasets/pima.csv: cannot read the file (Permission denied)" in result.output
    assert not (workdir / "runs").exists()


def test_a_column_range_past_the_last_column_says_so(write_spec, runner):
    result = runner.invoke(cli, ["validate", str(write_spec(replace_once(P, 'features: "0:8"', 'features: "0:20"')))])
    assert result.exit_code == 2, result.output
    assert ("data.features (line 6): the column range '0:20' goes past the last column: the file has "
            "9 columns (0..8)") in result.output
    assert "both features and target" not in result.output


@pytest.mark.parametrize("fields", [8, 10])
def test_a_ragged_row_is_reported_by_its_line_in_the_file(fields, write_spec, runner, workdir):
    path = workdir / "datasets" / "pima.csv"
    lines = path.read_text().splitlines()
    lines[40] = ",".join((lines[40].split(",") + ["7"])[:fields])
    path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(cli, ["validate", str(write_spec(P))])
    assert result.exit_code == 2, result.output
    assert f"datasets/pima.csv: line 41 has {fields} field(s), expected 9 as on the first line" in result.output


def test_a_folder_as_data_path_says_it_is_a_folder(write_spec, runner):
    result = runner.invoke(cli, ["validate", str(write_spec(replace_once(P, "path: datasets/pima.csv", "path: datasets")))])
    assert result.exit_code == 2, result.output
    assert "data.path (line 5): datasets is a folder; expected a data file" in result.output
    assert "pima.csv" in result.output and "not found" not in result.output


IMPORTS_AFTER = """\
import sys
from kexp.cli import cli
try:
    cli(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
except Exception as exc:  # the CLI's own handling prints the message
    print(type(exc).__name__, exc, file=sys.stderr)
print("tensorflow" in sys.modules, "keras" in sys.modules, "pandas" in sys.modules)
"""


@pytest.mark.parametrize("make_args, expected", [
    (lambda d: ["run", str(d / "missing.yaml")], "data file not found: datasets/nope.csv"),
    (lambda d: ["run", str(d / "ok.yaml"), "--runs-dir", str(d / "a-file" / "runs")], "is a file, not a folder"),
    (lambda d: ["cv", str(d / "missing.yaml"), "--folds", "2"], "data file not found"),
], ids=["missing-data-file", "runs-dir-under-a-file", "cv-missing-data-file"])
def test_what_needs_no_keras_is_reported_before_tensorflow_is_imported(make_args, expected, tmp_path: Path):
    """A missing data file or a runs folder that cannot be made: no Keras, no data loaded;
    the looked-in paths are each named once."""
    from tests.conftest import PIMA_SPEC

    (tmp_path / "ok.yaml").write_text(PIMA_SPEC)
    (tmp_path / "missing.yaml").write_text(PIMA_SPEC.replace("datasets/pima.csv", "datasets/nope.csv"))
    (tmp_path / "a-file").write_text("")
    proc = subprocess.run([sys.executable, "-c", IMPORTS_AFTER, *make_args(tmp_path)], capture_output=True,
                          text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert expected in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1].split()[:2] == ["False", "False"], proc.stdout
    looked = (proc.stdout + proc.stderr).partition("looked in: ")[2].partition(")")[0]
    if looked:
        places = looked.split(", ")
        assert len(places) == len(set(places)), places
    assert not (tmp_path / "runs").exists()
