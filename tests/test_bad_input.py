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
    # values that trained when they should not, or failed late (exit 1)
    ("optimizer-negative-lr", replace_once(P, "{Adam: {learning_rate: 0.01}}", "{Adam: {learning_rate: -0.01}}"), [], ["compile.optimizer.Adam.learning_rate (line 17): expected a finite number greater than 0, received -0.01"]),
    ("optimizer-nan-lr", replace_once(P, "{Adam: {learning_rate: 0.01}}", "{Adam: {learning_rate: .nan}}"), [], ["compile.optimizer.Adam.learning_rate (line 17)", "finite number greater than 0, received nan"]),
    ("optimizer-lr-alias-zero", replace_once(P, "{Adam: {learning_rate: 0.01}}", "{sgd: {lr: 0}}"), [], ["compile.optimizer.sgd.lr (line 17)", "greater than 0, received 0"]),
    ("optimizer-schedule-lr", replace_once(P, "{Adam: {learning_rate: 0.01}}", "{Adam: {learning_rate: {ExponentialDecay: {initial_learning_rate: -1, decay_steps: 10, decay_rate: 0.9}}}}"), [], ["compile.optimizer.Adam.learning_rate.ExponentialDecay.initial_learning_rate (line 17)", "greater than 0, received -1"]),
    ("optimizer-beta-2-one", replace_once(P, "{Adam: {learning_rate: 0.01}}", "{Adam: {beta_2: 1.0}}"), [], ["compile.optimizer.Adam.beta_2 (line 17)", "from 0 to below 1, received 1.0"]),
    ("optimizer-momentum-range", replace_once(P, "{Adam: {learning_rate: 0.01}}", "{SGD: {momentum: 1.5}}"), [], ["compile.optimizer.SGD.momentum (line 17)", "from 0 to 1, received 1.5"]),
    ("optimizer-clipnorm-zero", replace_once(P, "{Adam: {learning_rate: 0.01}}", "{Adam: {clipnorm: 0}}"), [], ["compile.optimizer.Adam.clipnorm (line 17)", "greater than 0, received 0"]),
    ("set-lr-negative", P, ["--set", "compile.optimizer.Adam.learning_rate=-1"], ["compile.optimizer.Adam.learning_rate (from --set compile.optimizer.Adam.learning_rate=-1)", "greater than 0"]),
    ("validation-split-nan", replace_once(P, "validation_split: 0.2", "validation_split: .nan"), [], ["fit.validation_split (line 22)", "expected a finite number, received nan"]),
    ("validation-split-no-training-rows", replace_once(P, "validation_split: 0.2", "validation_split: 0.999"), [], ["fit.validation_split (line 22)", "0.999 of the 90 training rows leaves 0 of 90 to train on", "validation_split: 0.2"]),
    ("validation-split-no-validation-rows", replace_once(P, "validation_split: 0.2", "validation_split: 1.0e-17"), [], ["fit.validation_split (line 22)", "holds out 0 of 90 for validation", "validation_split: 0.012 or more"]),
    ("class-weight-class-not-in-labels", replace_once(P, "validation_split: 0.2", "validation_split: 0.2\n  class_weight: {0: 1, 5: 3}"), [], ["fit.class_weight[5] (line 23)", "no class 5 in the training labels; the classes are 0, 1"]),
    ("class-weight-negative", replace_once(P, "validation_split: 0.2", "validation_split: 0.2\n  class_weight: {0: -1, 1: 2}"), [], ["fit.class_weight[0] (line 23)", "weight of at least 0", "received -1"]),
    ("class-weight-nan", replace_once(P, "validation_split: 0.2", "validation_split: 0.2\n  class_weight: {0: .nan, 1: 2}"), [], ["fit.class_weight[0] (line 23)", "expected a finite number, received nan"]),
    ("delimiter-matching-empty-text", replace_once(P, "target: 8", "target: 8\n  delimiter: '||'"), [], ["data.delimiter (line 8)", "matches empty text", "write delimiter: '\\|\\|'"]),
    ("name-too-long", replace_once(P, "name: pima-tiny", "name: " + "x" * 300), [], ["name (line 1)", "at most 100 characters", "received one of 300"]),
    ("name-only-dots", replace_once(P, "name: pima-tiny", "name: '..'"), [], ["name (line 1)", "with a letter or digit in it", "received '..'"]),
    ("name-with-a-slash", replace_once(P, "name: pima-tiny", "name: pima/tiny"), [], ["name (line 1)", "received 'pima/tiny'", "Write e.g. name: pima-tiny"]),
    ("set-name-too-long", P, ["--name", "y" * 101], ["name (from --name yyy", "at most 100 characters"]),
    ("epochs-invalid-under-epochs-option", replace_once(P, "epochs: 2", "epochs: ten"), ["--epochs", "1"], ["fit.epochs (line 20)", "received 'ten'"]),
    ("epochs-invalid-under-set", replace_once(P, "epochs: 2", "epochs: ten"), ["--set", "fit.epochs=1"], ["fit.epochs (line 20)", "received 'ten'"]),
    ("quoted-batch-size", replace_once(P, "batch_size: 16", 'batch_size: "800"'), [], ["fit.batch_size (line 21): expected a whole number, received the string '800'. Write 800 without quotes"]),
    ("quoted-shuffle", replace_once(P, "batch_size: 16", "batch_size: 16\n  shuffle: 'false'"), [], ["fit.shuffle (line 22)", "received the string 'false'", "Write false without quotes"]),
    ("monitor-misspelled", replace_once(P, "validation_split: 0.2", "validation_split: 0.2\n  callbacks: [{EarlyStopping: {monitor: val_los}}]"), [], ["fit.callbacks[0].EarlyStopping.monitor (line 23)", "monitor 'val_los' is not a value the model logs", "Did you mean 'val_loss'?"]),
    ("monitor-reduce-lr", replace_once(P, "validation_split: 0.2", "validation_split: 0.2\n  callbacks: [{ReduceLROnPlateau: {monitor: accuracyy}}]"), [], ["fit.callbacks[0].ReduceLROnPlateau.monitor (line 23)", "Did you mean 'accuracy'?"]),
    ("monitor-checkpoint", replace_once(P, "validation_split: 0.2", "validation_split: 0.2\n  callbacks: [{ModelCheckpoint: {filepath: best.keras, monitor: val_auc}}]"), [], ["fit.callbacks[0].ModelCheckpoint.monitor (line 23)", "it logs: loss, accuracy, val_loss, val_accuracy"]),
    ("custom-loss-not-a-loss", replace_once(P, "loss: binary_crossentropy", "loss: kexp.rundir.write:atomic_write"), [], ["compile.loss (line 16)", "custom loss 'kexp.rundir.write:atomic_write' failed when called as Keras calls it, f(y_true, y_pred) on 2 rows"]),
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


