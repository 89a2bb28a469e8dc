"""Figures and tables drawn from run-folder files only: learning curves, CV folds,
prediction figures, ``kexp ls`` and ``kexp compare``. Never imports TensorFlow.

:mod:`.figure` makes and saves figures, :mod:`.curves` draws metric curves and the
folds chart, :mod:`.predictions` the prediction figures, :mod:`.plot` holds the
plotting entry points, :mod:`.tables` the table of runs (``kexp ls``) and
:mod:`.compare` runs side by side (``kexp compare``).
"""

from kexp.report.compare import compare_runs, format_comparison
from kexp.report.figure import has_display, pyplot_figures
from kexp.report.plot import plot_history, plot_predictions, plot_runs
from kexp.report.tables import format_runs, list_runs

__all__ = [
    "compare_runs", "format_comparison", "format_runs", "has_display", "list_runs", "plot_history",
    "plot_predictions", "plot_runs", "pyplot_figures",
]
