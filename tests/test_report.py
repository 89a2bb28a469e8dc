"""kexp.report and ``kexp ls`` / ``kexp compare``."""

from __future__ import annotations

import io
import json
import os
import socket
from pathlib import Path

import pandas as pd
import pytest

from kexp.errors import KexpError, RunError
from kexp.report import compare
from kexp.report import tables as report
from kexp.rundir import read as runinfo
from tests.helpers import invoke
from tests.runfolders import make_cv, make_run, make_sweep

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
    assert lines[0].split() == ["id", "name", "kind", "status", "started", "duration", "done", "backend",
                                "optimizer", "lr", "batch_size", "loss", "accuracy"]
    assert len(lines) == 6
    first = lines[1].split()
    assert first[1:5] == ["mnist-mlp", "run", "completed", "2026-11-28"]
    assert first[6:] == ["12.3s", "5/10", "tensorflow", "SGD", "0.01", "800", "0.1", "0.97"]
    assert "1m15s" in lines[3] and "died" in lines[4]
    assert lines[5].split()[3:4] + lines[5].split()[7:9] == ["completed", "3/3", "folds"]


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
    comparison = compare.compare_runs([a, b])
    assert comparison.config.index.tolist() == ["compile.optimizer.SGD.learning_rate"]
    assert comparison.config.loc["compile.optimizer.SGD.learning_rate"].tolist() == [0.01, 0.1]
    assert comparison.metrics.index.tolist() == ["loss", "accuracy"]
    assert comparison.metrics[f"Δ {b.name}"].tolist() == pytest.approx([-0.02, 0.01])


def test_compare_run_with_cv_uses_the_cv_means(tmp_path):
    run = make_run(tmp_path, metrics={"loss": 0.30, "accuracy": 0.85})
    cv = make_cv(tmp_path, "mnist-mlp", config={"fit": {"epochs": 20}})
    comparison = compare.compare_runs([run, cv])
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
    two = compare.compare_runs([a, b]).config
    assert two.to_dict("index") == {"model.layers[1].Dense.units": {a.name: 64, b.name: 128},
                                    "data.shape": {a.name: "[6]", b.name: "[8]"}}  # short lists whole
    three = compare.compare_runs([a, b, c]).config
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
    config = compare.compare_runs([a, b]).config
    assert config.loc["data.x_columns[3]"].tolist() == ["feature_03", "bmi"]  # a long list item by item
    path = config.loc["data.path"].tolist()
    assert all(len(v) == 60 and v.endswith("…") for v in path) and path[0].startswith("/data/aaa")
    assert config.loc["model.layers"].tolist() == ["1 items", "9 items"]
    assert config.loc["compile.optimizer"].tolist() == ["adam", "-"]
    shown = compare.format_comparison(compare.compare_runs([a, b]))
    assert max(map(len, shown.splitlines())) <= 50 + 2 * 62, shown  # the longest key, two cut cells
    assert compare.format_comparison(compare.compare_runs([a, a])).endswith("Config: identical\n\nMetrics: none")


def test_a_list_against_a_plain_value_is_one_summarised_cell(tmp_path):
    layers = [{"Dense": {"units": 64, "activation": "relu"}}] * 7
    a = make_run(tmp_path, config={"model": {"layers": layers}})
    b = make_run(tmp_path, config={"model": {"layers": 5}})
    config = compare.compare_runs([a, b]).config
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
    comparison = compare.compare_runs([run, cv])
    assert comparison.metrics[cv.name].tolist() == pytest.approx([0.31, 0.81])
    assert comparison.warnings == []


# ------------------------------------------------- a CV folder that lost a fold, a sweep


def _drop_fold(cv, fold: int) -> str:
    """Delete ``fold``'s folder of ``cv``; the note every reader of the CV must then give."""
    import shutil

    shutil.rmtree(cv / f"fold-{fold:02d}")
    return (f"{cv.name}: fold {fold}'s folder is missing: the mean is over 4 of 5 folds; "
            f"run `kexp cv --resume {cv}` to retrain it")


