"""The learning curves of a run folder, or of a CV folder (its folds, and their mean)."""

from __future__ import annotations

import pandas as pd

from kexp.errors import RunError
from kexp.report.curves import cv_mean_history
from kexp.rundir.read import Run, fold_number


def fold_histories(run: Run, warnings: list[str]) -> list[pd.DataFrame]:
    """Each fold's history of a CV folder; what cannot be read becomes a warning. A fold
    folder without the fold its summary counted (no metrics.json: ``Run.fold_coverage``) is
    left out, as it is of the folds' means."""
    histories = []
    coverage = run.fold_coverage
    left_out = set(coverage.problems) if coverage is not None else set()
    for fold_dir in run.fold_dirs():
        if fold_number(fold_dir) in left_out:
            continue
        fold = Run(fold_dir)
        try:
            histories.append(fold.history())
        except RunError as exc:
            warnings.append(f"{run.id}/{exc}")
        warnings.extend(f"{run.id}/{note}" for note in fold.notes)
    if not run.fold_dirs():
        warnings.append(f"{run.id}: no fold-* folders")
    return histories


def history_of(run: Run, warnings: list[str]) -> pd.DataFrame:
    """A run's history, or a CV folder's mean over its folds.

    Raises:
        RunError: nothing to draw (no history.csv, or no fold has one).
    """
    if not run.is_cv:
        return run.history()
    histories = fold_histories(run, warnings)
    if not histories:
        raise RunError(f"{run.id}: no fold has a history.csv")
    return cv_mean_history(histories)
