"""The plotting entry points: a run's plots at the end of training, and ``kexp plot``.

Everything is drawn from run-folder files only (``history.csv``, ``folds.csv``,
``summary.json``, ``predictions.csv``, ``config.yaml``), never from a live model,
so plotting is fast and never imports TensorFlow. The training pipeline calls
:func:`plot_history` and :func:`plot_predictions` at the end of each run;
``kexp plot`` calls :func:`plot_runs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from kexp.errors import RunError
from kexp.report.curves import (
    cv_curve_figures,
    folds_figure,
    history_figures,
    overlay_figures,
)
from kexp.report.figure import FORMATS, save_figures
from kexp.report.histories import fold_histories, history_of
from kexp.report.predictions import prediction_figures, read_predictions
from kexp.report.sweep import sweep_figures
from kexp.rundir.read import Run, differing_keys

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["PlotResult", "cv_figures", "plot_history", "plot_predictions", "plot_runs",
           "run_label"]


@dataclass
class PlotResult:
    """What :func:`plot_runs` wrote, what it could not plot, and the figures it drew."""

    paths: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    figures: dict[str, Figure] = field(default_factory=dict)


def plot_history(run_dir: Path, out_dir: Path | None = None, fmt: str = "png") -> list[Path]:
    """Write ``loss.<fmt>`` and one ``<metric>.<fmt>`` per metric family.

    For a CV folder, writes the fold curves with their mean and ``folds.<fmt>``.
    A history without validation columns plots the training curves only.

    Args:
        run_dir: the run folder.
        out_dir: where to write; the run folder by default.
        fmt: ``png``, ``svg`` or ``pdf``.

    Returns:
        The written files.

    Raises:
        RunError: ``history.csv`` is missing, empty or unreadable (for a CV
            folder: no fold has a history and ``folds.csv`` is unusable).
    """
    run = Run(Path(run_dir))
    if run.is_sweep:
        figures = sweep_figures(run, [])
    elif run.is_cv:
        figures = _cv_plots(run, [])
    else:
        figures = history_figures(run.history(), run.name)
    return save_figures(figures, Path(out_dir) if out_dir else run.path, fmt)


def plot_predictions(run_dir: Path, out_dir: Path | None = None, fmt: str = "png") -> list[Path]:
    """Write ``confusion_matrix.<fmt>`` and, for binary classifiers, ``roc`` and ``pr``.

    A regression's ``predictions.csv`` (no ``prob_`` columns) gives
    ``predictions.<fmt>``, a predicted-vs-true scatter.

    Raises:
        RunError: ``predictions.csv`` is missing, unreadable or lacks ``y_true``/``y_pred``.
    """
    run = Run(Path(run_dir))
    try:
        figures = prediction_figures(read_predictions(run), run.name)
    except RunError as exc:
        if str(exc).startswith("predictions.csv"):
            raise RunError(f"{run.id}/{exc}") from None
        raise
    return save_figures(figures, Path(out_dir) if out_dir else run.path, fmt)


def cv_figures(cv_dir: Path) -> tuple[dict[str, Figure], list[str]]:
    """Figures of a CV folder (fold curves, mean ± std, folds chart) and warnings."""
    warnings: list[str] = []
    return _cv_plots(Run(Path(cv_dir)), warnings), warnings


def _cv_plots(run: Run, warnings: list[str]) -> dict[str, Figure]:
    histories = fold_histories(run, warnings)
    figures: dict[str, Figure] = {}
    if histories:
        figures.update(cv_curve_figures(histories, run.name))
    try:
        table, summary = run.folds_table(), run.summary
        coverage = run.fold_coverage
        if coverage is not None and not coverage.whole:
            # folds.csv and summary.json still count the folds that are gone: chart the folds
            # that are there, with their own mean and interval (run.notes says which are not)
            if "fold" in table.columns:
                table = table[table["fold"].isin(coverage.kept)]
            summary = {}
        folds = folds_figure(table, summary, run.name)
    except RunError as exc:
        warnings.append(str(exc))
        folds = None
    if folds is not None:
        figures["folds"] = folds
    elif histories:
        warnings.append(f"{run.id}/folds.csv: no metric column to chart")
    if not figures:
        raise RunError(
            f"{run.id}: nothing to plot (no fold has a history.csv and folds.csv is unusable)"
        )
    return figures


def _status_warnings(run: Run) -> list[str]:
    state = run.state
    if state == "running":
        return [f"{run.id}: still running; plotting the epochs logged so far"]
    if state == "died":
        return [f"{run.id}: status says running but its process is gone (died)"]
    if state in ("failed", "interrupted"):
        error = run.status.get("error")
        return [f"{run.id}: {state}" + (f" ({error})" if error else "")]
    return []


def run_label(run: Run, keys: Sequence[str], limit: int = 3) -> str:
    """``name (key=value, ...)`` from the hyperparameters that differ between runs."""
    parts = []
    for key in [k for k in keys if k != "name"][:limit]:
        short = ".".join(key.split(".")[-2:])  # compile.optimizer.SGD.lr -> SGD.lr
        parts.append(f"{short}={run.flat_config.get(key, '-')}")
    if len([k for k in keys if k != "name"]) > limit:
        parts.append("...")
    return f"{run.name} ({', '.join(parts)})" if parts else run.name


def plot_runs(run_dirs: Sequence[Path], out_dir: Path | None = None,
              fmt: str = "png") -> PlotResult:
    """What ``kexp plot`` does.

    One run: its learning curves and prediction plots, in the run folder. A CV
    folder: fold curves with their mean ± std and the folds chart. Several runs
    (CV folders count by their mean curve): overlaid curves in ``out_dir``
    (default: ``./kexp-plots``), labelled by name and differing hyperparameters.

    Returns:
        The written paths, warnings about what is missing, and the figures.

    Raises:
        RunError: nothing at all could be plotted.
    """
    if fmt not in FORMATS:
        raise RunError(f"--format: expected one of {', '.join(FORMATS)}, received {fmt!r}")
    result = PlotResult()
    runs = [Run(Path(p)) for p in run_dirs]
    if not runs:
        raise RunError("no run folder given")
    if len(runs) == 1:
        _plot_one(runs[0], out_dir, fmt, result)
    else:
        _plot_many(runs, out_dir or Path("kexp-plots"), fmt, result)
    for run in runs:
        result.warnings.extend(n for n in run.notes if n not in result.warnings)
    if not result.paths:
        raise RunError("nothing to plot: " + "; ".join(result.warnings or ["no data"]))
    return result


def _run_figures(run: Run, warnings: list[str]) -> dict[str, Figure]:
    """Learning curves and prediction figures of one (non-CV) run."""
    figures: dict[str, Figure] = {}
    try:
        history = run.history()
    except RunError as exc:
        warnings.append(str(exc))
    else:
        figures.update(history_figures(history, run.name))
        if not any(c.startswith("val_") for c in history.columns):
            warnings.append(f"{run.id}: no validation metrics in history.csv")
    try:
        figures.update(prediction_figures(read_predictions(run), run.name))
    except RunError as exc:
        text = str(exc)
        warnings.append(text if text.startswith(run.id) else f"{run.id}/{text}")
    return figures


def _plot_one(run: Run, out_dir: Path | None, fmt: str, result: PlotResult) -> None:
    result.warnings.extend(_status_warnings(run))
    figures: dict[str, Figure] = {}
    if run.is_cv or run.is_sweep:
        try:
            figures.update(sweep_figures(run, result.warnings) if run.is_sweep
                           else _cv_plots(run, result.warnings))
        except RunError as exc:
            result.warnings.append(str(exc))
    else:
        figures.update(_run_figures(run, result.warnings))
    result.figures.update(figures)
    result.paths.extend(save_figures(figures, Path(out_dir or run.path), fmt))


def _curve_of(run: Run, keys: Sequence[str], warnings: list[str]) -> tuple[str, pd.DataFrame]:
    """``(label, history)`` of a run, or of a CV folder's mean over folds (``[CV mean, 4/5
    folds]`` when the folder no longer holds every fold its summary is over)."""
    coverage = run.fold_coverage
    tag = "" if not run.is_cv else " [CV mean]" if coverage is None or coverage.whole else (
        f" [CV mean, {coverage.progress()}]")
    return run_label(run, keys) + tag, history_of(run, warnings)


def _plot_many(runs: Sequence[Run], out_dir: Path, fmt: str, result: PlotResult) -> None:
    keys = differing_keys([run.flat_config for run in runs])
    curves = []
    ok_runs: list[Run] = []
    for run in runs:
        result.warnings.extend(_status_warnings(run))
        try:
            curves.append(_curve_of(run, keys, result.warnings))
        except RunError as exc:
            result.warnings.append(str(exc))
            continue
        ok_runs.append(run)
    if not curves:
        return
    labels = [label for label, _ in curves]
    if len(set(labels)) < len(labels):  # same name, same config: tell them apart by id
        curves = [(f"{label} [{run.id}]", history)
                  for (label, history), run in zip(curves, ok_runs, strict=True)]
    figures = overlay_figures(curves)
    result.figures.update(figures)
    result.paths.extend(save_figures(figures, out_dir, fmt))
