"""kexp.report and ``kexp ls`` / ``kexp compare``."""

from __future__ import annotations

import io
import json
import os
import socket

import pandas as pd
import pytest

from kexp.errors import KexpError, RunError
from kexp.report import tables as report
from kexp.rundir import read as runinfo
from tests.helpers import invoke
from tests.runfolders import make_cv, make_run

DEAD_PID = 2**22 + 1  # above Linux's largest pid_max: never a live process


@pytest.fixture
def runs(tmp_path):
    """Four runs and one CV run, in start order."""
    root = tmp_path / "runs"
    make_run(root, "mnist-mlp", metrics={"loss": 0.10, "accuracy": 0.97})
    make_run(root, "mnist-mlp", metrics={"loss": 0.08, "accuracy": 0.98},
             config={"compile": {"optimizer": "adam"}, "fit": {"batch_size": 32}})
    make_run(root, "pima", status={"status": "failed", "error": "boom", "epochs": 2,
                                   "duration_s": 75.0})
    make_run(root, "pima", status={"status": "running", "pid": DEAD_PID,
                                   "host": socket.gethostname(), "duration_s": None})
    make_cv(root, "pima-cv")
    return root


def test_list_runs_one_row_per_run_with_status_hyperparameters_and_metrics(runs):
    frame = report.list_runs(runs).frame
    assert list(frame.columns) == report.BASE_COLUMNS + ["loss", "accuracy"]
    assert frame["name"].tolist() == ["mnist-mlp", "mnist-mlp", "pima", "pima", "pima-cv"]
    assert frame["kind"].tolist() == ["run", "run", "run", "run", "cv"]
    assert frame["status"].tolist() == ["completed", "completed", "failed", "died", "completed"]
    assert frame["optimizer"].tolist() == ["SGD", "adam", "SGD", "SGD", "SGD"]
    assert frame["learning_rate"].iloc[0] == 0.01
    assert pd.isna(frame["learning_rate"].iloc[1])  # a plain "adam" has no learning rate
    assert frame["batch_size"].tolist() == [800, 32, 800, 800, 800]
    assert frame["epochs"].tolist()[:3] == [5, 5, 2]
    assert frame["accuracy"].tolist()[:2] == [0.97, 0.98]
    assert frame["accuracy"].iloc[4] == pytest.approx(0.82)  # CV mean from summary.json
    assert frame["id"].tolist() == sorted(p.name for p in runs.iterdir())


def test_running_run_on_another_host_or_with_a_live_pid_stays_running(tmp_path):
    make_run(tmp_path, "a", status={"status": "running", "pid": DEAD_PID, "host": "other"})
    make_run(tmp_path, "b", status={"status": "running", "pid": os.getpid(),
                                    "host": socket.gethostname()})
    assert report.list_runs(tmp_path).frame["status"].tolist() == ["running", "running"]


def test_ls_reads_no_history_when_status_has_epochs(runs, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("ls must not read history.csv")

    monkeypatch.setattr(runinfo, "read_history", refuse)
    monkeypatch.setattr(pd, "read_csv", refuse)
    assert len(report.list_runs(runs).frame) == 5


def test_ls_counts_history_lines_when_status_has_no_epochs(tmp_path):
    run = make_run(tmp_path)
    status = json.loads((run / "status.json").read_text())
    del status["epochs"]
    (run / "status.json").write_text(json.dumps(status))
    assert report.list_runs(tmp_path).frame["epochs"].tolist() == [5]


@pytest.mark.parametrize(
    "sort, expected",
    [("accuracy", [0.98, 0.97, 0.82]), ("loss", [0.08, 0.1, 0.32])],
)
def test_sort_accuracy_descending_loss_ascending_missing_last(runs, sort, expected):
    frame = report.list_runs(runs, sort=sort).frame
    assert frame[sort].tolist()[:3] == pytest.approx(expected)
    assert frame[sort].iloc[3:].isna().all()


@pytest.mark.parametrize(
    "filters, names",
    [
        (["status=completed"], ["mnist-mlp", "mnist-mlp", "pima-cv"]),
        (["name=pima"], ["pima", "pima"]),
        (["name=mnist-mlp", "optimizer=adam"], ["mnist-mlp"]),
        (["fit.batch_size=32"], ["mnist-mlp"]),
        (["kind=cv"], ["pima-cv"]),
        (["status=died"], ["pima"]),
    ],
)
def test_filters_keep_runs_matching_all(runs, filters, names):
    assert report.list_runs(runs, filters=filters).frame["name"].tolist() == names


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(filters=["status"]), KexpError, "--filter: expected key=value, received 'status'"),
        (dict(filters=["stauts=completed"]), KexpError,
         "--filter: unknown key 'stauts'. Did you mean 'status'?"),
        (dict(sort="acuracy"), KexpError, "--sort: unknown column or metric 'acuracy'. "
                                          "Did you mean 'accuracy'?"),
    ],
)
def test_bad_sort_and_filter_options(runs, kwargs, error, message):
    with pytest.raises(error) as info:
        report.list_runs(runs, **kwargs)
    assert str(info.value) == message


