"""Figures and tables drawn from run-folder files only: learning curves, CV folds,
prediction figures, ``kexp ls`` and ``kexp compare``. Never imports TensorFlow."""

from kexp.report.plots import (
    has_display,
    plot_history,
    plot_predictions,
    plot_runs,
    pyplot_figures,
)
from kexp.report.tables import compare_runs, format_comparison, format_runs, list_runs

__all__ = [
    "compare_runs", "format_comparison", "format_runs", "has_display", "list_runs", "plot_history",
    "plot_predictions", "plot_runs", "pyplot_figures",
]