def test_a_delimiter_of_several_characters_reads_as_pandas_reads_it(write_spec, runner, workdir):
    path = workdir / "datasets" / "pima.csv"
    rows = [row.replace(",", "::") for row in path.read_text().splitlines()]
    path.write_text("\n".join(rows) + "\n")
    spec = write_spec(replace_once(P, "target: 8", "target: 8\n  delimiter: '::'"))
    result = runner.invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 0, result.output
    assert "ParserWarning" not in result.output
    rows[10] += "::7"
    path.write_text("\n".join(rows) + "\n")
    result = runner.invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 2, result.output
    assert "pima.csv: line 11 has 10 field(s), expected 9 as on the first line" in result.output


def test_class_weights_name_the_classes_the_labels_have():
    from kexp.errors import ConfigError
    from kexp.spec import FitConfig
    from kexp.train.fit import class_weights

    labels = np.array([0, 1, 1, 2, 0])
    assert class_weights(FitConfig(class_weight={0: 1, 2: 3}), labels, None) == {0: 1.0, 2: 3.0}
    with pytest.raises(ConfigError, match=r"no class 5 in the training labels; the classes are 0, 1, 2"):
        class_weights(FitConfig(class_weight={0: 1, 5: 3}), labels, None)
    one_hot = np.eye(4)[[0, 1, 1]]  # a class per column, present in the rows or not
    assert class_weights(FitConfig(class_weight={3: 2}), one_hot, None) == {3: 2.0}
    with pytest.raises(ConfigError, match="no class 4 .*the classes are 0, 1, 2, 3"):
        class_weights(FitConfig(class_weight={4: 2}), one_hot, None)
    with pytest.raises(ConfigError, match="no class 'maybe' .*the classes are no, yes"):
        class_weights(FitConfig(class_weight={"maybe": 2}), labels[:2], ["no", "yes"])
    # a streamed part's first batch does not hold every class: class indices are taken as given
    assert class_weights(FitConfig(class_weight={5: 3}), labels, None, whole=False) == {5: 3.0}
    with pytest.raises(ConfigError, match="expected a class index"):
        class_weights(FitConfig(class_weight={"a": 3}), labels, None, whole=False)


def test_a_custom_metric_that_returns_no_number_is_refused_before_training(write_spec, runner, workdir):
    (workdir / "textmetric.py").write_text(
        "def label(y_true, y_pred):\n    return 'good'\n\n\n"
        "def broken(y_true, y_pred):\n    return y_true.no_such_thing\n")
    for name, expected in (("label", "returned <U4 values; a metric returns numbers"),
                           ("broken", "failed when called as Keras calls it")):
        spec = write_spec(replace_once(P, "metrics: [accuracy]", f"metrics: [accuracy, 'textmetric:{name}']"))
        result = runner.invoke(cli, ["run", str(spec), "--runs-dir", "runs"])
        assert result.exit_code == 2, result.output
        assert "compile.metrics[1] (line 18)" in result.output and expected in result.output
        assert not (workdir / "runs").exists() or not any((workdir / "runs").iterdir())


def test_a_custom_loss_that_fits_its_slot_trains(write_spec, runner, workdir):
    """The call before training does not refuse code that works (the tutorial's custom loss)."""
    spec = write_spec(replace_once(P, "loss: binary_crossentropy", "loss: examples.inventory:inventory_cost"))
    result = runner.invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 0, result.output
