"""Bad specs and data: one clear message naming the YAML path, exit code 2,
no traceback, and no run folder left behind."""

from __future__ import annotations

import numpy as np
import pytest

from kexp.cli import cli
from tests.conftest import DIGITS_SPEC, PIMA_SPEC
from tests.helpers import replace_once

P, D = PIMA_SPEC, DIGITS_SPEC

# id, spec text, extra CLI args, substrings the message must contain
CASES = [
    ("unknown-top-key", P + "fitt: {}\n", [], ["fitt (line 23)", "unknown key 'fitt'", "Did you mean 'fit'?"]),
    ("misspelled-fit-key", replace_once(P, "epochs: 2", "epocs: 2"), [], ["fit.epocs (line 20)", "Did you mean 'epochs'?"]),
    ("wrong-type", replace_once(P, "epochs: 2", "epochs: two"), [], ["fit.epochs (line 20)", "valid integer", "received 'two'"]),
    ("out-of-range", replace_once(P, "epochs: 2", "epochs: 0"), [], ["fit.epochs", "greater than 0", "received 0"]),
    ("validation-split-range", replace_once(P, "validation_split: 0.2", "validation_split: 1.5"), [], ["fit.validation_split", "less than 1"]),
    ("unknown-source", replace_once(P, "source: csv", "source: cvs"), [], ["data.source", "unknown data source 'cvs'", "Did you mean 'csv'?"]),
    ("missing-source", replace_once(P, "  source: csv\n", ""), [], ["data.source", "required key 'source' is missing"]),
    ("missing-model", P.split("model:")[0] + "compile: {loss: mse}\n", [], ["model", "required key 'model' is missing"]),
    ("unknown-layer", replace_once(P, "- Dense: {units: 4", "- Dens: {units: 4"), [], ["model.layers[0].Dens (line 13)", "unknown layer 'Dens'", "Did you mean 'Dense'?"]),
    ("layer-bad-kwarg", replace_once(P, "{units: 1, activation: sigmoid}", "{unit: 1, activation: sigmoid}"), [], ["model.layers[1].Dense", "Did you mean 'units'?"]),
    ("layer-bad-value", replace_once(P, "units: 4,", "units: -3,"), [], ["model.layers[0].Dense", "expected a positive integer", "units=-3"]),
    ("layer-two-keys", replace_once(P, "- Dense: {units: 1, activation: sigmoid}", "- Dense: {units: 1}\n      Dropout: {rate: 0.5}"), [], ["model.layers[1]", "one-key mapping", "2 keys"]),
    ("unknown-activation", replace_once(P, "activation: relu", "activation: rellu"), [], ["model.layers[0].Dense.activation", "unknown activation 'rellu'", "Did you mean 'relu'?"]),
    ("unknown-initializer", replace_once(P, "input_dim: 8}", "input_dim: 8, kernel_initializer: glorot_unifrom}"), [], ["kernel_initializer", "unknown initializer 'glorot_unifrom'", "Did you mean 'glorot_uniform'?"]),
    ("unknown-loss", replace_once(P, "loss: binary_crossentropy", "loss: binary_crosentropy"), [], ["compile.loss (line 16)", "unknown loss", "Did you mean 'binary_crossentropy'?"]),
    ("unknown-optimizer", replace_once(P, "optimizer: {Adam: {learning_rate: 0.01}}", "optimizer: adamm"), [], ["compile.optimizer", "unknown optimizer 'adamm'", "Did you mean 'Adam'?"]),
    ("optimizer-bad-arg", replace_once(P, "{Adam: {learning_rate: 0.01}}", "{Adam: {learning_rat: 0.01}}"), [], ["compile.optimizer.Adam", "Did you mean 'learning_rate'?"]),
    ("lr-and-learning-rate", replace_once(P, "{Adam: {learning_rate: 0.01}}", "{Adam: {learning_rate: 0.01, lr: 0.1}}"), [], ["compile.optimizer.Adam.lr", "not both"]),
    ("unknown-metric", replace_once(P, "metrics: [accuracy]", "metrics: [accurcy]"), [], ["compile.metrics[0]", "unknown metric 'accurcy'", "Did you mean 'accuracy'?"]),
    ("unknown-callback", replace_once(P, "validation_split: 0.2", "validation_split: 0.2\n  callbacks: [{EarlyStoping: {patience: 2}}]"), [], ["fit.callbacks[0].EarlyStoping", "Did you mean 'EarlyStopping'?"]),
    ("unknown-step", replace_once(P, "x: [standardize]", "x: [standardise]"), [], ["preprocess.x[0]", "unknown preprocessing step 'standardise'", "Did you mean 'standardize'?"]),
    ("unknown-y-mode", replace_once(P, "x: [standardize]", "x: [standardize]\n  y: onehot"), [], ["preprocess.y (line 11): expected 'one_hot'", "Did you mean 'one_hot'?"]),
    ("yaml-syntax", replace_once(P, "epochs: 2", "epochs: [2"), [], ["invalid YAML", "line"]),
    ("empty-file", "", [], ["is empty"]),
    ("python-tag", replace_once(P, "seed: 1", "seed: !!python/object/apply:os.system [echo hacked]"), [], ["unsupported YAML tag", "safe_load"]),
    ("duplicate-key", P + "seed: 2\n", [], ["seed", "key given twice (first on line 2)"]),
    ("missing-data-file", replace_once(P, "datasets/pima.csv", "datasets/pmia.csv"), [], ["data.path (line 5)", "data file not found: datasets/pmia.csv"]),
    ("target-out-of-range", replace_once(P, "target: 8", "target: 12"), [], ["data.target", "column index 12 is out of range", "9 columns"]),
    ("input-shape-mismatch", replace_once(P, "input_dim: 8", "input_dim: 10"), [], ["model.layers[0].Dense.input_dim (line 13)", "expects samples of shape (10,)", "shape (8,)"]),
    ("label-count-mismatch", replace_once(D, "units: 10, activation: softmax", "units: 3, activation: softmax"), [], ["model.layers[1].Dense", "3 unit(s) but the labels have 10 classes", "Set units: 10"]),
    ("flatten-missing", replace_once(D, "x: [flatten, {scale: 255}]", "x: [{scale: 255}]").replace("kernel_initializer: normal", "input_dim: 784"), [], ["expects samples of shape (784,)", "(28, 28)", "Add 'flatten' to preprocess.x"]),
    ("conv-on-flat-input", replace_once(D, "- Dense: {units: 16, activation: relu, kernel_initializer: normal}", "- Conv2D: {filters: 2, kernel_size: 3}"), [], ["model.layers[0].Conv2D", "cannot take input of shape (None, 784)", "reshape"]),
    ("custom-loss-missing", replace_once(P, "loss: binary_crossentropy", "loss: examples.nothere:my_loss"), [], ["compile.loss", "cannot import module 'examples.nothere'"]),
    ("custom-loss-attr", replace_once(P, "loss: binary_crossentropy", "loss: examples.inventory:inventory_cst"), [], ["compile.loss", "has no attribute 'inventory_cst'", "Did you mean 'inventory_cost'?"]),
    ("class-weight-unknown-class", replace_once(D, "validation_split: 0.2", "class_weight: {11: 2.0}"), [], ["fit.class_weight[11] (line 20)", "no class 11"]),
    ("set-wrong-path", P, ["--set", "fit.epocs=3"], ["fit.epocs (from --set fit.epocs=3)", "Did you mean 'epochs'?"]),
    ("set-bad-value", P, ["--set", "fit.batch_size=-1"], ["fit.batch_size (from --set fit.batch_size=-1)", "greater than 0"]),
    # values the schema let through and that then crashed (exit 1)
    ("seed-negative", replace_once(P, "seed: 1", "seed: -1"), [], ["seed (line 2)", "expected a seed from 0 to 4294967295, received -1"]),
    ("seed-too-large", replace_once(P, "seed: 1", "seed: 4294967296"), [], ["seed (line 2)", "received 4294967296", "below 2**32"]),
    ("input-dim-float", replace_once(P, "input_dim: 8", "input_dim: 7.5"), [], ["model.layers[0].Dense.input_dim (line 13)", "whole number greater than 0", "received 7.5"]),
    ("input-dim-text", replace_once(P, "input_dim: 8", "input_dim: abc"), [], ["model.layers[0].Dense.input_dim (line 13)", "received 'abc'"]),
    ("batch-size-huge", replace_once(P, "batch_size: 16", "batch_size: 1e20"), [], ["fit.batch_size (line 21)", "batch size of at most 2147483647", "received 100000000000000000000"]),
    ("epochs-huge", replace_once(P, "epochs: 2", "epochs: 1e20"), [], ["fit.epochs (line 20)", "epochs of at most 1000000", "EarlyStopping"]),
    ("set-epochs-huge", P, ["--set", "fit.epochs=1e20"], ["fit.epochs (from --set fit.epochs=1e20)", "at most 1000000"]),
    ("unknown-encoding", replace_once(P, "target: 8", "target: 8\n  encoding: latin-9x"), [], ["data.encoding (line 8)", "text encoding", "latin-1"]),
    # messages that pointed at the wrong thing
    ("test-size-float-one", replace_once(P, "size: 0.25", "size: 1.0"), [], ["data.test.size (line 8)", "fraction below 1", "for 1 sample(s) write 1"]),
    ("set-data-number", P, ["--set", "data=7"], ["data (from --set data=7)", "expected a mapping with a 'source' key", "received 7"]),
    ("set-data-list", P, ["--set", "data=[{source: csv}]"], ["data (from --set data=[{source: csv}])", "expected a mapping with a 'source' key"]),
    ("misspelled-adam", replace_once(P, "optimizer: {Adam: {learning_rate: 0.01}}", "optimizer: adma"), [], ["compile.optimizer (line 17)", "Did you mean 'Adam'?"]),
    # specs too large to read
    ("billion-laughs", P + "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}" if i else "lol"] * 9) + "]\n" for i in range(9)), [], ["more than 100,000 values once its YAML aliases"]),
    ("alias-loop", P + "loop: &loop [*loop]\n", [], ["(line 23)", "alias refers to the mapping or list it is inside"]),
    ("spec-over-1-mb", P + "# " + "x" * 1_000_000 + "\n", [], ["bytes; expected at most 1,000,000"]),
]