def test_missing_runs_folder_is_a_run_error(tmp_path):
    with pytest.raises(RunError, match="no such runs folder"):
        report.list_runs(tmp_path / "nope")


def test_unreadable_status_is_listed_with_a_warning(tmp_path):
    run = make_run(tmp_path)
    (run / "status.json").write_text("{not json")
    table = report.list_runs(tmp_path)
    assert table.frame["status"].tolist() == ["unknown"]
    assert table.warnings == [f"{run.name}: status.json cannot be read "
                              f"(JSONDecodeError: Expecting property name enclosed in double "
                              f"quotes: line 1 column 2 (char 1))"]


# ------------------------------------------------------------------------- CLI ls


def test_cli_ls_table(runs):
    result = invoke("ls", str(runs))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["id", "name", "kind", "status", "started", "duration", "epochs",
                                "optimizer", "lr", "batch_size", "loss", "accuracy"]
    assert len(lines) == 6
    first = lines[1].split()
    assert first[1:5] == ["mnist-mlp", "run", "completed", "2026-11-28"]
    assert first[6:] == ["12.3s", "5/10", "SGD", "0.01", "800", "0.1", "0.97"]
    assert "1m15s" in lines[3] and "died" in lines[4]


def test_cli_ls_csv_and_json(runs):
    result = invoke("ls", str(runs), "--format", "csv", "--filter", "status=completed")
    assert result.exit_code == 0
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert frame["name"].tolist() == ["mnist-mlp", "mnist-mlp", "pima-cv"]

    result = invoke("ls", str(runs), "--format", "json", "--sort", "accuracy")
    rows = json.loads(result.stdout)
    assert [r["accuracy"] for r in rows][:3] == pytest.approx([0.98, 0.97, 0.82])
    assert rows[-1]["accuracy"] is None


def test_cli_ls_errors_exit_2(tmp_path):
    result = invoke("ls", str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ")
    assert "no such runs folder" in result.stderr

    result = invoke("ls", str(tmp_path), "--filter", "bad")
    assert result.exit_code == 2
    assert "--filter: expected key=value" in result.stderr


def test_cli_ls_empty_folder(tmp_path):
    result = invoke("ls", str(tmp_path))
    assert result.exit_code == 0
    assert result.stdout == "No runs.\n"


# ---------------------------------------------------------------------- compare


def test_compare_shows_only_differing_config_and_metric_differences(tmp_path):
    a = make_run(tmp_path, metrics={"loss": 0.10, "accuracy": 0.97})
    b = make_run(tmp_path, metrics={"loss": 0.08, "accuracy": 0.98},
                 config={"compile": {"optimizer": {"SGD": {"learning_rate": 0.1}}}})
    comparison = report.compare_runs([a, b])
    assert comparison.config.index.tolist() == ["compile.optimizer.SGD.learning_rate"]
    assert comparison.config.loc["compile.optimizer.SGD.learning_rate"].tolist() == [0.01, 0.1]
    assert comparison.metrics.index.tolist() == ["loss", "accuracy"]
    assert comparison.metrics[f"Δ {b.name}"].tolist() == pytest.approx([-0.02, 0.01])


def test_compare_run_with_cv_uses_the_cv_means(tmp_path):
    run = make_run(tmp_path, metrics={"loss": 0.30, "accuracy": 0.85})
    cv = make_cv(tmp_path, "mnist-mlp", config={"fit": {"epochs": 20}})
    comparison = report.compare_runs([run, cv])
    assert comparison.config.index.tolist() == ["fit.epochs"]
    assert comparison.metrics[cv.name].tolist() == pytest.approx([0.32, 0.82])
    assert comparison.metrics[f"Δ {cv.name}"].tolist() == pytest.approx([0.02, -0.03])


def test_cli_compare_table(tmp_path):
    a = make_run(tmp_path, metrics={"loss": 0.10, "accuracy": 0.97})
    b = make_run(tmp_path, metrics={"loss": 0.08, "accuracy": 0.98},
                 config={"compile": {"optimizer": "adam"}})
    c = make_run(tmp_path, hist=None, status={"status": "failed"})
    result = invoke("compare", str(a), str(b), str(c))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Runs:",
        f"  [1] {a.name}",
        f"  [2] {b.name}",
        f"  [3] {c.name}",
        "",
        "Config (differences only):",
        "                                      [1]   [2]   [3]",
        "compile.optimizer.SGD.learning_rate  0.01     -  0.01",
        "compile.optimizer.SGD.momentum        0.9     -   0.9",
        "compile.optimizer                       -  adam     -",
        "",
        "Metrics:",
        "           [1]   [2] [3] Δ [2]-[1] Δ [3]-[1]",
        "loss       0.1  0.08   -     -0.02         -",
        "accuracy  0.97  0.98   -     +0.01         -",
    ]
    assert f"Warning: {c.name}: no metrics (metrics.json missing or empty; status failed)" \
        in result.stderr


def _layers(hidden: int, units: int = 64) -> list[dict]:
    return ([{"Dense": {"units": 64, "activation": "relu", "input_dim": 784}}]
            + [{"Dense": {"units": units, "activation": "relu"}}] * hidden
            + [{"Dense": {"units": 10, "activation": "softmax"}}])