def test_a_cv_folder_missing_a_fold_is_listed_incomplete_with_the_mean_of_what_is_left(tmp_path):
    cv = make_cv(tmp_path / "runs", lengths=(3, 3, 3, 3, 3))
    whole = report.list_runs(tmp_path / "runs")
    assert whole.frame["status"].tolist() == ["completed"] and whole.warnings == []
    assert whole.frame["done"].tolist() == ["5/5 folds"]
    note = _drop_fold(cv, 2)
    table = report.list_runs(tmp_path / "runs")
    row = table.frame.iloc[0]
    assert row["status"] == "incomplete" and row["done"] == "4/5 folds"
    assert row["accuracy"] == pytest.approx(0.8 + 0.01 * (1 + 3 + 4 + 5) / 4)  # not summary.json's
    assert row["loss"] == pytest.approx(0.3 + 0.01 * (1 + 3 + 4 + 5) / 4)
    assert table.warnings == [note]
    assert report.list_runs(tmp_path / "runs", filters=["status=completed"]).frame.empty

    result = invoke("ls", str(tmp_path / "runs"), exit_code=0)
    assert result.stdout.splitlines()[1].split()[3:4] + result.stdout.splitlines()[1].split()[7:9] \
        == ["incomplete", "4/5", "folds"]
    assert result.stderr == f"Warning: {note}\n"

    comparison = compare.compare_runs([cv, make_run(tmp_path, metrics={"loss": 0.3, "accuracy": 0.8})])
    assert comparison.metrics[cv.name].tolist() == pytest.approx([0.3325, 0.8325])
    assert comparison.warnings == [note]


def test_kexp_plot_of_a_cv_folder_missing_a_fold_warns_and_charts_the_folds_left(tmp_path):
    from kexp.report import plot

    cv = make_cv(tmp_path, lengths=(3, 3, 3, 3, 3))
    note = _drop_fold(cv, 2)
    result = plot.plot_runs([cv])
    assert note in result.warnings
    (ax_loss, ax_accuracy) = result.figures["folds"].axes
    assert [t.get_text() for t in ax_accuracy.get_xticklabels()] == ["1", "3", "4", "5"]
    labels = ax_accuracy.get_legend_handles_labels()[1]
    assert "mean 0.8325" in labels, labels  # the folds left, not summary.json's 0.83
    assert "validation mean of 4 folds" in result.figures["loss"].axes[0].get_legend_handles_labels()[1]

    cli = invoke("plot", str(cv), exit_code=0)
    assert f"Warning: {note}" in cli.stderr
    many = plot.plot_runs([cv, make_cv(tmp_path)], out_dir=tmp_path / "overlay")
    assert note in many.warnings
    assert any("[CV mean, 4/5 folds]" in label
               for label in many.figures["loss"].axes[0].get_legend_handles_labels()[1])


def test_a_fold_whose_metrics_are_gone_or_damaged_is_left_out_of_the_mean(tmp_path):
    cv = make_cv(tmp_path, lengths=(3, 3, 3))
    (cv / "fold-01" / "metrics.json").unlink()
    (cv / "fold-03" / "metrics.json").write_text("{cut")
    run = runinfo.Run(cv)
    assert run.state == "incomplete" and run.progress() == "1/3 folds"
    assert run.metrics == pytest.approx({"loss": 0.32, "accuracy": 0.82})
    (note,) = run.notes
    assert note.startswith(f"{cv.name}: fold 1's metrics.json is missing; fold 3's metrics.json: "
                           "cannot be read (JSONDecodeError")
    assert note.endswith(f": the mean is over 1 of 3 folds; run `kexp cv --resume {cv}` to "
                         "retrain them")


def test_a_failed_fold_is_not_a_missing_one_and_a_running_cv_counts_its_folds(tmp_path):
    cv = make_cv(tmp_path, lengths=(3, 3, 3))
    (cv / "fold-02" / "metrics.json").unlink()  # fold 2 failed: no metrics, not in the summary
    summary = json.loads((cv / "summary.json").read_text())
    (cv / "summary.json").write_text(json.dumps({**summary, "completed": 2, "failed": [2]}))
    status = json.loads((cv / "status.json").read_text())
    (cv / "status.json").write_text(json.dumps({**status, "status": "failed"}))
    run = runinfo.Run(cv)
    assert (run.state, run.progress(), run.notes) == ("failed", "2/3 folds", [])
    assert run.metrics["accuracy"] == summary["metrics"]["accuracy"]["mean"]  # summary.json's

    (cv / "status.json").write_text(json.dumps({**status, "status": "running", "folds": 3,
                                                "folds_done": 1}))
    running = runinfo.Run(cv)  # a resume retraining fold 2: no note until it is finished
    assert (running.state, running.progress(), running.notes) == ("running", "1/3 folds", [])


