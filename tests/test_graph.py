"""The functional-model schema, graph checks, label maps and per-name data (no TensorFlow)."""

from __future__ import annotations

import copy
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from kexp.data.sources import select_columns
from kexp.data.steps import labels
from kexp.errors import KexpError
from kexp.spec import Config, CsvData, LabelMap, graph, load_config, parse_spec, resolved
from tests.conftest import functional_spec
from tests.helpers import set_at, write_yaml

SPEC = functional_spec()


def load(spec: dict) -> Config:
    return load_config(parse_spec(yaml.safe_dump(spec, sort_keys=False)))


def test_shared_input_graph_validates_and_round_trips() -> None:
    text = open("configs/shared_input.yaml", encoding="utf-8").read()
    cfg = load_config(parse_spec(text))
    g = graph.analyze(cfg.model)
    assert g.order == ["conv1", "pool1", "flat1", "conv2", "pool2", "flat2", "merge", "hidden1", "output"]
    assert g.unused == [] and g.owner["merge"] == "merge"
    again = Config.model_validate(resolved(cfg))
    assert again == cfg
    assert resolved(cfg)["model"]["nodes"]["conv1"]["Conv2D"]["filters"] == 32


def test_order_follows_dependencies_not_spec_order() -> None:
    spec = copy.deepcopy(SPEC)
    spec["model"]["nodes"] = {
        "out": {"Dense": {"units": 1}, "inputs": "h"},
        "h": {"Dense": {"units": 4}, "inputs": "x"},
        "extra": {"Dense": {"units": 2}, "inputs": "h"},
    }
    g = graph.analyze(load(spec).model)
    assert g.order == ["h", "out"]
    assert g.unused == ["extra"]
    assert g.notes == ["model.nodes.extra: no output depends on this node; it is left out of the model"]


def test_shared_layer_owner_and_shorthands() -> None:
    spec = copy.deepcopy(SPEC)
    spec["model"]["inputs"] = {"a": [8], "b": {"shape": [8]}}
    spec["model"]["nodes"] = {
        "enc_a": {"Dense": {"units": 3}, "inputs": "a"},
        "enc_b": {"layer": "enc_a", "inputs": "b"},
        "enc_c": {"layer": "enc_b", "inputs": "a"},
        "merge": {"Add": None, "inputs": ["enc_a", "enc_b", "enc_c"]},
    }
    spec["model"]["outputs"] = "merge"
    cfg = load(spec)
    g = graph.analyze(cfg.model)
    assert g.owner == {"enc_a": "enc_a", "enc_b": "enc_a", "enc_c": "enc_a", "merge": "merge"}
    assert cfg.model.inputs["a"].shape == [8] and cfg.model.outputs == ["merge"]


NODES = "model.nodes"
BAD = [
    # (edit, path in the message, what it says)
    (set_at(f"{NODES}.out", {"Dense": {"units": 1}, "inputs": "hh"}),
     r"model\.nodes\.out\.inputs \(line \d+\)",
     r"node 'out' takes input from 'hh', which is neither an input \(x\) nor a node\. Did you mean 'h'\?"),
    (set_at(f"{NODES}.h", {"Dense": {"units": 4}, "inputs": "out"}),
     r"model\.nodes\.\w+\.inputs \(line \d+\)",
     r"the nodes form a cycle: (h -> out -> h|out -> h -> out).*remove one of these inputs"),
    (set_at("model.outputs", ["ou"]),
     r"model\.outputs\[0\] \(line \d+\)", r"output 'ou' is not a node\. Did you mean 'out'\?"),
    (set_at("model.outputs", ["x"]),
     r"model\.outputs\[0\]", r"output 'x' is an input, not a node"),
    (set_at(f"{NODES}.h", {"Dense": {"units": 4}, "Dropout": {"rate": 0.1}, "inputs": "x"}),
     r"model\.nodes\.h \(line \d+\)", r"expected one layer \{Class: \{arguments\}\}, received 2: Dense, Dropout"),
    (set_at(f"{NODES}.h", {"Dense": {"units": 4}, "input": "x"}),
     r"model\.nodes\.h", r"unknown key 'input'.*Did you mean 'inputs'\?"),
    (set_at(f"{NODES}.h", {"Dense": {"units": 4}}),
     r"model\.nodes\.h\.inputs", r"required key 'inputs' is missing"),
    (set_at(f"{NODES}.h", {"layer": "hidden", "inputs": "x"}),
     r"model\.nodes\.h\.layer", r"layer: 'hidden' is not a node, so there is no layer to share"),
    (set_at(f"{NODES}.h", {"Dense": {"units": 4}, "layer": "out", "inputs": "x"}),
     r"model\.nodes\.h\.layer", r"not both"),
    (set_at(f"{NODES}.x", {"Dense": {"units": 4}, "inputs": "x"}),
     r"model\.nodes\.x", r"'x' is both an input \(model\.inputs\) and a node"),
    (set_at("model.inputs.spare", {"shape": [2]}),
     r"model\.inputs\.spare", r"no output depends on input 'spare'"),
    (set_at(f"{NODES}.bad name", {"Dense": {"units": 4}, "inputs": "x"}),
     r"model\.nodes\.bad name", r"not a usable name"),
    (set_at("model.type", "functionl"),
     r"model\.type", r"unknown value 'functionl'.*Did you mean 'functional'\?"),
    (set_at("preprocess.labels", {"binary": {"positive": [1]}, "map": {0: 1}}),
     r"preprocess\.labels", r"expected exactly one of binary"),
]


