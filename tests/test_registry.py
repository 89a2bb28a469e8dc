"""Names resolve through Keras's own resolvers; Keras 2 spellings keep their meaning."""

from __future__ import annotations

import numpy as np
import pytest

from kexp.errors import ConfigError
from kexp.model import layers, objects, resolve

keras = pytest.importorskip("keras")
LOC = ("model", "layers", 0)


@pytest.mark.parametrize(
    "spec, cls, config",
    [
        ("zeros", "Zeros", {}),
        ("ones", "Ones", {}),
        ("identity", "Identity", {}),
        ("normal", "RandomNormal", {"stddev": 0.05}),
        ("truncated_normal", "TruncatedNormal", {"stddev": 0.05}),
        ("random_uniform", "RandomUniform", {"minval": -0.05, "maxval": 0.05}),
        ({"RandomNormal": {"stddev": 0.1}}, "RandomNormal", {"stddev": 0.1}),
        ({"Constant": {"value": 0.1}}, "Constant", {"value": 0.1}),
        ({"Constant": 0.3}, "Constant", {"value": 0.3}),
        ({"random_normal": {"mean": 1.0}}, "RandomNormal", {"mean": 1.0}),
    ],
)
def test_initializers(spec, cls, config):
    init = objects.initializer(spec, LOC)
    assert type(init).__name__ == cls
    for key, value in config.items():
        assert init.get_config()[key] == pytest.approx(value)


@pytest.mark.parametrize(
    "spec, l1, l2",
    [
        ("l2", 0.0, 0.01),
        ({"l2": 0.001}, 0.0, 0.001),
        ({"L1": {"l1": 0.02}}, 0.02, 0.0),
        ({"l1_l2": {"l1": 0.01, "l2": 0.03}}, 0.01, 0.03),
    ],
)
def test_regularizers(spec, l1, l2):
    reg = objects.regularizer(spec, LOC).get_config()
    assert reg.get("l1", 0.0) == pytest.approx(l1)
    assert reg.get("l2", 0.0) == pytest.approx(l2)


def test_constraints_and_layer_arguments():
    layer = layers.layer(
        {
            "Dense": {
                "units": 3,
                "kernel_initializer": {"RandomUniform": {"minval": -1, "maxval": 1}},
                "bias_initializer": {"Constant": 0.5},
                "kernel_regularizer": {"l1_l2": {"l1": 0.1, "l2": 0.2}},
                "activity_regularizer": "l2",
                "kernel_constraint": {"MaxNorm": {"max_value": 2}},
                "bias_constraint": "non_neg",
                "activation": "tanh",
            }
        },
        LOC,
    )
    cfg = layer.get_config()
    assert cfg["units"] == 3
    assert cfg["kernel_constraint"]["config"]["max_value"] == 2
    assert cfg["bias_constraint"]["class_name"] == "NonNeg"
    assert cfg["kernel_regularizer"]["config"]["l2"] == pytest.approx(0.2)
    assert cfg["bias_initializer"]["config"]["value"] == 0.5
    assert cfg["activation"] == "tanh"


def test_wrapper_layer_takes_a_nested_layer():
    layer = layers.layer({"Bidirectional": {"layer": {"LSTM": {"units": 4, "return_sequences": True}}}}, LOC)
    assert type(layer.forward_layer).__name__ == "LSTM"


def test_lr_is_learning_rate():
    notes: list[str] = []
    opt = objects.optimizer({"SGD": {"lr": 0.1, "momentum": 0.9, "nesterov": True}}, ("compile", "optimizer"), notes)
    assert float(opt.learning_rate) == pytest.approx(0.1)
    assert opt.nesterov is True
    assert any("'lr' is 'learning_rate'" in n for n in notes)


@pytest.mark.parametrize("name, default_lr", [("SGD", 0.01), ("Adam", 0.001), ("RMSprop", 0.001)])
def test_decay_is_keras2_inverse_time_decay(name, default_lr):
    notes: list[str] = []
    opt = objects.optimizer({name: {"decay": 0.01}}, ("compile", "optimizer"), notes)
    schedule = opt.learning_rate if callable(opt.learning_rate) else opt._learning_rate
    for step in (0, 1, 10, 1000):
        expected = default_lr / (1 + 0.01 * step)  # Keras 2: lr / (1 + decay * iterations)
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-6)
    assert any("InverseTimeDecay" in n for n in notes)


def test_schedule_by_name():
    opt = objects.optimizer(
        {"Adam": {"learning_rate": {"ExponentialDecay": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}}}},
        ("compile", "optimizer"),
        [],
    )
    assert float(opt._learning_rate(10)) == pytest.approx(0.05)


@pytest.mark.parametrize("old, new", [("logcosh", "log_cosh"), ("kullback_leibler_divergence", "kl_divergence"), ("cosine_proximity", "cosine_similarity")])
def test_keras2_loss_names(old, new):
    notes: list[str] = []
    fn = objects.loss(old, ("compile", "loss"), notes)
    assert fn is keras.losses.get(new)
    assert notes and old in notes[0]


@pytest.mark.parametrize(
    "loss", ["mse", "mae", "mape", "msle", "hinge", "squared_hinge", "categorical_hinge", "poisson",
             "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy", "huber"],
)
def test_builtin_losses(loss):
    assert callable(objects.loss(loss, ("compile", "loss"), []))