def test_ls_shows_a_sweep_by_its_trials_and_its_best_trials_settings(tmp_path):
    root = tmp_path / "runs"
    sweep = make_sweep(root, trials=5, best=3, best_config={
        "compile": {"optimizer": {"Adam": {"learning_rate": 0.003}}}, "fit": {"batch_size": 16}})
    row = report.list_runs(root).frame.iloc[0]
    assert (row["kind"], row["done"], row["epochs"]) == ("sweep", "5/5 trials", 3)  # not 0/10
    assert (row["optimizer"], row["learning_rate"], row["batch_size"]) == ("Adam", 0.003, 16)
    assert (row["best_trial"], row["loss"], row["accuracy"]) == (3, pytest.approx(0.47),
                                                                 pytest.approx(0.73))
    line = invoke("ls", str(root), exit_code=0).stdout.splitlines()[1].split()
    assert line[6:13] == ["1m00s", "5/5", "trials", "tensorflow", "Adam", "0.003", "16"]

    import shutil

    shutil.rmtree(sweep / "trials" / "003")
    table = report.list_runs(root)
    row = table.frame.iloc[0]
    assert pd.isna(row["optimizer"]) and pd.isna(row["batch_size"])  # not the base spec's SGD
    assert table.warnings == [f"{sweep.name}: the best trial's folder trials/003 is missing"]


def test_a_sweep_with_no_best_trial_yet_shows_its_trials_done(tmp_path):
    sweep = make_sweep(tmp_path, trials=4, best=None)
    status = json.loads((sweep / "status.json").read_text())
    (sweep / "status.json").write_text(json.dumps({**status, "status": "interrupted",
                                                   "trials_done": 2}))
    row = report.list_runs(tmp_path).frame.iloc[0]
    assert (row["done"], row["status"]) == ("2/4 trials", "interrupted")
    assert pd.isna(row["epochs"])


def test_compare_shows_a_default_repeat_as_1_not_a_dash(tmp_path):
    dense = {"Dense": {"units": 4, "activation": "relu"}}
    out = {"Dense": {"units": 2, "activation": "softmax"}}
    a = make_run(tmp_path, config={"model": {"layers": ["Flatten", dense, out]}})
    b = make_run(tmp_path, config={"model": {"layers": ["Flatten", {**dense, "repeat": 3}, out]}})
    c = make_run(tmp_path, config={"model": {"layers": [{"Flatten": None, "repeat": 0},
                                                        dense, out]}})
    config = compare.compare_runs([a, b, c]).config
    assert config.to_dict("index") == {"model.layers[0].repeat": {a.name: 1, b.name: 1, c.name: 0},
                                       "model.layers[1].repeat": {a.name: 1, b.name: 3, c.name: 1}}
    assert compare.compare_runs([a, a]).config.empty  # no repeat anywhere: nothing added


def test_the_default_repeat_compare_assumes_is_the_one_config_yaml_leaves_out():
    from kexp.spec.network import SequentialModel

    model = SequentialModel.model_validate(
        {"layers": [{"Dense": {"units": 4}, "repeat": 2}, {"Dense": {"units": 2}}]})
    written = model.model_dump()["layers"]
    assert written[0]["repeat"] == 2 and "repeat" not in written[1]
    assert model.repeat == [2, compare.LAYER_DEFAULTS["repeat"]]


def test_a_deleted_fold_is_reported_until_kexp_cv_resume_trains_it_again(tiny):
    """The whole path, for real: kexp cv, a fold folder deleted, kexp ls says so and names the
    resume, ``kexp cv --resume`` trains that fold again, and ls lists the CV whole."""
    import shutil

    from tests.helpers import only_folder

    invoke("cv", str(tiny), "--folds", "3", "--no-plots", exit_code=0)
    cv = only_folder(tiny.parent / "runs")
    before = json.loads((cv / "summary.json").read_text())["metrics"]
    shutil.rmtree(cv / "fold-02")
    listed = invoke("ls", "runs", exit_code=0)
    assert "incomplete" in listed.stdout and "2/3 folds" in listed.stdout, listed.output
    resume = f"kexp cv --resume {Path('runs') / cv.name}"
    assert listed.stderr == (f"Warning: {cv.name}: fold 2's folder is missing: the mean is over "
                             f"2 of 3 folds; run `{resume}` to retrain it\n")

    invoke("cv", "--resume", str(Path("runs") / cv.name), "--no-plots", exit_code=0)
    assert (cv / "fold-02" / "metrics.json").is_file()
    table = report.list_runs(Path("runs"))
    assert table.warnings == []
    assert table.frame[["status", "done"]].values.tolist() == [["completed", "3/3 folds"]]
    assert table.frame["loss"].iloc[0] == pytest.approx(before["loss"]["mean"], rel=1e-6)
