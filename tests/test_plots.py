"""kexp.report's figures and ``kexp plot``: curves, CV folds, predictions, and runs with
things missing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from matplotlib import image

from kexp import report
from kexp.cli import cli
from kexp.errors import RunError
from kexp.report import curves, figure, plot
from kexp.report.predictions import prediction_figures
from kexp.report.sweep import sweep_figures
from kexp.rundir.read import Run, higher_is_better, read_history
from tests.helpers import invoke
from tests.runfolders import binary_predictions, history, make_cv, make_run


def assert_image(path: Path) -> None:
    """The file exists, is not empty, and is not a blank canvas."""
    assert path.is_file() and path.stat().st_size > 0
    pixels = image.imread(path)
    assert pixels.var() > 1e-4


def labels(fig) -> list[str]:
    return [line.get_label() for line in fig.axes[0].get_lines()]


# ---------------------------------------------------------------- metric families


def test_metric_families_pairs_train_and_validation_and_puts_loss_first():
    columns = ["epoch", "accuracy", "learning_rate", "loss", "out1_accuracy", "out1_loss",
               "val_accuracy", "val_loss", "val_out1_loss", "val_auc"]
    assert curves.metric_families(columns) == {
        "loss": ["loss", "val_loss"],
        "out1_loss": ["out1_loss", "val_out1_loss"],
        "accuracy": ["accuracy", "val_accuracy"],
        "out1_accuracy": ["out1_accuracy"],
        "auc": ["val_auc"],
    }


@pytest.mark.parametrize(
    "metric, higher",
    [("loss", False), ("val_loss", False), ("out1_loss", False), ("mae", False),
     ("mean_squared_error", False), ("accuracy", True), ("val_auc", True),
     ("out2_sparse_categorical_accuracy", True), ("precision", True), ("recall", True)],
)
def test_higher_is_better(metric, higher):
    assert higher_is_better(metric) is higher


# ------------------------------------------------------------------ single run


def test_history_figures_train_solid_validation_dashed_best_epoch_marked(tmp_path):
    frame, _ = read_history(make_run(tmp_path) / "history.csv")
    figures = curves.history_figures(frame, "mnist-mlp")
    assert list(figures) == ["loss", "accuracy"]
    loss = figures["loss"]
    assert len(loss.axes) == 1
    lines = {line.get_label(): line for line in loss.axes[0].get_lines()}
    assert lines["train"].get_linestyle() == "-"
    assert lines["validation"].get_linestyle() == "--"
    assert list(lines["train"].get_xdata()) == [1, 2, 3, 4, 5]  # epochs counted from 1
    # val_loss is lowest at the third epoch; val_accuracy highest there too
    assert "best min: epoch 3" in " ".join(labels(loss))
    assert "best max: epoch 3" in " ".join(labels(figures["accuracy"]))


def test_plot_history_writes_one_image_per_metric_family(tmp_path):
    run = make_run(tmp_path, hist=history(6, extra=("auc", "val_auc", "learning_rate")))
    paths = plot.plot_history(run)
    assert [p.name for p in paths] == ["loss.png", "accuracy.png", "auc.png"]
    for path in paths:
        assert path.parent == run
        assert_image(path)


def test_plot_history_without_validation_plots_training_only(tmp_path):
    run = make_run(tmp_path, hist=history(4, val=False))
    paths = plot.plot_history(run, out_dir=tmp_path / "out", fmt="svg")
    assert [p.name for p in paths] == ["loss.svg", "accuracy.svg"]
    assert all(p.stat().st_size > 0 for p in paths)
    frame, _ = read_history(run / "history.csv")
    assert labels(curves.history_figures(frame)["loss"])[0] == "train"
    assert "validation" not in labels(curves.history_figures(frame)["loss"])


def test_multi_output_history_gets_a_figure_per_output_metric(tmp_path):
    frame = pd.DataFrame({"epoch": [0, 1, 2], "loss": [3, 2, 1], "out1_loss": [2, 1.5, 1],
                          "out2_loss": [1, 0.5, 0.4], "out1_accuracy": [0.2, 0.5, 0.6],
                          "val_out1_accuracy": [0.2, 0.4, 0.3]})
    paths = plot.plot_history(make_run(tmp_path, hist=frame))
    assert [p.stem for p in paths] == ["loss", "out1_loss", "out2_loss", "out1_accuracy"]


@pytest.mark.parametrize(
    "hist, message",
    [
        (None, "history.csv: not found"),
        ("", "history.csv: empty"),
        ("epoch,accuracy,loss\n", "no epochs with numeric metrics"),
        ("epoch,accuracy\nfoo,bar\nbaz,qux\n", "no epochs with numeric metrics"),
        ('a,"b\n1,2', "malformed CSV"),
    ],
    ids=["missing", "empty", "header-only", "not-numbers", "unclosed-quote"],
)
def test_plot_history_raises_run_error_when_history_is_unusable(tmp_path, hist, message):
    run = make_run(tmp_path, hist=hist)
    with pytest.raises(RunError, match=message):
        plot.plot_history(run)


def test_partial_last_line_of_a_running_run_is_skipped_with_a_note(tmp_path):
    text = history(3).to_csv(index=False) + "3,0.9,0.2,0.8"  # row being written
    frame, notes = read_history(make_run(tmp_path, hist=text) / "history.csv")
    assert list(frame.index) == [1, 2, 3, 4]
    assert frame.loc[4, "accuracy"] == 0.9 and np.isnan(frame.loc[4, "val_loss"])

    text = history(3).to_csv(index=False) + "3,0.9,0.2,0.8,0.1,0.5,0.7\n"  # too many fields
    frame, notes = read_history(make_run(tmp_path, hist=text) / "history.csv")
    assert list(frame.index) == [1, 2, 3]
    assert notes and "skipped 1 malformed or partial line" in notes[0]


# ---------------------------------------------------------------------- CV folder


def test_cv_curves_average_over_the_folds_that_reached_each_epoch(tmp_path):
    cv = make_cv(tmp_path, lengths=(5, 4, 3))
    histories = [Run(d).history() for d in Run(cv).fold_dirs()]
    figures = curves.cv_curve_figures(histories)
    ax = figures["loss"].axes[0]
    bold = [line for line in ax.get_lines() if line.get_linewidth() > 2]
    thin = [line for line in ax.get_lines() if line.get_linewidth() < 1]
    assert len(thin) == 6  # 3 folds x (train, validation)
    assert len(bold) == 2  # train mean, validation mean
    train_mean = bold[0]
    assert list(train_mean.get_xdata()) == [1, 2, 3, 4, 5]
    expected = [h["loss"] for h in histories]
    assert train_mean.get_ydata()[4] == pytest.approx(expected[0].loc[5])  # only fold 1
    assert train_mean.get_ydata()[3] == pytest.approx((expected[0].loc[4] + expected[1].loc[4]) / 2)
    assert len(ax.collections) == 2  # ± std bands


def test_plot_history_on_a_cv_folder_writes_curves_and_folds_chart(tmp_path):
    cv = make_cv(tmp_path)
    paths = plot.plot_history(cv)
    assert [p.name for p in paths] == ["loss.png", "accuracy.png", "folds.png"]
    for path in paths:
        assert_image(path)


def test_folds_chart_shows_each_fold_the_mean_and_the_ci_from_summary(tmp_path):
    run = Run(make_cv(tmp_path, lengths=(3, 3, 3, 3)))
    fig = curves.folds_figure(run.folds_table(), run.summary)
    assert len(fig.axes) == 2  # loss, accuracy
    ax = fig.axes[1]
    points = ax.get_lines()[0]
    assert list(points.get_ydata()) == pytest.approx([0.81, 0.82, 0.83, 0.84])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(ax.patches) == 1  # the CI band
    assert legend[1] == "mean 0.825"
    assert legend[2] == "95% CI [0.775, 0.875]"


def test_folds_chart_computes_a_t_interval_without_summary():
    folds = pd.DataFrame({"fold": [1, 2, 3], "status": "completed", "train_size": 9,
                          "test_size": 1, "accuracy": [0.8, 0.9, 1.0]})
    fig = curves.folds_figure(folds, {})
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[2] == "95% CI [0.6516, 1.148]"  # 0.9 ± t(0.975, 2) * 0.1 / sqrt(3)


def test_folds_chart_with_null_ci_in_summary_computes_it_from_the_folds():
    folds = pd.DataFrame({"fold": [1, 2, 3], "accuracy": [0.8, 0.9, 1.0]})
    summary = {"metrics": {"accuracy": {"mean": 0.9, "ci95_low": None, "ci95_high": None}}}
    legend = [t.get_text() for t in curves.folds_figure(folds, summary).axes[0]
              .get_legend().get_texts()]
    assert legend[2] == "95% CI [0.6516, 1.148]"


def test_one_fold_cv_folds_chart_has_no_ci_band_and_says_n_a(tmp_path):
    run = Run(make_cv(tmp_path, lengths=(5,)))
    assert run.summary["metrics"]["accuracy"]["ci95_low"] is None
    fig = curves.folds_figure(run.folds_table(), run.summary)
    for ax in fig.axes:
        assert len(ax.patches) == 0  # no CI band
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert legend[2] == "95% CI n/a (1 fold)"
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()][1] == "mean 0.81"


def test_cli_plot_one_fold_cv_folder(tmp_path):
    cv = make_cv(tmp_path, lengths=(5,))
    result = invoke("plot", str(cv))
    assert result.exit_code == 0, result.output
    assert [Path(p).name for p in result.stdout.split()] == ["loss.png", "accuracy.png",
                                                             "folds.png"]
    assert result.stderr == ""
    for name in ("loss.png", "folds.png"):
        assert_image(cv / name)


def test_cli_plot_overlays_a_one_fold_cv_folder_with_a_run(tmp_path):
    result = invoke("plot", str(make_run(tmp_path)), str(make_cv(tmp_path, lengths=(4,))),
                    "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["accuracy.png", "loss.png"]


# ------------------------------------------------------------------- predictions


def test_binary_classifier_gets_confusion_matrix_roc_and_pr(tmp_path):
    run = make_run(tmp_path, predictions=binary_predictions())
    paths = plot.plot_predictions(run)
    assert [p.name for p in paths] == ["confusion_matrix.png", "roc.png", "pr.png"]
    for path in paths:
        assert_image(path)
    figures = prediction_figures(pd.read_csv(run / "predictions.csv"))
    assert len(figures["confusion_matrix"].axes) == 4  # counts, normalized, two colorbars
    assert labels(figures["roc"])[0].startswith("AUC = ")
    assert labels(figures["pr"])[0].startswith("AP = ")


def test_multiclass_string_labels_confusion_matrix_counts_and_normalized():
    predictions = pd.DataFrame({
        "y_true": ["cat", "cat", "dog", "owl", "owl", "owl"],
        "y_pred": ["cat", "dog", "dog", "owl", "owl", "cat"],
        "prob_cat": 0.3, "prob_dog": 0.3, "prob_owl": 0.4,
    })
    figures = prediction_figures(predictions)
    assert list(figures) == ["confusion_matrix"]
    counts_ax, normalized_ax = figures["confusion_matrix"].axes[:2]
    counts = counts_ax.get_images()[0].get_array()
    assert counts.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    normalized = normalized_ax.get_images()[0].get_array()
    assert normalized.sum(axis=1).tolist() == pytest.approx([1, 1, 1])
    assert [t.get_text() for t in counts_ax.get_xticklabels()] == ["cat", "dog", "owl"]


def test_regression_predictions_give_a_scatter(tmp_path):
    run = make_run(tmp_path, predictions=pd.DataFrame({"y_true": [1.0, 2.5, 3.0],
                                                       "y_pred": [1.1, 2.0, 3.3]}))
    assert [p.name for p in plot.plot_predictions(run)] == ["predictions.png"]


@pytest.mark.parametrize(
    "content, message",
    [(None, "predictions.csv: not found"), ("", "predictions.csv: cannot be read"),
     ("a,b\n1,2\n", "missing column\\(s\\) y_true, y_pred")],
)
def test_plot_predictions_says_what_is_wrong(tmp_path, content, message):
    run = make_run(tmp_path)
    if content is not None:
        (run / "predictions.csv").write_text(content)
    with pytest.raises(RunError, match=message):
        plot.plot_predictions(run)


# ------------------------------------------------------------------- several runs


def test_overlay_labels_runs_by_the_hyperparameters_that_differ(tmp_path):
    a = make_run(tmp_path, hist=history(5))
    b = make_run(tmp_path, hist=history(3),  # stopped early
                 config={"compile": {"optimizer": {"SGD": {"learning_rate": 0.1}}}})
    result = plot.plot_runs([a, b], out_dir=tmp_path / "cmp")
    assert [p.name for p in result.paths] == ["loss.png", "accuracy.png"]
    assert all(p.parent == tmp_path / "cmp" for p in result.paths)
    curves = [label for label in labels(result.figures["loss"]) if not label.startswith("_")]
    assert curves == [
        "mnist-mlp (SGD.learning_rate=0.01) (train)",
        "mnist-mlp (SGD.learning_rate=0.01) (val)",
        "mnist-mlp (SGD.learning_rate=0.1) (train)",
        "mnist-mlp (SGD.learning_rate=0.1) (val)",
    ]
    assert result.warnings == []


def test_overlay_of_a_run_and_a_cv_folder_uses_the_cv_mean(tmp_path):
    run = make_run(tmp_path, "pima-cv")
    cv = make_cv(tmp_path)
    result = plot.plot_runs([run, cv], out_dir=tmp_path / "cmp")
    curves = [label for label in labels(result.figures["loss"]) if not label.startswith("_")]
    assert curves[-1] == "pima-cv [CV mean] (val)"
    assert curves[0] == "pima-cv (train)"


# --------------------------------------------------------------------------- CLI


def test_cli_plot_one_run_writes_into_the_run_folder(tmp_path):
    run = make_run(tmp_path, predictions=binary_predictions())
    result = invoke("plot", str(run))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        str(run / f"{stem}.png") for stem in ("loss", "accuracy", "confusion_matrix", "roc", "pr")
    ]
    assert result.stderr == ""


def test_cli_plot_accepts_globs_out_and_format(tmp_path):
    make_run(tmp_path / "runs", "a")
    make_run(tmp_path / "runs", "b")
    result = invoke("plot", str(tmp_path / "runs" / "*"), "--out", str(tmp_path / "o"),
                    "--format", "pdf")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["accuracy.pdf", "loss.pdf"]


def test_cli_plot_show_without_display_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(figure.sys, "platform", "linux")
    result = invoke("plot", str(make_run(tmp_path)), "--show")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1].startswith("Note: --show needs a display")


ROBUST_CASES = {
    # name: (make_run kwargs, exit code, text expected on stderr, files expected)
    "no-validation": (dict(hist=history(3, val=False), predictions=binary_predictions()), 0,
                      "no validation metrics in history.csv",
                      {"loss.png", "accuracy.png", "confusion_matrix.png", "roc.png", "pr.png"}),
    "still-running": (dict(hist=history(2).to_csv(index=False) + "2,0.7",
                           status={"status": "running", "finished": None}), 0,
                      "still running", {"loss.png", "accuracy.png"}),
    "failed-with-history": (dict(hist=history(2), status={"status": "failed", "error": "OOM"}), 0,
                            "failed (OOM)", {"loss.png", "accuracy.png"}),
    "failed-early": (dict(hist=None, status={"status": "failed", "error": "bad data"}), 2,
                     "Error: nothing to plot", set()),
    "empty-history": (dict(hist=""), 2, "history.csv: empty", set()),
    "malformed-history": (dict(hist="\x00\x01garbage\n;;;\n"), 2, "Error: nothing to plot",
                          set()),
    "history-missing-predictions-ok": (dict(hist=None, predictions=binary_predictions()), 0,
                                       "history.csv: not found",
                                       {"confusion_matrix.png", "roc.png", "pr.png"}),
}


@pytest.mark.parametrize("case", list(ROBUST_CASES), ids=list(ROBUST_CASES))
def test_cli_plot_plots_what_exists_and_says_what_is_missing(tmp_path, case):
    kwargs, code, text, files = ROBUST_CASES[case]
    run = make_run(tmp_path, **kwargs)
    before = {p.name for p in run.iterdir()}
    result = invoke("plot", str(run))
    assert result.exit_code == code, result.output
    assert text in result.stderr
    assert "Traceback" not in result.output
    assert {p.name for p in run.iterdir()} - before == files


def test_cli_plot_several_runs_skips_the_unusable_one_with_a_warning(tmp_path):
    good = make_run(tmp_path)
    bad = make_run(tmp_path, hist=None, status={"status": "failed", "error": "boom"})
    result = invoke("plot", str(good), str(bad), "--out", str(tmp_path / "o"))
    assert result.exit_code == 0
    assert f"Warning: {bad.name}: failed (boom)" in result.stderr
    assert f"Warning: {bad.name}/history.csv: not found" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [(["does/not/exist"], "Error: does/not/exist: no such run folder"),
     (["{tmp}"], "not a run folder")],
)
def test_cli_plot_bad_arguments_exit_2(tmp_path, args, message):
    result = invoke("plot", *[a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 2
    assert message in result.stderr


def test_cli_plot_cv_folder_warns_about_a_fold_without_history(tmp_path):
    cv = make_cv(tmp_path)
    (cv / "fold-02" / "history.csv").unlink()
    result = invoke("plot", str(cv))
    assert result.exit_code == 0
    assert f"Warning: {cv.name}/fold-02/history.csv: not found" in result.stderr
    assert [Path(p).name for p in result.stdout.split()] == ["loss.png", "accuracy.png",
                                                             "folds.png"]


def test_cli_plot_show_with_a_display_builds_pyplot_figures_and_shows_them(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    plt.switch_backend("Agg")  # a "display" that needs no window
    shown = []
    monkeypatch.setattr(report, "has_display", lambda: True)
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.get_fignums()))
    try:
        result = invoke("plot", str(make_run(tmp_path)), "--show")
        assert result.exit_code == 0, result.output
        assert len(shown) == 1 and len(shown[0]) == 2  # loss, accuracy
        assert "Note:" not in result.output
    finally:
        plt.close("all")


def test_multi_output_predictions_are_plotted_per_output(tmp_path):
    run = make_run(tmp_path / "multi")
    frame = pd.DataFrame({
        "cls.y_true": [0, 1, 1, 0], "cls.y_pred": [0, 1, 0, 0],
        "cls.prob_0": [0.9, 0.2, 0.6, 0.7], "cls.prob_1": [0.1, 0.8, 0.4, 0.3],
        "bmi.y_true": [20.0, 30.0, 25.0, 22.0], "bmi.y_pred": [21.0, 28.0, 26.0, 23.0],
    })
    frame.to_csv(run / "predictions.csv", index=False)
    names = {p.name for p in plot.plot_predictions(run)}
    assert {"cls-confusion_matrix.png", "cls-roc.png", "cls-pr.png", "bmi-predictions.png"} <= names
    result = CliRunner().invoke(cli, ["plot", str(run)])
    assert result.exit_code == 0, result.output
    assert "Warning" not in result.output, result.output


# -------------------------------------------------------------------- sweep folder


def make_sweep(root: Path, rows: list[dict], metric: str = "val_accuracy", goal: str = "max") -> Path:
    """A sweep folder's records (no trial folders): status.json, summary.json, trials.csv."""
    path = root / "study-sweep"
    path.mkdir(parents=True)
    (path / "status.json").write_text(json.dumps({"kind": "sweep", "status": "completed", "name": "study"}))
    (path / "summary.json").write_text(json.dumps({"metric": metric, "goal": goal}))
    pd.DataFrame(rows).to_csv(path / "trials.csv", index=False)
    return path