@pytest.mark.parametrize("case_id, text, args, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case_id, text, args, expected, write_spec, runner, workdir):
    spec = write_spec(text)
    result = runner.invoke(cli, ["run", str(spec), "--runs-dir", "runs", *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    message = result.output
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    runs = workdir / "runs"
    assert not runs.exists() or not any(runs.iterdir()), "no run folder may be left behind"


def test_data_that_is_not_a_mapping_is_not_reported_as_a_missing_source(write_spec, runner):
    for value in ("7", "[{source: csv}]"):
        result = runner.invoke(cli, ["validate", str(write_spec(P)), "--set", f"data={value}"])
        assert result.exit_code == 2, result.output
        assert "is missing" not in result.output and "source:" in result.output


def test_nan_in_data(write_spec, runner, workdir):
    lines = (workdir / "datasets" / "pima.csv").read_text().splitlines()
    lines[5] = ",".join(["nan", *lines[5].split(",")[1:]])
    (workdir / "datasets" / "pima.csv").write_text("\n".join(lines) + "\n")
    spec = write_spec(replace_once(P, "x: [standardize]", "x: []"))
    result = runner.invoke(cli, ["run", str(spec)])
    assert result.exit_code == 2
    assert "missing or infinite value(s) (NaN/inf)" in result.output
    assert not (workdir / "runs").exists()


def test_unknown_test_labels(write_spec, runner, workdir):
    path = workdir / "datasets" / "digits.npz"
    with np.load(path) as npz:
        arrays = dict(npz)
    arrays["y_train"] = np.where(arrays["y_train"] == 9, 8, arrays["y_train"])
    np.savez(path, **arrays)
    spec = write_spec(replace_once(D, "y: one_hot", "y: one_hot\n  num_classes: 9").replace("units: 10,", "units: 9,"))
    result = runner.invoke(cli, ["run", str(spec)])
    assert result.exit_code == 2
    assert "y_test: label(s) [9] were not in the training labels" in result.output


def test_at_least_25_cases():
    assert len(CASES) >= 25
