"""``source: python``: a ``keras.utils.PyDataset`` subclass or a generator function of
the user's own, checked before it is called, its first batch checked against the model,
trained batch by batch, recorded with its code; everything else refused with exit 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import invoke, only_folder, write_yaml

MODULE = '''
import numpy as np
import keras

CALLS = []

class Batches(keras.utils.PyDataset):
    def __init__(self, n=64, batch_size=16, seed=0, **kwargs):
        super().__init__(**kwargs)
        rng = np.random.default_rng(seed)
        self.x = rng.random((n, 4)).astype("float32")
        self.y = (self.x.sum(axis=1) > 2).astype("float32")
        self.batch_size = batch_size
    def __len__(self):
        return -(-len(self.x) // self.batch_size)
    def __getitem__(self, i):
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]

def passes(n=64, batch_size=16, seed=0):
    CALLS.append(seed)
    rng = np.random.default_rng(seed)
    for _ in range(n // batch_size):
        x = rng.random((batch_size, 4)).astype("float32")
        yield x, (x.sum(axis=1) > 2).astype("float32")

def endless(batch_size=16):
    rng = np.random.default_rng(0)
    while True:
        x = rng.random((batch_size, 4)).astype("float32")
        yield x, (x.sum(axis=1) > 2).astype("float32")

def named(batch_size=8):
    rng = np.random.default_rng(0)
    for _ in range(4):
        a, b = rng.random((batch_size, 3)), rng.random((batch_size, 2))
        yield {"a": a, "b": b}, {"out": (a.sum(axis=1) > b.sum(axis=1)).astype("float32")}

class Folded(keras.utils.PyDataset):
    """64 rows; with fold and folds, fold `fold`'s rows (every folds-th row) or the others."""
    def __init__(self, part="train", fold=None, folds=None, batch_size=16, **kwargs):
        super().__init__(**kwargs)
        rng = np.random.default_rng(0)
        x = rng.random((64, 4)).astype("float32")
        keep = np.ones(64, bool) if fold is None else (np.arange(64) % folds == fold - 1)
        keep = keep if part == "test" else ~keep if fold is not None else keep
        self.x, self.y = x[keep], (x[keep].sum(axis=1) > 2).astype("float32")
        self.batch_size = batch_size
    def __len__(self):
        return -(-len(self.x) // self.batch_size)
    def __getitem__(self, i):
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]

def plain(n=1):
    return n

class NotADataSet:
    pass

def one_array():
    yield np.zeros((4, 4))

def four_parts():
    yield np.zeros((4, 4)), np.zeros(4), np.ones(4), np.ones(4)

def words():
    yield np.zeros((4, 4)), np.array(["yes", "no", "yes", "no"])

def nothing():
    return
    yield

def broken(n=1):
    raise RuntimeError("the data server is down")
    yield