def trial(n: int, value: float | None, **params) -> dict:
    return {"trial": n, **params, "val_accuracy": value, "status": "failed" if value is None else "completed",
            "epochs": 2, "duration_s": 1.0, "folder": f"trials/{n:03d}", "error": "" if value else "NaN loss"}


def trial_lines(fig) -> list:
    """The parallel-coordinates plot's trial lines (the axes are marker-less vertical lines)."""
    return [line for line in fig.axes[0].get_lines() if line.get_marker() == "o"]


def test_parallel_coordinates_one_line_per_completed_trial(tmp_path):
    rows = [trial(1, 0.80, **{"model.layers.0.Dense.units": 8, "model.layers.1.Dense.units": 32,
                              "compile.optimizer.Adam.learning_rate": 1e-4, "act": "relu", "bn": True}),
            trial(2, None, **{"model.layers.0.Dense.units": 16, "model.layers.1.Dense.units": 64,
                              "compile.optimizer.Adam.learning_rate": 1e-3, "act": "tanh", "bn": False}),
            trial(3, 0.90, **{"model.layers.0.Dense.units": 16, "model.layers.1.Dense.units": 32,
                              "compile.optimizer.Adam.learning_rate": 1e-2, "act": "tanh", "bn": False}),
            trial(4, 0.85, **{"model.layers.0.Dense.units": 12, "model.layers.1.Dense.units": 64,
                              "compile.optimizer.Adam.learning_rate": 1e-3, "act": "selu", "bn": True})]
    run = make_sweep(tmp_path, rows)
    fig = sweep_figures(Run(run), [])["parallel"]
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "0.Dense.units", "1.Dense.units", "learning_rate", "act", "bn", "val_accuracy"]
    lines = trial_lines(fig)  # trial 2 failed: not drawn; the best (trial 3) drawn last
    assert len(lines) == 3 and lines[-1].get_label() == "best: trial 3"
    by_trial = {1: lines[0].get_ydata(), 4: lines[1].get_ydata(), 3: lines[2].get_ydata()}
    np.testing.assert_allclose(by_trial[1], [0, 0, 0, 0, 0, 0])
    # categories in trial order (relu, tanh, selu; True, False); 1e-3 halfway on a log axis
    np.testing.assert_allclose(by_trial[4], [0.5, 1, 0.5, 1, 0, 0.5])
    np.testing.assert_allclose(by_trial[3], [1, 0, 1, 0.5, 1, 1])
    assert "3 completed trial(s); 1 failed, not drawn" in ax.get_title()
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "val_accuracy (max)"  # colour bar
    ticks = {t.get_text() for t in ax.texts}
    assert {"relu", "tanh", "selu", "True", "False", "0.0001", "0.01", "8", "12", "16"} <= ticks
    result = CliRunner().invoke(cli, ["plot", str(run)])
    assert result.exit_code == 0, result.output
    assert_image(run / "parallel.png")


