"""``kexp init``: the header sniff, column kinds, task inference, refusals (exit 2), the
written spec validating with kexp's own loader, and (slow) each shipped CSV's spec
trained past its baseline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from kexp.cli import cli
from kexp.scaffold.survey import describe_column, survey
from kexp.spec import load_config, parse_spec

ROOT = Path(__file__).resolve().parent.parent
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]


def write_csv(tmp_path: Path, frame: pd.DataFrame, name: str = "data.csv", header: bool = True) -> str:
    path = tmp_path / name
    frame.to_csv(path, index=False, header=header)
    return str(path)


def table(rows: int = 40) -> pd.DataFrame:
    return pd.DataFrame({
        "row": range(1, rows + 1),
        "glucose": [80.5 + (i * 7) % 50 for i in range(rows)],
        "color": ["red", "green", "blue", None][:4] * (rows // 4),
        "code": [f"id-{i:04d}" for i in range(rows)],
        "note": [" ".join(WORDS[(i + k) % 8] for k in range(4 + i % 3)) + f" {i}" for i in range(rows)],
        "flat": [1] * rows,
        "label": ["yes", "no"] * (rows // 2),
    })


def init(*args: str) -> tuple[int, str]:
    done = CliRunner().invoke(cli, ["init", *args])
    return done.exit_code, done.output


def test_header_sniff(tmp_path: Path) -> None:
    numbers = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, 2.5], "y": [0, 1, 0]})
    assert survey(write_csv(tmp_path, numbers), "b").header is True
    bare = write_csv(tmp_path, numbers, "bare.csv", header=False)
    s = survey(bare, "2")
    assert s.header is False and s.target.key == 2 and [c.key for c in s.columns] == [0, 1]
    # a header-less file whose first row has words that repeat below: still no header
    cats = pd.DataFrame({"a": [1, 2, 3, 4], "c": ["x", "y", "x", "y"], "y": [0, 1, 1, 0]})
    assert survey(write_csv(tmp_path, cats, "cats.csv", header=False), "2").header is False


def test_column_kinds(tmp_path: Path) -> None:
    frame = table()
    frame.loc[3, "glucose"] = None
    s = survey(write_csv(tmp_path, frame.drop(columns=["note"])), "label")
    kinds = {c.key: c.kind for c in s.columns}
    kinds["note"] = describe_column("note", frame["note"]).kind
    assert kinds == {"row": "dropped", "glucose": "numeric", "color": "category", "code": "dropped",
                     "note": "text", "flat": "dropped"}
    whys = {c.key: c.why for c in s.columns}
    assert "row number" in whys["row"] and "40 distinct strings" in whys["code"]
    assert "one value only" in whys["flat"] and "filled with the training median" in whys["glucose"]


def test_table_spec_without_text(tmp_path: Path) -> None:
    frame = table().drop(columns=["note"])
    frame.loc[3, "glucose"] = None
    code, out = init(write_csv(tmp_path, frame), "--target", "label")
    assert code == 0, out
    assert "#   'code': 40 distinct strings (an identifier or free labels), dropped" in out
    assert "features: [glucose, color]" in out
    assert "- impute: {strategy: median, columns: [glucose]}" in out
    assert "- get_dummies: {columns: [color]}" in out and "- standardize: {columns: [glucose]}" in out
    assert "y: sparse" in out and "'no' -> 0, 'yes' -> 1" in out
    cfg = load_config(parse_spec(out))
    assert cfg.compile.loss == "binary_crossentropy" and cfg.data.test.stratify is True


def test_text_spec_uses_only_the_text(tmp_path: Path) -> None:
    code, out = init(write_csv(tmp_path, table()), "--target", "label")
    assert code == 0, out
    assert "features: [note]" in out and "- tokenize: {column: note" in out and "- pad:" in out
    assert "not used: the spec reads only the text column 'note'" in out
    assert "- Embedding: {input_dim:" in out and "- LSTM:" in out
    load_config(parse_spec(out))


@pytest.mark.parametrize("values, task, expect", [
    ([0.5, 1.25, 2.0, 3.75] * 5, None, ["regression", "loss: mse", "metrics: [mae]", "y: none"]),
    ([0, 1, 2] * 6 + [0, 1], None, ["3 classes", "sparse_categorical_crossentropy", "units: 3, activation: softmax"]),
    ([1, 2] * 10, None, ["labels: {binary: {positive: [2]}}", "units: 1, activation: sigmoid"]),
    ([0, 1] * 10, None, ["y: none", "binary_crossentropy"]),
    ([0, 1, 2] * 6 + [0, 1], "regression", ["loss: mse"]),
    ([0.5, 1.5] * 10, "classification", ["binary_crossentropy"]),
    (list(range(20)), None, ["20 classes", "units: 20, activation: softmax"]),
    (list(range(21)) + [0], None, ["regression"]),
])
def test_task_inference(tmp_path: Path, values: list, task: str | None, expect: list[str]) -> None:
    frame = pd.DataFrame({"x": [float(i % 7) for i in range(len(values))], "y": values})
    code, out = init(write_csv(tmp_path, frame), "--target", "y", *(["--task", task] if task else []))
    assert code == 0, out
    for text in expect:
        assert text in out
    load_config(parse_spec(out))


def test_target_with_missing_values_drops_those_rows(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [3, 1, 4, 1, 5, 9, 2, 6, 5, 3], "z": [1.5] * 9 + [None], "y": [0, 1] * 4 + [None, 1]})
    code, out = init(write_csv(tmp_path, frame), "--target", "y")
    assert code == 0, out
    assert "dropna: [x]   # drops the 1 row(s) without a target" in out


def test_odd_column_names_are_quoted(tmp_path: Path) -> None:
    frame = pd.DataFrame({"blood pressure": [70.5, 80.0, 65.5, 90.0] * 5, "yes": ["a", "b"] * 10,
                          "2019": [3, 1, 4, 1, 5] * 4, "class": ["x", "y"] * 10})
    code, out = init(write_csv(tmp_path, frame), "--target", "class")
    assert code == 0, out
    assert 'features: ["blood pressure", "yes", "2019"]' in out
    cfg = load_config(parse_spec(out))
    assert cfg.data.features == ["blood pressure", "yes", "2019"]


def test_semicolon_file_gets_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "semi.csv"
    path.write_text("a;b;y\n1;2;0\n3;4;1\n")
    code, msg = init(str(path), "--target", "y")
    assert code == 2 and "has one column" in msg and "';'" in msg


def test_out_refuses_to_overwrite(tmp_path: Path) -> None:
    data = write_csv(tmp_path, table())
    out = tmp_path / "spec.yaml"
    assert init(data, "--target", "label", "--out", str(out))[0] == 0
    first = out.read_text()
    out.write_text("mine\n")
    code, msg = init(data, "--target", "label", "--out", str(out))
    assert code == 2 and "--out" in msg and "already exists" in msg and "--force" in msg
    assert out.read_text() == "mine\n"
    assert init(data, "--target", "label", "--out", str(out), "--force")[0] == 0
    assert out.read_text() == first


def test_out_refuses_a_folder_that_does_not_exist(tmp_path: Path) -> None:
    """As other tools do (cp, tee), ``--out`` names a file in a folder that exists: a
    mistyped folder is not made."""
    data = write_csv(tmp_path, table())
    out = tmp_path / "nonexistent" / "dir" / "x.yaml"
    code, msg = init(data, "--target", "label", "--out", str(out))
    assert code == 2 and "does not exist" in msg and "mkdir -p" in msg, msg
    assert not (tmp_path / "nonexistent").exists()
    code, msg = init(data, "--target", "label", "--out", str(Path(data) / "x.yaml"))
    assert code == 2 and "is a file" in msg, msg


@pytest.mark.parametrize("frame, target, words", [
    (table(), "lable", ["--target", "no column 'lable'", "Did you mean 'label'?", "glucose"]),
    (table(), "flat", ["--target", "only the value 1", "another --target"]),
    (table()[["code", "label"]], "label", ["no feature column is left", "'code': 40 distinct"]),
    (table(), "99", ["--target", "no column '99'"]),
])
def test_refusals(tmp_path: Path, frame: pd.DataFrame, target: str, words: list[str]) -> None:
    code, msg = init(write_csv(tmp_path, frame), "--target", target)
    assert code == 2, msg
    assert msg.count("Error:") == 1 and "Traceback" not in msg
    for word in words:
        assert word in msg


def test_header_less_target_by_index_hint(tmp_path: Path) -> None:
    bare = write_csv(tmp_path, pd.DataFrame({"a": [1, 2, 3], "y": [0, 1, 0]}), header=False)
    code, msg = init(bare, "--target", "y")
    assert code == 2 and "no header row" in msg and "index (0 to 1)" in msg


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\x00\xff\xfe\x00binary", b"", b'a,b\n1,"2\n'])
def test_unreadable_csv(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    code, msg = init(str(path), "--target", "a")
    assert code == 2 and "DATA:" in msg and "Traceback" not in msg, msg


def test_missing_file_and_regression_on_text(tmp_path: Path) -> None:
    code, msg = init(str(tmp_path / "nope.csv"), "--target", "a")
    assert code == 2 and "does not exist" in msg
    code, msg = init(write_csv(tmp_path, table()), "--target", "label", "--task", "regression")
    assert code == 2 and "--task regression" in msg and "holds text" in msg


def test_help_imports_neither_pandas_nor_tensorflow() -> None:
    code = ("import sys\nfrom kexp.cli import cli\ntry:\n    cli(['init', '--help'])\n"
            "except SystemExit:\n    pass\n"
            "print([m for m in ('pandas', 'tensorflow', 'pydantic') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=True)
    assert "--target COLUMN" in done.stdout and done.stdout.strip().endswith("[]"), done.stdout


# the shipped data sets: target, epochs for a short run
SHIPPED = [("pima-indians-diabetes.csv", "8", 20), ("pima-tabular.csv", "diabetes", 20),
           ("fortunes-topics.csv", "topic", 2), ("diabetes.csv", "target", 20)]


@pytest.mark.slow
def test_written_specs_beat_their_baselines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for data, target, epochs in SHIPPED:
        spec = tmp_path / f"{data}.yaml"
        done = runner.invoke(cli, ["init", str(ROOT / "datasets" / data), "--target", target,
                                   "--out", str(spec)])
        assert done.exit_code == 0, done.output
        runs = tmp_path / f"runs-{data}"
        done = runner.invoke(cli, ["run", str(spec), "--set", f"fit.epochs={epochs}",
                                   "--set", "fit.verbose=0", "--runs-dir", str(runs)])
        assert done.exit_code == 0, done.output
        (folder,) = runs.iterdir()
        record = json.loads((folder / "metrics.json").read_text())
        metrics, base = record["metrics"], record["baseline"]
        if "accuracy" in metrics:
            assert metrics["accuracy"] > base["accuracy"] + 0.03, (data, record)
        else:
            assert metrics["mae"] < base["mae"] and metrics["loss"] < base["mse"], (data, record)