def test_loss_with_arguments():
    fn = objects.loss({"categorical_crossentropy": {"label_smoothing": 0.1}}, ("compile", "loss"), [])
    assert fn.get_config()["label_smoothing"] == pytest.approx(0.1)


@pytest.mark.parametrize("opt", ["sgd", "adam", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", "ftrl", "adamw"])
def test_builtin_optimizers(opt):
    assert objects.optimizer(opt, ("compile", "optimizer"), []) is not None


def test_adam_hyperparameters():
    opt = objects.optimizer({"Adam": {"beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-8, "amsgrad": True}}, ("o",), [])
    assert (opt.beta_1, opt.beta_2, opt.epsilon, opt.amsgrad) == (0.8, 0.99, 1e-8, True)


def test_metrics_keep_their_spelling():
    assert objects.metric("accuracy", ("m",), []) == "accuracy"
    assert objects.metric("acc", ("m",), []) == "acc"
    assert objects.metric("mae", ("m",), []) == "mae"
    auc = objects.metric({"AUC": {"num_thresholds": 50}}, ("m",), [])
    assert auc.num_thresholds == 50


def test_custom_loss_import(workdir):
    resolve.add_search_path(workdir)
    fn = objects.loss("examples.inventory:inventory_cost", ("compile", "loss"), [])
    y_true = np.array([[10.0]], dtype="float32")
    # under-predicting by 2 costs 4, over-predicting by 2 costs 2
    assert float(fn(y_true, np.array([[8.0]], dtype="float32"))[0]) == pytest.approx(4.0)
    assert float(fn(y_true, np.array([[12.0]], dtype="float32"))[0]) == pytest.approx(2.0)


def test_custom_name_format():
    with pytest.raises(ConfigError, match="package.module:attribute"):
        resolve.import_object("os.system; rm", ("compile", "loss"))


def test_reserved_callback():
    with pytest.raises(ConfigError, match="added by kexp itself"):
        objects.callback("CSVLogger", ("fit", "callbacks", 0), None)


def test_callback_paths_go_into_the_run_folder(tmp_path):
    cb = objects.callback({"ModelCheckpoint": {"save_best_only": True}}, ("fit", "callbacks", 0), tmp_path)
    assert cb.filepath == str(tmp_path / "checkpoint.keras")
    tb = objects.callback("TensorBoard", ("fit", "callbacks", 1), tmp_path)
    assert str(tb.log_dir) == str(tmp_path / "tensorboard")


@pytest.mark.parametrize("old, new", [("logcosh", "log_cosh_error"), ("kullback_leibler_divergence", "kl_divergence"), ("cosine_proximity", "cosine_similarity")])
def test_keras2_metric_names(old, new):
    notes: list[str] = []
    assert objects.metric(old, ("compile", "metrics", 0), notes) == new
    assert keras.metrics.get(new) is not None
    assert notes and f"'{old}' is '{new}'" in notes[0]


def test_config_records_keras3_spellings():
    tree = {
        "compile": {
            "optimizer": {"SGD": {"lr": 0.05, "momentum": 0.9, "decay": 0.001}},
            "loss": {"a": "logcosh", "b": {"kullback_leibler_divergence": {"reduction": "sum"}}},
            "metrics": {"a": ["mae", "logcosh"], "b": "cosine_proximity"},
        },
        "fit": {"epochs": 2},
    }
    used = objects.as_used(tree)
    assert used["compile"]["optimizer"] == {"SGD": {
        "learning_rate": {"InverseTimeDecay": {"initial_learning_rate": 0.05, "decay_steps": 1, "decay_rate": 0.001}},
        "momentum": 0.9,
    }}
    assert used["compile"]["loss"] == {"a": "log_cosh", "b": {"kl_divergence": {"reduction": "sum"}}}
    assert used["compile"]["metrics"] == {"a": ["mae", "log_cosh_error"], "b": "cosine_similarity"}
    assert tree["compile"]["optimizer"]["SGD"]["lr"] == 0.05  # the input is left as it was
    assert objects.as_used(used) == used  # nothing left to translate


@pytest.mark.parametrize(
    "optimizer, expected",
    [
        ({"Adam": {"decay": 0.01}}, {"Adam": {"learning_rate": {"InverseTimeDecay": {
            "initial_learning_rate": 0.001, "decay_steps": 1, "decay_rate": 0.01}}}}),
        ({"RMSprop": {"lr": 0.1, "decay": 0}}, {"RMSprop": {"learning_rate": 0.1}}),
        ({"Adam": {"learning_rate": 0.1}}, {"Adam": {"learning_rate": 0.1}}),
        ("adam", "adam"),
        ({"pkg.mod:Opt": {"lr": 1}}, {"pkg.mod:Opt": {"lr": 1}}),  # custom code: as written
    ],
)
def test_optimizer_as_used(optimizer, expected):
    assert objects.as_used({"compile": {"optimizer": optimizer}})["compile"]["optimizer"] == expected


def test_recorded_schedule_is_the_one_used():
    notes: list[str] = []
    spec = {"SGD": {"lr": 0.05, "decay": 0.001}}
    used = objects.as_used({"compile": {"optimizer": spec}})["compile"]["optimizer"]
    a = objects.optimizer(spec, ("compile", "optimizer"), notes)
    b = objects.optimizer(used, ("compile", "optimizer"), [])
    for step in (0, 7, 1000):
        assert float(a._learning_rate(step)) == pytest.approx(float(b._learning_rate(step)))
