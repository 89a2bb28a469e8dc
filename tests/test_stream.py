"""``data.stream``: a CSV read in chunks (here of 25 rows, then 40: every file has many),
preprocessing fitted chunk by chunk to the numbers of the in-memory path, rows held out
by a seeded hash of each row, every bad row found (its line) before training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from kexp.data import stream
from tests.conftest import ROOT
from tests.helpers import invoke, only_folder, write_yaml


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "CHUNK_ROWS", 40)
    monkeypatch.setattr(stream, "FIRST_CHUNK_ROWS", 25)  # a pass's first chunk is smaller


def table(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(rows, 3)) * [1, 5, 0.1] + [0, 10, 1],
                      columns=["a", "b", "c"])
    df["colour"] = rng.choice(["red", "green", "blue"], rows)
    df["label"] = np.where(df.a + (df.colour == "red") > 0.4, "pos", "neg")
    df.loc[rng.random(rows) < 0.05, "b"] = np.nan
    return df


def spec(path: Path, **data: object) -> dict:
    return {
        "name": "stream",
        "seed": 4,
        "data": {"source": "csv", "path": str(path), "target": "label", "stream": True, **data},
        "preprocess": {"x": [{"impute": {"strategy": "median"}},
                             {"get_dummies": {"columns": ["colour"]}}, "standardize"],
                       "y": "sparse"},
        "model": {"layers": [{"Dense": {"units": 8, "activation": "relu"}},
                             {"Dense": {"units": 2, "activation": "softmax"}}]},
        "compile": {"loss": "sparse_categorical_crossentropy", "optimizer": "adam",
                    "metrics": ["accuracy"]},
        "fit": {"epochs": 2, "batch_size": 16},
    }


def run(folder: Path, s: dict, code: int = 0, name: str = "spec.yaml"):
    return invoke("run", str(write_yaml(folder, s, name)), "--runs-dir", str(folder / "runs"),
                  exit_code=code)


@pytest.fixture()
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "rows.csv"
    table().to_csv(path, index=False)
    return path


@pytest.mark.parametrize("steps", [
    [{"impute": {"strategy": "median"}}, {"get_dummies": {"columns": ["colour"]}}, "standardize"],
    [{"impute": {"strategy": "mean"}}, {"get_dummies": {"columns": ["colour"]}}, "minmax"],
    [{"impute": {"strategy": "most_frequent", "columns": ["b"]}},
     {"standardize": {"columns": ["a", "b"]}}, {"get_dummies": {"columns": ["colour"]}}],
])
def test_chunk_by_chunk_fits_the_numbers_of_the_whole_file(csv_file: Path, tmp_path: Path,
                                                           steps: list) -> None:
    """With nothing held out, the streamed and the in-memory run fit the same preprocessing."""
    states = []
    for streamed in (True, False):
        s = spec(csv_file, stream=streamed, test=None)
        s["preprocess"]["x"] = steps
        s["fit"]["epochs"] = 1
        folder = tmp_path / f"stream-{streamed}"
        folder.mkdir()
        run(folder, s)
        states.append(json.loads((only_folder(folder / "runs") / "preprocess.json").read_text()))
    assert states[0]["classes"] == states[1]["classes"] == ["neg", "pos"]
    for a, b in zip(states[0]["steps"], states[1]["steps"], strict=True):
        assert a["name"] == b["name"]
        assert _close(a["state"], b["state"]), (a, b)


def _close(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9, abs=1e-12)
    return a == b


def test_tokenize_and_pad_fit_chunk_by_chunk_as_on_the_whole_file(tmp_path: Path) -> None:
    texts = pd.read_csv(ROOT / "datasets" / "fortunes-topics.csv").groupby("topic").head(40)
    path = tmp_path / "texts.csv"
    texts.to_csv(path, index=False)
    states = []
    for streamed in (True, False):
        s = spec(path, stream=streamed, test=None, target="topic", features=["text"])
        s["preprocess"] = {"x": [{"tokenize": {"max_tokens": 300}}, {"pad": {}}], "y": "sparse"}
        s["model"] = {"layers": [{"Embedding": {"input_dim": 300, "output_dim": 4}},
                                 "GlobalAveragePooling1D",
                                 {"Dense": {"units": 4, "activation": "softmax"}}]}
        s["fit"]["epochs"] = 1
        folder = tmp_path / f"text-{streamed}"
        folder.mkdir()
        run(folder, s)
        states.append(json.loads((only_folder(folder / "runs") / "preprocess.json").read_text()))
    assert states[0] == states[1]


def test_rows_are_held_out_by_a_seeded_hash(csv_file: Path, tmp_path: Path) -> None:
    s = spec(csv_file, test={"size": 0.25}, validation={"size": 0.2})
    run(tmp_path, s)
    first = only_folder(tmp_path / "runs")
    data = json.loads((first / "env.json").read_text())["data"]
    parts = data["parts"]
    assert data["stream"] is True and sum(parts.values()) == 300
    assert 45 <= parts["test"] <= 105 and 20 <= parts["validation"] <= 80
    assert sum(data["labels"]["test"].values()) == parts["test"]
    frame = pd.read_csv(first / "predictions.csv")
    metrics = json.loads((first / "metrics.json").read_text())
    assert len(frame) == parts["test"] == metrics["samples"]
    train_labels, test_labels = data["labels"]["train"], data["labels"]["test"]
    top = max(sorted(train_labels), key=train_labels.get)
    assert metrics["baseline"] == {"strategy": "majority_class", "class": top,
                                   "accuracy": test_labels[top] / parts["test"]}
    assert "val_loss" in pd.read_csv(first / "history.csv").columns
    # the same seed: the same rows; another seed: others
    again = tmp_path / "again"
    again.mkdir()
    run(again, s)
    assert pd.read_csv(only_folder(again / "runs") / "predictions.csv")["y_true"].tolist() == \
        frame["y_true"].tolist()
    other = tmp_path / "other"
    other.mkdir()
    run(other, {**s, "seed": 5})
    moved = json.loads((only_folder(other / "runs") / "env.json").read_text())["data"]["parts"]
    assert moved != parts


def test_a_test_file_and_the_size_past_which_a_file_streams(csv_file: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    test = tmp_path / "test.csv"
    table(60, seed=9).to_csv(test, index=False)
    monkeypatch.setattr(stream, "STREAM_BYTES", 1000)
    s = spec(csv_file, stream="auto", test_path=str(test))
    run(tmp_path, s)
    data = json.loads((only_folder(tmp_path / "runs") / "env.json").read_text())["data"]
    assert data["stream"] is True and data["parts"]["test"] == 60 and data["parts"]["train"] == 300


def _bad(path: Path, case: str) -> None:
    lines = table().to_csv(index=False).splitlines()
    if case == "extra-field":
        lines[150] += ",9"
    elif case == "short-row":
        lines[170] = ",".join(lines[170].split(",")[:3])
    elif case == "not-a-number":
        parts = lines[201].split(",")
        parts[0] = "twelve"
        lines[201] = ",".join(parts)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(("case", "expected"), [
    ("extra-field", ["line 151 has 6 field(s), expected 5"]),
    ("short-row", ["line 171 has 3 field(s), expected 5"]),
    ("not-a-number", ["line 202, column 'a': 'twelve' is not a number"]),
])
def test_every_row_is_checked_before_training(tmp_path: Path, case: str,
                                               expected: list[str]) -> None:
    path = tmp_path / "rows.csv"
    _bad(path, case)
    result = run(tmp_path, spec(path), code=2)
    for text in expected:
        assert text in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("edit", "expected"), [
    ({"data": {"test": {"size": 30}}}, ["data.test.size", "a fraction of its rows"]),
    ({"data": {"test": {"size": 0.2, "stratify": True}}}, ["data.test.stratify", "hash"]),
    ({"data": {"target": {"y": "label"}}}, ["data.target", "one target"]),
    ({"fit": {"epochs": 1, "validation_split": 0.2}}, ["fit.validation_split",
                                                       "data.validation"]),
    ({"fit": {"epochs": 1, "class_weight": "balanced"}}, ["fit.class_weight"]),
])
def test_what_a_streamed_csv_cannot_do(csv_file: Path, tmp_path: Path, edit: dict,
                                       expected: list[str]) -> None:
    s = spec(csv_file)
    for key, value in edit.items():
        s[key] = {**s[key], **value}
    if "target" in edit.get("data", {}):
        s["model"] = {"type": "functional", "inputs": {"x": {}},
                      "nodes": {"y": {"Dense": {"units": 2, "activation": "softmax"},
                                      "inputs": "x"}}, "outputs": ["y"]}
        s["preprocess"]["y"] = {"y": "sparse"}
    result = run(tmp_path, s, code=2)
    for text in expected:
        assert text in result.output, result.output


def test_a_missing_value_left_after_preprocessing_fails_the_run_naming_the_rows(
        csv_file: Path, tmp_path: Path) -> None:
    df = table()
    df["b"] = df["b"].fillna(10.0)
    df.loc[280, "b"] = np.nan  # past the first rows the model's checks take
    df.to_csv(csv_file, index=False)
    s = spec(csv_file, test=None)
    s["preprocess"]["x"] = [{"get_dummies": {"columns": ["colour"]}}]  # no impute: NaN is left
    result = run(tmp_path, s, code=2)
    assert "missing or infinite value after preprocessing" in result.output, result.output
    assert "rows.csv: a row of the chunk from line" in result.output
    status = json.loads((only_folder(tmp_path / "runs") / "status.json").read_text())
    assert status["status"] == "failed"


def test_a_step_that_cannot_fit_chunk_by_chunk_is_named() -> None:
    from kexp.data.steps import Step
    from kexp.errors import ConfigError

    class Learns(Step):
        name = "memorize"

    step = Learns()
    step.loc = ("preprocess", "x", 2, "memorize")
    with pytest.raises(ConfigError) as err:
        step.fit_stream(iter([]))
    assert err.value.loc == ("preprocess", "x", 2, "memorize")
    assert "cannot be fitted chunk by chunk" in str(err.value)


def test_init_reads_a_sample_of_a_file_it_would_stream(csv_file: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from kexp.scaffold import survey

    monkeypatch.setattr(stream, "STREAM_BYTES", 1000)
    monkeypatch.setattr(survey, "SAMPLE_ROWS", 120)
    out = tmp_path / "init.yaml"
    invoke("init", str(csv_file), "--target", "label", "--out", str(out), exit_code=0)
    written = yaml.safe_load(out.read_text())
    assert written["data"]["stream"] is True and "stratify" not in written["data"]["test"]
    assert "first 120 rows" in out.read_text()


# ------------------------------------------------------------------------------ kexp cv


def _fold_codes(path: Path, folds: int, seed: int, validation: float) -> np.ndarray:
    """Each row's part in each fold, as the CV's tables give them: (folds, rows)."""
    from kexp.spec import CsvData

    cfg = CsvData.model_validate({"source": "csv", "path": str(path), "target": "label"})
    out = []
    for fold in range(folds):
        t = stream.Table(path, cfg, seed, validation=validation, folds=folds, fold=fold)
        out.append(np.concatenate([t.parts_of(c, line) for line, c in t.frames()]))
    return np.array(out)


def _fold_seed(seed: int) -> int:
    from types import SimpleNamespace

    from kexp.cv import hashed

    return hashed.repeat_seeds(SimpleNamespace(cv=SimpleNamespace(seed=None, repeats=1)), seed)[0]


def test_fold_rows_by_hash_are_disjoint_and_cover_and_validation_rows_stay(csv_file: Path) -> None:
    codes = _fold_codes(csv_file, 4, 7, 0.25)
    assert ((codes == stream.TEST).sum(axis=0) == 1).all()  # every row tests in one fold
    assert all((codes[f] == stream.TEST).sum() > 40 for f in range(4))
    held = codes == stream.VALIDATION  # a validation row in every fold it trains in
    assert (held.sum(axis=0) == np.where(held.any(axis=0), 3, 0)).all()
    assert 0.15 < held.any(axis=0).mean() < 0.35
    assert not (codes == _fold_codes(csv_file, 4, 8, 0.25)).all()  # another seed, other folds


def test_cv_folds_a_streamed_csv_by_a_hash_of_each_row(csv_file: Path, tmp_path: Path) -> None:
    s = spec(csv_file, validation={"size": 0.2})
    s["fit"] = {"epochs": 1, "batch_size": 32}
    path = write_yaml(tmp_path, s, "cv.yaml")
    result = invoke("cv", str(path), "--folds", "3", "--runs-dir", str(tmp_path / "runs"),
                    "--no-plots", exit_code=0)
    assert "not stratified" in result.output
    cv_dir = only_folder(tmp_path / "runs")
    record = json.loads((cv_dir / "cv.json").read_text())
    assert record["data"]["samples"] == 300 and "hash" in record["splitter"]
    folds = pd.read_csv(cv_dir / "folds.csv")
    assert (folds["status"] == "completed").all() and folds["test_size"].sum() == 300
    codes = _fold_codes(csv_file, 3, _fold_seed(4), 0.2)
    for i, row in folds.iterrows():
        fold_dir = cv_dir / f"fold-{i + 1:02d}"
        parts = json.loads((fold_dir / "env.json").read_text())["data"]["parts"]
        assert parts["test"] == row["test_size"] == (codes[i] == stream.TEST).sum()
        assert parts["validation"] == (codes[i] == stream.VALIDATION).sum() > 0
        assert parts["train"] == row["train_size"] == (codes[i] == stream.TRAIN).sum()
        assert len(pd.read_csv(fold_dir / "predictions.csv")) == row["test_size"]
        indices = json.loads((fold_dir / "indices.json").read_text())
        assert indices["test"] == [i] and indices["rows"] == [row["train_size"], row["test_size"]]
    # a lost fold is trained again on the same rows; a changed file is refused
    import shutil

    shutil.rmtree(cv_dir / "fold-02")
    invoke("cv", "--resume", str(cv_dir), "--no-plots", exit_code=0)
    again = pd.read_csv(cv_dir / "folds.csv")
    assert again["test_size"].tolist() == folds["test_size"].tolist()
    assert (again["status"] == "completed").all()
    with csv_file.open("a") as fh:
        fh.write("0.1,10,1,red,pos\n")
    result = invoke("cv", "--resume", str(cv_dir), exit_code=2)
    assert "changed since the CV" in result.output


def test_a_streamed_cvs_data_travels_to_worker_processes(csv_file: Path) -> None:
    import pickle

    from kexp.cv import hashed
    from kexp.data import sources
    from kexp.spec import Config

    config = Config.model_validate({**spec(csv_file), "cv": {"folds": 3}})
    raw = sources.load(config.data, 4, [csv_file.parent])
    data, folds, sizes, total = hashed.plan(config, raw, 4, [])
    back = pickle.loads(pickle.dumps(data))
    view = back.fold_data(2, None, {}).x_train
    assert view.fold == 1 and view.folds == 3 and total == 300 and len(folds) == 3
    assert sum(n for _, n in sizes) == 300


@pytest.mark.parametrize(("cv", "expected"), [
    ({"stratify": True}, ["cv.stratify", "hash"]),
    ({"shuffle": False}, ["cv.shuffle", "consecutive"]),
    ({"group": "colour"}, ["cv.group", "group column"]),
])
def test_what_a_streamed_cv_cannot_do(csv_file: Path, tmp_path: Path, cv: dict,
                                      expected: list[str]) -> None:
    s = {**spec(csv_file), "cv": {"folds": 3, **cv}}
    result = invoke("cv", str(write_yaml(tmp_path, s, "cv.yaml")), "--runs-dir",
                    str(tmp_path / "runs"), exit_code=2)
    for text in expected:
        assert text in result.output, result.output
    assert not (tmp_path / "runs").exists()


def test_sweep_cv_folds_a_streamed_csvs_training_rows(csv_file: Path, tmp_path: Path) -> None:
    """The folds cover the rows kexp run trains on (the data.test rows, by the run's hash,
    kept for the refit), in folds of about equal size."""
    s = spec(csv_file, test={"size": 0.3})
    s["fit"] = {"epochs": 1, "batch_size": 32}
    s["compile"]["optimizer"] = {"Adam": {"learning_rate": 0.01}}
    s["sweep"] = {"parameters": {"compile.optimizer.Adam.learning_rate": [0.01, 0.002]}}
    invoke("sweep", str(write_yaml(tmp_path, s, "sweep.yaml")), "--cv", "3", "--runs-dir",
           str(tmp_path / "runs"), "--no-plots", exit_code=0)
    root = only_folder(tmp_path / "runs")
    parts = json.loads((root / "refit" / "env.json").read_text())["data"]["parts"]
    for trial in sorted((root / "trials").iterdir()):
        folds = pd.read_csv(trial / "folds.csv")
        assert (folds["status"] == "completed").all()
        assert folds["test_size"].sum() == parts["train"] == 300 - parts["test"]
        assert folds["test_size"].min() > parts["train"] / 3 - 25  # the refit's hash is not the folds'