'''


@pytest.fixture()
def mydata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "mydata_mod.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("mydata_mod", None)


def spec(**data: object) -> dict:
    return {
        "name": "py",
        "seed": 1,
        "data": {"source": "python", "object": "mydata_mod:Batches", "args": {"n": 64},
                 "validation_args": {"seed": 1}, "test_args": {"seed": 2}, **data},
        "model": {"layers": [{"Input": {"shape": [4]}},
                             {"Dense": {"units": 8, "activation": "relu"}},
                             {"Dense": {"units": 1, "activation": "sigmoid"}}]},
        "compile": {"loss": "binary_crossentropy", "optimizer": "adam", "metrics": ["accuracy"]},
        "fit": {"epochs": 2},
    }


def run(folder: Path, s: dict, code: int = 0):
    return invoke("run", str(write_yaml(folder, s)), "--runs-dir", str(folder / "runs"),
                  exit_code=code)


def test_a_pydataset_trains_and_its_code_is_kept(mydata: Path) -> None:
    result = run(mydata, spec(workers=2, max_queue_size=4))
    assert "val_loss" in result.output
    folder = only_folder(mydata / "runs")
    env = json.loads((folder / "env.json").read_text())
    assert env["data"] == {"source": "python", "object": "mydata_mod:Batches", "args": {"n": 64},
                           "kind": "PyDataset", "validation_args": {"n": 64, "seed": 1},
                           "test_args": {"n": 64, "seed": 2}}
    assert (folder / "custom" / "mydata_mod.py").read_text() == MODULE
    frame = pd.read_csv(folder / "predictions.csv")
    assert len(frame) == 64 and list(frame.columns) == ["y_true", "y_pred", "prob_0", "prob_1"]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["samples"] == 64 and metrics["evaluated_on"] == "test"
    assert list(pd.read_csv(folder / "history.csv")["epoch"]) == [0, 1]


def test_a_generator_function_is_called_anew_every_epoch(mydata: Path) -> None:
    s = spec(object="mydata_mod:passes", validation_args=None, test_args=None)
    s["fit"]["epochs"] = 3
    run(mydata, s)
    import mydata_mod

    # one first batch to check, one pass per epoch, one evaluation, one pass of predictions
    assert len(mydata_mod.CALLS) == 1 + 3 + 1 + 1
    folder = only_folder(mydata / "runs")
    assert json.loads((folder / "metrics.json").read_text())["evaluated_on"] == "train"
    assert len(pd.read_csv(folder / "predictions.csv")) == 64


def test_an_endless_generator_trains_its_steps(mydata: Path) -> None:
    s = spec(object="mydata_mod:endless", args={}, validation_args={}, test_args={"batch_size": 8},
             steps_per_epoch=5, validation_steps=2, test_steps=3)
    run(mydata, s)
    folder = only_folder(mydata / "runs")
    assert len(pd.read_csv(folder / "predictions.csv")) == 24  # 3 test batches of 8


def test_batches_by_input_and_output_name_feed_a_functional_model(mydata: Path) -> None:
    s = spec(object="mydata_mod:named", args={}, validation_args=None, test_args=None)
    s["model"] = {"type": "functional", "inputs": {"a": {"shape": [3]}, "b": {"shape": [2]}},
                  "nodes": {"both": {"Concatenate": {}, "inputs": ["a", "b"]},
                            "out": {"Dense": {"units": 1, "activation": "sigmoid"},
                                    "inputs": "both"}},
                  "outputs": ["out"]}
    run(mydata, s)
    bad = spec(object="mydata_mod:named", args={}, validation_args=None, test_args=None)
    result = run(mydata, bad, code=2)
    assert "data.object" in result.output and "functional model" in result.output


@pytest.mark.parametrize(("data", "expected"), [
    ({"object": "mydata_mod:plain"}, ["data.object", "mydata_mod.plain, which returns (no yield)",
                                      "Make it a generator"]),
    ({"object": "mydata_mod:NotADataSet"}, ["data.object", "not a PyDataset subclass"]),
    ({"object": "mydata_mod:np"}, ["data.object", "a module object"]),
    ({"object": "os:getcwd"}, ["data.object", "a built-in"]),
    ({"object": "mydata_mod:nothing_here"}, ["data.object", "has no attribute 'nothing_here'"]),
    ({"object": "not a reference"}, ["data.object", "package.module:attribute"]),
    ({"object": "mydata_mod:passes", "args": {"colour": "red"}},
     ["data.args", "cannot be called with {'colour': 'red'}"]),
    ({"object": "mydata_mod:one_array", "args": {}, "validation_args": None, "test_args": None},
     ["data.object", "gave a ndarray as its first train batch", "(x, y)"]),
    ({"object": "mydata_mod:four_parts", "args": {}, "validation_args": None, "test_args": None},
     ["data.object", "gave a tuple of 4"]),
    ({"object": "mydata_mod:words", "args": {}, "validation_args": None, "test_args": None},
     ["data.object", "y of its first train batch is not a batch of numbers"]),
    ({"object": "mydata_mod:nothing", "args": {}, "validation_args": None, "test_args": None},
     ["data.object", "yields no batches"]),
    ({"object": "mydata_mod:broken", "validation_args": None, "test_args": None},
     ["data.object", "RuntimeError: the data server is down"]),
    ({"object": "mydata_mod:passes", "workers": 2}, ["data.workers", "PyDataset's settings"]),
    ({"test": {"size": 0.2}}, ["data.test", "unknown key"]),
])
def test_a_bad_data_set_is_refused_before_training(mydata: Path, data: dict,
                                                   expected: list[str]) -> None:
    result = run(mydata, spec(**data), code=2)
    for text in expected:
        assert text in result.output, result.output
    assert "Traceback" not in result.output
    assert not (mydata / "runs").exists()


def test_the_first_batch_is_checked_against_the_model(mydata: Path) -> None:
    s = spec()
    s["model"]["layers"][0] = {"Input": {"shape": [5]}}
    result = run(mydata, s, code=2)
    assert "expects samples of shape (5,)" in result.output and "(4,)" in result.output
    s = spec()
    s["model"]["layers"][-1] = {"Dense": {"units": 3, "activation": "softmax"}}
    s["compile"]["loss"] = "categorical_crossentropy"
    result = run(mydata, s, code=2)
    assert "model.layers" in result.output or "compile.loss" in result.output, result.output


@pytest.mark.parametrize(("edit", "expected"), [
    ({"preprocess": {"x": ["standardize"]}}, ["preprocess", "Do the preprocessing in the data set"]),
    ({"fit": {"epochs": 1, "validation_split": 0.2}}, ["fit.validation_split", "validation_args"]),
    ({"fit": {"epochs": 1, "class_weight": "balanced"}}, ["fit.class_weight", "{0: 1.0, 1: 3.0}"]),
])
def test_what_a_python_data_set_cannot_do(mydata: Path, edit: dict, expected: list[str]) -> None:
    s = {**spec(), **edit}
    result = run(mydata, s, code=2)
    for text in expected:
        assert text in result.output, result.output


def test_cv_calls_the_data_set_with_each_fold_and_a_sweep_trains(mydata: Path) -> None:
    s = spec()
    s["fit"]["epochs"] = 1
    result = invoke("cv", str(write_yaml(mydata, s)), "--folds", "2", exit_code=2)
    assert "data.object" in result.output and "takes no fold or folds" in result.output
    folded = {**spec(object="mydata_mod:Folded", args={}, validation_args=None,
                     test_args={"part": "test"}), "fit": {"epochs": 1}}
    del folded["data"]["validation_args"]
    result = invoke("cv", str(write_yaml(mydata, folded)), "--folds", "3", "--runs-dir",
                    str(mydata / "cvs"), "--no-plots", exit_code=0)
    assert "fold=1..3" in result.output
    cv_dir = only_folder(mydata / "cvs")
    folds = pd.read_csv(cv_dir / "folds.csv")
    assert (folds["status"] == "completed").all()
    assert folds["test_size"].tolist() == [22, 21, 21] and folds["train_size"].isna().all()
    for i in range(3):
        env = json.loads((cv_dir / f"fold-{i + 1:02d}" / "env.json").read_text())["data"]
        assert env["args"] == {"fold": i + 1, "folds": 3}
        assert env["test_args"] == {"fold": i + 1, "folds": 3, "part": "test"}
    import shutil

    shutil.rmtree(cv_dir / "fold-03")
    invoke("cv", "--resume", str(cv_dir), "--no-plots", exit_code=0)
    assert pd.read_csv(cv_dir / "folds.csv")["test_size"].tolist() == [22, 21, 21]
    result = invoke("cv", str(write_yaml(mydata, {**folded, "data": {
        **folded["data"], "test_args": None}})), "--folds", "3", exit_code=2)
    assert "data.test_args" in result.output
    s["sweep"] = {"method": "grid", "metric": "accuracy", "goal": "max",
                  "parameters": {"compile.optimizer": ["adam", "sgd"]}}
    invoke("sweep", str(write_yaml(mydata, s)), "--runs-dir", str(mydata / "runs"), exit_code=0)
    assert len(list((only_folder(mydata / "runs") / "trials").iterdir())) == 2