def test_sweep_figures_of_a_one_trial_sweep(tmp_path):
    run = make_sweep(tmp_path, [trial(1, 0.5, **{"fit.batch_size": 32, "compile.optimizer": "{SGD: {momentum: 0.9}}"})],
                     metric="val_accuracy", goal="min")
    figures = sweep_figures(Run(run), [])
    assert {"parallel", "best-so-far", "by-fit_batch_size", "by-compile_optimizer"} <= set(figures)
    (line,) = trial_lines(figures["parallel"])
    np.testing.assert_allclose(line.get_ydata(), [0.5, 0.5, 0.5])
    assert len(figures["parallel"].axes) == 1  # one value: no colour bar
    result = CliRunner().invoke(cli, ["plot", str(run)])
    assert result.exit_code == 0, result.output
    for name in ("parallel", "best-so-far", "by-fit_batch_size"):
        assert_image(run / f"{name}.png")


def test_a_sweep_whose_trials_all_failed_has_no_parallel_plot(tmp_path):
    run = make_sweep(tmp_path, [trial(1, None, **{"fit.epochs": 1}), trial(2, None, **{"fit.epochs": 2})])
    figures = sweep_figures(Run(run), [])
    assert "parallel" not in figures and "best-so-far" in figures
    assert CliRunner().invoke(cli, ["plot", str(run)]).exit_code == 0
