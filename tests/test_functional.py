"""Functional models: building, shared layers, several inputs/outputs, run folders, model.png."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from kexp.cli import cli
from kexp.model import build as functional
from kexp.model import draw as modelplot
from kexp.spec import load_config, load_spec, parse_spec
from tests.conftest import functional_spec
from tests.helpers import set_at, write_yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def keras():
    from kexp import backend

    return backend.keras()


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    n = 48
    df = pd.DataFrame(rng.normal(size=(n, 4)).round(3), columns=list("abcd"))
    df["cls"] = (df["a"] + df["c"] > 0).astype(int)
    df["val"] = (2 * df["b"] - df["d"]).round(3)
    path = tmp_path_factory.mktemp("data") / "tiny.csv"
    df.to_csv(path, index=False)
    return path


def multi_spec(csv_path: Path) -> dict:
    return {
        "name": "mio",
        "seed": 3,
        "data": {
            "source": "csv", "path": str(csv_path),
            "features": {"main": ["a", "b"], "aux": ["c", "d"]},
            "target": {"cls": "cls", "val": "val"},
            "test": {"size": 0.25},
        },
        "preprocess": {"x": {"main": ["standardize"], "aux": ["minmax"]}, "y": {"cls": "none", "val": "none"}},
        "model": {
            "type": "functional",
            "inputs": {"main": {"shape": [2]}, "aux": {"shape": [2]}},
            "nodes": {
                "m": {"Dense": {"units": 4, "activation": "relu"}, "inputs": "main"},
                "a": {"Dense": {"units": 4, "activation": "relu"}, "inputs": "aux"},
                "merged": {"Concatenate": {}, "inputs": ["m", "a"]},
                "cls": {"Dense": {"units": 1, "activation": "sigmoid"}, "inputs": "merged"},
                "val": {"Dense": {"units": 1}, "inputs": "merged"},
            },
            "outputs": ["cls", "val"],
        },
        "compile": {
            "loss": {"cls": "binary_crossentropy", "val": "mse"},
            "loss_weights": {"cls": 1.0, "val": 0.2},
            "metrics": {"cls": ["accuracy"], "val": ["mae"]},
        },
        "fit": {"epochs": 2, "batch_size": 8, "validation_split": 0.2, "verbose": 0},
    }


# --------------------------------------------------------------------------- build


def test_shared_input_two_branch_cnn_model(keras) -> None:
    cfg = load_config(load_spec(ROOT / "configs" / "shared_input.yaml"))
    model, outs = functional.build(cfg.model, None, [])
    assert model.count_params() == 63_685
    assert {layer.name for layer in model.layers} == {
        "image", "conv1", "pool1", "flat1", "conv2", "pool2", "flat2", "merge", "hidden1", "output"
    }
    assert outs == {"output": (None, 1)}
    assert model.get_layer("merge").output.shape == (None, 4608 + 1600)


def test_shared_layer_reuses_the_same_weights(keras) -> None:
    spec = {
        "type": "functional",
        "inputs": {"left": {"shape": [5]}, "right": {"shape": [5]}},
        "nodes": {
            "enc_a": {"Dense": {"units": 3}, "inputs": "left"},
            "enc_b": {"layer": "enc_a", "inputs": "right"},
            "merge": {"Concatenate": {}, "inputs": ["enc_a", "enc_b"]},
            "out": {"Dense": {"units": 1}, "inputs": "merge"},
        },
        "outputs": ["out"],
    }
    cfg = load_config(parse_spec(yaml.safe_dump({"data": {"source": "random"}, "model": spec,
                                                 "compile": {"loss": "mse"}})))
    model, _ = functional.build(cfg.model, None, [])
    layers = functional.node_layers(model, cfg.model)
    assert layers["enc_a"] is layers["enc_b"]
    assert layers["enc_a"].kernel is layers["enc_b"].kernel
    assert "enc_b" not in [layer.name for layer in model.layers]
    assert model.count_params() == (5 * 3 + 3) + (6 + 1)
    # the same input through both branches gives the same features
    sub = keras.Model(model.inputs, model.get_layer("merge").output)
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    feats = sub.predict({"left": x, "right": x}, verbose=0)
    np.testing.assert_allclose(feats[:, :3], feats[:, 3:], rtol=1e-6)


def test_layer_taking_several_tensors_and_call_arguments(keras) -> None:
    spec = {
        "type": "functional",
        "inputs": {"q": {"shape": [4, 6]}, "v": {"shape": [5, 6]}},
        "nodes": {
            "att": {"MultiHeadAttention": {"num_heads": 2, "key_dim": 3},
                    "inputs": {"query": "q", "value": "v"}, "call": {"use_causal_mask": False}},
            "dot": {"Dot": {"axes": [2, 2]}, "inputs": ["att", "q"]},
            "flat": {"Flatten": None, "inputs": "dot"},
        },
        "outputs": "flat",
    }
    cfg = load_config(parse_spec(yaml.safe_dump({"data": {"source": "random"}, "model": spec,
                                                 "compile": {"loss": "mse"}})))
    model, outs = functional.build(cfg.model, None, [])
    assert outs == {"flat": (None, 16)}


# ------------------------------------------------------------- bad input at build


def _edits(*edits):
    def edit(spec: dict) -> None:
        for one in edits:
            one(spec)

    return edit


BUILD_BAD = [
    # single-input spec edits
    ("single", set_at("model.nodes.h", {"Conv2D": {"filters": 2, "kernel_size": 3}, "inputs": "x"}),
     r"model\.nodes\.h\.Conv2D \(line \d+\): node 'h': Conv2D cannot take input x \(None, 8\): .*ndim"),
    ("single", set_at("model.nodes.h", {"Concatenate": {}, "inputs": ["x"]}),
     r"model\.nodes\.h\.inputs \(line \d+\): Concatenate merges several inputs, received 1 \(x\)\. List at least two"),
    ("single", set_at("model.nodes.h", {"Add": {}, "inputs": "x"}),
     r"model\.nodes\.h\.inputs .*Add merges several inputs, received 1"),
    ("single", set_at("model.nodes.h", {"Dens": {"units": 4}, "inputs": "x"}),
     r"model\.nodes\.h\.Dens \(line \d+\): unknown layer 'Dens'\. Did you mean 'Dense'\?"),
    ("single", set_at("model.nodes.h", {"Dense": {"unit": 4}, "inputs": "x"}),
     r"model\.nodes\.h\.Dense .*invalid arguments for Dense.*'unit' is not an argument of Dense\. Did you mean 'units'\?"),
    ("single", set_at("model.inputs.x", {"shape": [4, 2]}),
     r"model\.inputs\.x\.shape \(line \d+\): input 'x' expects samples of shape \(4, 2\), but the data after "
     r"preprocessing has samples of shape \(8,\)\. Add \{reshape: \[4, 2\]\}"),
    ("single", set_at("model.nodes.out", {"Dense": {"units": 3}, "inputs": "h"}),
     r"model\.nodes\.out .*the model outputs shape \(3,\) per sample but the targets have shape \(1,\)"),
    ("single", set_at("compile.loss", {"outt": "mse", "other": "mse"}),
     r"compile\.loss\.outt .*'outt' is not an output of the model \(outputs: out\)\. Did you mean 'out'\?"),
    ("multi", set_at("compile.loss", {"cls": "binary_crossentropy"}),
     r"compile\.loss \(line \d+\): no loss for output\(s\) val; every output needs one"),
    ("multi", set_at("compile.loss_weights", [1.0]),
     r"compile\.loss_weights .*expected one weight per output \(2: cls, val\), received 1"),
    ("multi", set_at("compile.metrics", {"cls": ["accuracy"], "vall": ["mae"]}),
     r"compile\.metrics\.vall .*Did you mean 'val'\?"),
    ("multi", set_at("data.features", {"main": ["a", "b"], "auxx": ["c", "d"]}),
     r"data\.features\.auxx .*'auxx' is not a model input \(the model's inputs: main, aux\)\. Did you mean 'aux'\?"),
    ("multi", set_at("data.features", ["a", "b", "c", "d"]),
     r"data\.features .*the model has 2 inputs \(main, aux\) but the data gives one group of features"),
    ("multi", set_at("data.target", "cls"),
     r"data\.target .*the model has 2 outputs \(cls, val\) but the data gives one target"),
    ("multi", set_at("fit.class_weight", "balanced"),
     r"fit\.class_weight .*single-output models only.*compile\.loss_weights"),
    ("multi", set_at("preprocess.y", {"cls": "none", "vals": "none"}),
     r"preprocess\.y\.vals .*'vals' is not a model input/output here"),
    ("multi", _edits(set_at("preprocess.y", {"cls": "one_hot", "val": "none"}),
                     set_at("model.nodes.cls", {"Dense": {"units": 2, "activation": "softmax"}, "inputs": "merged"}),
                     set_at("compile.loss", {"cls": "sparse_categorical_crossentropy", "val": "mse"})),
     r"compile\.loss\.cls \(line \d+\): output 'cls': sparse_categorical_crossentropy expects integer class "
     r"labels \(one per sample\), but preprocess\.y\.cls: one_hot gives one-hot rows \(2 classes\)\. "
     r"Change compile\.loss\.cls to categorical_crossentropy, or preprocess\.y\.cls to sparse"),
]


@pytest.mark.parametrize("base, edit, match", BUILD_BAD)
def test_bad_functional_specs(tmp_path, csv_path, keras, base: str, edit, match: str) -> None:
    spec = functional_spec() if base == "single" else multi_spec(csv_path)
    edit(spec)
    result = CliRunner().invoke(cli, ["validate", str(write_yaml(tmp_path, spec))])
    assert result.exit_code == 2, result.output
    assert re.search(match, result.output), result.output
    assert "Traceback" not in result.output


def test_sequential_refuses_per_output_settings(tmp_path, keras) -> None:
    spec = {
        "data": {"source": "random", "samples": 20, "shape": [4], "classes": 2},
        "model": {"layers": [{"Dense": {"units": 1, "activation": "sigmoid"}}]},
        "compile": {"loss": {"a": "mse", "b": "mae"}},
    }
    result = CliRunner().invoke(cli, ["validate", str(write_yaml(tmp_path, spec))])
    assert result.exit_code == 2
    assert "compile.loss (line" in result.output
    assert "a loss per output name needs a functional model" in result.output


def test_unused_node_is_a_note(tmp_path, keras) -> None:
    spec = functional_spec()
    spec["model"]["nodes"]["extra"] = {"Dense": {"units": 2}, "inputs": "h"}
    result = CliRunner().invoke(cli, ["validate", str(write_yaml(tmp_path, spec))])
    assert result.exit_code == 0, result.output
    assert "Note: model.nodes.extra: no output depends on this node; it is left out of the model" in result.output
    assert "Total params: 41" in result.output  # (8*4+4) + (4+1): extra is not built


# -------------------------------------------------------------- run folder, predict


def test_multi_io_run_folder_and_predict(tmp_path, csv_path, keras) -> None:
    spec_path = write_yaml(tmp_path, multi_spec(csv_path))
    runs = tmp_path / "runs"
    result = CliRunner().invoke(cli, ["run", str(spec_path), "--runs-dir", str(runs)])
    assert result.exit_code == 0, result.output
    run = next(runs.iterdir())
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "completed" and status["epochs"] == 2
    history = pd.read_csv(run / "history.csv")
    for col in ("loss", "cls_loss", "val_loss", "cls_accuracy", "val_mae", "val_val_mae"):
        assert col in history.columns, list(history.columns)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["samples"] == 12
    assert {"loss", "cls_loss", "val_loss", "cls_accuracy", "val_mae"} <= set(metrics["metrics"])
    preds = pd.read_csv(run / "predictions.csv")
    assert list(preds.columns) == ["cls.y_true", "cls.y_pred", "cls.prob_0", "cls.prob_1", "val.y_true", "val.y_pred"]
    assert len(preds) == 12
    assert (run / "cls-confusion_matrix.png").is_file() and (run / "val-predictions.png").is_file()
    state = json.loads((run / "preprocess.json").read_text())
    assert state["input_names"] == ["main", "aux"] and "standardize" in json.dumps(state["inputs"]["main"])
    out = tmp_path / "p.csv"
    result = CliRunner().invoke(cli, ["predict", str(run), str(csv_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert list(pd.read_csv(out).columns)[:2] == ["cls.y_true", "cls.y_pred"]


def test_label_map_in_run(tmp_path, keras) -> None:
    spec = functional_spec()
    spec["data"]["classes"] = 4
    spec["preprocess"] = {"labels": {"binary": {"positive": [0, 2]}}}
    spec["data"]["test"] = {"size": 0.25}
    runs = tmp_path / "runs"
    result = CliRunner().invoke(cli, ["run", str(write_yaml(tmp_path, spec)), "--runs-dir", str(runs)])
    assert result.exit_code == 0, result.output
    preds = pd.read_csv(next(runs.iterdir()) / "predictions.csv")
    assert list(preds.columns) == ["y_true", "y_pred", "prob_0", "prob_1"]
    assert set(preds["y_true"]) <= {0, 1}


# ----------------------------------------------------------------------- model.png


@pytest.mark.skipif(modelplot.missing() is not None, reason="needs pydot and Graphviz")
def test_validate_graph_writes_png(tmp_path, keras) -> None:
    png = tmp_path / "model.png"
    result = CliRunner().invoke(cli, ["validate", str(write_yaml(tmp_path, functional_spec())), "--graph", str(png)])
    assert result.exit_code == 0, result.output
    assert f"Model graph: {png}" in result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("missing", ["pydot", "graphviz"])
def test_graph_without_pydot_or_graphviz_is_a_notice(tmp_path, keras, monkeypatch, missing: str) -> None:
    if missing == "pydot":
        monkeypatch.setitem(sys.modules, "pydot", None)  # import pydot -> ImportError
        expected = "pydot is not installed"
    else:
        monkeypatch.setattr(modelplot.shutil, "which", lambda name: None)
        expected = "Graphviz is not installed"
    png = tmp_path / "model.png"
    result = CliRunner().invoke(cli, ["validate", str(write_yaml(tmp_path, functional_spec())), "--graph", str(png)])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if line.startswith("Note: model.png not drawn")]
    assert len(notes) == 1 and expected in notes[0]
    assert "Total params: 41" in result.output and not png.exists()
    runs = tmp_path / "runs"
    result = CliRunner().invoke(cli, ["run", str(write_yaml(tmp_path, functional_spec())), "--runs-dir", str(runs)])
    assert result.exit_code == 0, result.output
    run = next(runs.iterdir())
    assert not (run / "model.png").exists() and (run / "summary.txt").is_file()
    assert any(expected in n for n in json.loads((run / "status.json").read_text())["notes"])


# ------------------------------------------------------------------ shipped configs


@pytest.mark.slow
def test_mnist_functional_equals_sequential(tmp_path, keras) -> None:
    histories, params = [], []
    for name in ("mnist", "mnist_functional"):
        runs = tmp_path / name
        result = CliRunner().invoke(cli, [
            "run", str(ROOT / "configs" / f"{name}.yaml"), "--runs-dir", str(runs), "--epochs", "2",
            "--set", "data.limit=200", "--set", "deterministic=true", "--set", "fit.verbose=0",
        ])
        assert result.exit_code == 0, result.output
        run = next(runs.iterdir())
        histories.append(pd.read_csv(run / "history.csv"))
        params.append(re.search(r"Total params: ([\d,]+)", (run / "summary.txt").read_text()).group(1))
    assert params == ["203,530", "203,530"]
    pd.testing.assert_frame_equal(histories[0], histories[1])


@pytest.mark.slow
@pytest.mark.parametrize("config, metric", [("shared_input", "accuracy"), ("multi_io", "diabetes_accuracy")])
def test_shipped_functional_configs_run(tmp_path, keras, config: str, metric: str) -> None:
    runs = tmp_path / "runs"
    result = CliRunner().invoke(cli, [
        "run", str(ROOT / "configs" / f"{config}.yaml"), "--runs-dir", str(runs), "--epochs", "1",
        "--set", "data.limit=600", "--set", "fit.verbose=0",
    ])
    assert result.exit_code == 0, result.output
    run = next(runs.iterdir())
    assert metric in json.loads((run / "metrics.json").read_text())["metrics"]
    assert json.loads((run / "status.json").read_text())["status"] == "completed"