def test_compare_diffs_layer_lists_layer_by_layer(tmp_path):
    a = make_run(tmp_path, config={"model": {"layers": _layers(1)}, "data": {"shape": [6]}})
    b = make_run(tmp_path, config={"model": {"layers": _layers(1, units=128)}, "data": {"shape": [8]}})
    c = make_run(tmp_path, config={"model": {"layers": _layers(3)}, "data": {"shape": [6]}})
    two = report.compare_runs([a, b]).config
    assert two.to_dict("index") == {"model.layers[1].Dense.units": {a.name: 64, b.name: 128},
                                    "data.shape": {a.name: "[6]", b.name: "[8]"}}  # short lists whole
    three = report.compare_runs([a, b, c]).config
    assert three.index.tolist() == [  # in the config's order
        "data.shape", "model.layers", "model.layers[1].Dense.units", "model.layers[2].Dense.units",
        "model.layers[2].Dense.activation", "model.layers[3].Dense.units",
        "model.layers[3].Dense.activation", "model.layers[4].Dense.units",
        "model.layers[4].Dense.activation"]
    assert three.loc["model.layers"].tolist() == ["3 items", "3 items", "5 items"]
    assert three.loc["model.layers[4].Dense.units"].tolist() == ["-", "-", 10]
    result = invoke("compare", str(a), str(b), str(c))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "model.layers                      3 items  3 items  5 items" in lines
    assert "model.layers[1].Dense.units            64      128       64" in lines
    assert max(map(len, lines)) < 80


def test_compare_summarises_long_values(tmp_path):
    columns = [f"feature_{i:02d}" for i in range(30)]
    a = make_run(tmp_path, config={"data": {"path": "/data/" + "a" * 100, "x_columns": columns},
                                   "compile": {"optimizer": "adam"}})
    b = make_run(tmp_path, config={"data": {"path": "/data/" + "b" * 100,
                                            "x_columns": [*columns[:3], "bmi", *columns[4:]]},
                                   "model": {"layers": [{"Dense": {"units": 4, "kernel_regularizer": {
                                       "L1L2": {"l1": 0.001, "l2": 0.001}}}}] * 9}})
    config = report.compare_runs([a, b]).config
    assert config.loc["data.x_columns[3]"].tolist() == ["feature_03", "bmi"]  # a long list item by item
    path = config.loc["data.path"].tolist()
    assert all(len(v) == 60 and v.endswith("…") for v in path) and path[0].startswith("/data/aaa")
    assert config.loc["model.layers"].tolist() == ["1 items", "9 items"]
    assert config.loc["compile.optimizer"].tolist() == ["adam", "-"]
    shown = report.format_comparison(report.compare_runs([a, b]))
    assert max(map(len, shown.splitlines())) <= 50 + 2 * 62, shown  # the longest key, two cut cells
    assert report.format_comparison(report.compare_runs([a, a])).endswith("Config: identical\n\nMetrics: none")


def test_a_list_against_a_plain_value_is_one_summarised_cell(tmp_path):
    layers = [{"Dense": {"units": 64, "activation": "relu"}}] * 7
    a = make_run(tmp_path, config={"model": {"layers": layers}})
    b = make_run(tmp_path, config={"model": {"layers": 5}})
    config = report.compare_runs([a, b]).config
    assert config.index.tolist() == ["model.layers"]
    first, second = config.loc["model.layers"].tolist()
    assert first.startswith('[7 items] [{"Dense": {"units": 64, "activation": "relu"}}') and len(first) == 60
    assert second == 5


def test_cli_compare_json_and_glob(tmp_path):
    make_run(tmp_path / "r", "x", metrics={"loss": 0.5})
    make_run(tmp_path / "r", "y", metrics={"loss": 0.25})
    result = invoke("compare", str(tmp_path / "r" / "*"), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["config"] == {"name": dict(zip(data["runs"], ["x", "y"], strict=True))}
    assert data["metrics"]["loss"][f"Δ {data['runs'][1]}"] == pytest.approx(-0.25)


def test_cli_compare_needs_two_runs(tmp_path):
    result = invoke("compare", str(make_run(tmp_path)))
    assert result.exit_code == 2
    assert "Error: compare: expected at least two runs, received 1" in result.stderr


def test_one_fold_cv_folder_with_null_ci_is_listed_and_compared(tmp_path):
    root = tmp_path / "runs"
    run = make_run(root, "pima", metrics={"loss": 0.35, "accuracy": 0.8})
    cv = make_cv(root, "pima-cv", lengths=(5,))
    result = invoke("ls", str(root))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert result.stdout.splitlines()[2].split()[-2:] == ["0.31", "0.81"]

    result = invoke("ls", str(root), "--format", "json", "--filter", "kind=cv")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["accuracy"] == pytest.approx(0.81)

    result = invoke("compare", str(run), str(cv))
    assert result.exit_code == 0, result.output
    comparison = report.compare_runs([run, cv])
    assert comparison.metrics[cv.name].tolist() == pytest.approx([0.31, 0.81])
    assert comparison.warnings == []