@pytest.mark.parametrize("edit, where, what", BAD)
def test_bad_graph_specs(edit, where: str, what: str) -> None:
    spec = copy.deepcopy(SPEC)
    edit(spec)
    with pytest.raises(KexpError) as info:
        load(spec)
    text = str(info.value)


    assert re.search(where, text), text
    assert re.search(what, text), text


def test_bad_graph_spec_cli_exit_code(tmp_path) -> None:
    from click.testing import CliRunner

    from kexp.cli import cli

    spec = copy.deepcopy(SPEC)
    spec["model"]["outputs"] = ["outt"]
    result = CliRunner().invoke(cli, ["validate", str(write_yaml(tmp_path, spec, "bad.yaml"))])
    assert result.exit_code == 2
    assert "Error: model.outputs[0] (line" in result.output
    assert "output 'outt' is not a node. Did you mean 'out'?" in result.output
    assert "Traceback" not in result.output


# ------------------------------------------------------------------------- labels


def test_binary_label_map() -> None:
    spec = LabelMap.model_validate({"binary": {"positive": [0, 2, 4, 6, 8]}})
    assert labels.apply(spec, np.array([0, 1, 2, 3, 8, 9])).tolist() == [1, 0, 1, 0, 1, 0]
    series = labels.apply(spec, pd.Series([2.0, 3.0], index=[5, 7]))
    assert series.tolist() == [1, 0] and list(series.index) == [5, 7]


def test_label_map_renames_and_reports_unmapped() -> None:
    spec = LabelMap.model_validate({"map": {0: "odd", 1: "even"}})
    assert labels.apply(spec, np.array([[1], [0]])).tolist() == ["even", "odd"]
    with pytest.raises(KexpError, match=r"preprocess\.labels: y_test has label\(s\) 7 that the map does not name"):
        labels.apply(spec, np.array([0, 7]), "y_test")


# --------------------------------------------------------------------------- data


def test_csv_columns_per_input_and_output() -> None:
    df = pd.DataFrame(np.arange(24).reshape(4, 6), columns=list("abcdef"))
    cfg = CsvData.model_validate(
        {"source": "csv", "path": "x.csv", "features": {"main": ["a", "b"], "aux": "2:4"},
         "target": {"cls": "e", "val": "f"}}
    )
    x, y = select_columns(df, cfg)
    assert list(x) == ["main", "aux"] and list(x["aux"].columns) == ["c", "d"]
    assert y["cls"].tolist() == [4, 10, 16, 22]
    bad = CsvData.model_validate(
        {"source": "csv", "path": "x.csv", "features": {"main": ["a", "e"]}, "target": {"cls": "e"}}
    )
    with pytest.raises(KexpError, match=r"data\.features\.main: column\(s\) \['e'\] are both features and target"):
        select_columns(df, bad)
