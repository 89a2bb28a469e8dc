"""Prediction figures from ``predictions.csv``: confusion matrix (counts and normalized),
ROC and precision-recall curves of a binary classifier, predicted-vs-true of a regression.

Drawn with scikit-learn's displays (``ConfusionMatrixDisplay``, ``RocCurveDisplay``,
``PrecisionRecallDisplay``) on our own axes. A multi-output file
(``<output>.y_true``, ``<output>.prob_<class>``, ...) gives each figure per
output, named ``<output>-<figure>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from kexp.errors import RunError
from kexp.report.figure import new_figure
from kexp.rundir.read import Run

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["prediction_figures", "read_predictions"]


def read_predictions(run: Run) -> pd.DataFrame:
    """The run's ``predictions.csv``.

    Raises:
        RunError: missing or unreadable.
    """
    path = run.path / "predictions.csv"
    try:
        return pd.concat(pd.read_csv(path, dtype=_compact(path), chunksize=READ_ROWS),
                         ignore_index=True)
    except FileNotFoundError:
        raise RunError(f"{run.id}/predictions.csv: not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise RunError(f"{run.id}/predictions.csv: cannot be read ({first})") from None


#: rows of predictions.csv read at a time (a streamed CSV's test part can have millions)
READ_ROWS = 100_000


def _compact(path: Path) -> dict[str, str]:
    """The dtypes that keep a classifier's predictions small in memory: probabilities as
    float32, labels and image paths as categories (a regression's values as read)."""
    columns = [str(c) for c in pd.read_csv(path, nrows=0).columns]
    if not any(c.startswith("prob_") or ".prob_" in c for c in columns):
        return {}
    out = {c: "float32" for c in columns if c.startswith("prob_") or ".prob_" in c}
    for c in columns:
        if c.rsplit(".", 1)[-1] in ("y_true", "y_pred", "path"):
            out[c] = "category"
    return out


def prediction_figures(predictions: pd.DataFrame, title: str = "") -> dict[str, Figure]:
    """Confusion matrix (counts, normalized); for two classes also ROC and PR curves.

    ``predictions`` has ``y_true, y_pred`` and, for a classifier, one
    ``prob_<class>`` column per class. Without ``prob_`` columns it is taken as a
    regression and a predicted-vs-true scatter is drawn instead.

    Raises:
        RunError: ``y_true`` or ``y_pred`` is missing.
    """
    per_output = _split_outputs(predictions)
    if per_output:  # several outputs: "<output>.y_true", "<output>.prob_<c>", ...
        figures: dict[str, Figure] = {}
        for out, sub in per_output.items():
            for name, fig in prediction_figures(sub, f"{title}: {out}" if title else out).items():
                figures[f"{out}-{name}"] = fig
        return figures
    missing = [c for c in ("y_true", "y_pred") if c not in predictions.columns]
    if missing:
        raise RunError(f"predictions.csv: missing column(s) {', '.join(missing)}")
    frame = predictions.dropna(subset=["y_true", "y_pred"])
    if frame.empty:
        raise RunError("predictions.csv: no rows")
    prob_columns = [c for c in frame.columns if str(c).startswith("prob_")]
    prefix = f"{title}: " if title else ""
    if not prob_columns:
        return {"predictions": _regression_figure(frame, prefix)}
    return _classifier_figures(frame, prob_columns, prefix)


def _split_outputs(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``{output: its columns without the prefix}`` for a multi-output predictions.csv."""
    cols = [str(c) for c in frame.columns]
    outputs = [c[: -len(".y_pred")] for c in cols if c.endswith(".y_pred")]
    return {
        out: frame[[c for c in cols if c.startswith(out + ".")]].rename(
            columns=lambda c, o=out: c[len(o) + 1:])
        for out in outputs
    }


def _labels(series: pd.Series) -> np.ndarray:
    """Class labels as the strings used in ``prob_<class>`` (1.0 -> "1"): an array of
    fixed-width strings, each distinct label converted once (a streamed CSV's test part
    has millions of rows and a few labels)."""
    if pd.api.types.is_float_dtype(series) and (series % 1 == 0).all():
        series = series.astype(int)
    codes, uniques = pd.factorize(series, use_na_sentinel=False)
    return np.asarray([str(u) for u in uniques], dtype=str)[codes]


def _classifier_figures(frame: pd.DataFrame, prob_columns: list[str],
                        prefix: str) -> dict[str, Figure]:
    classes = [str(c)[5:] for c in prob_columns]
    y_true, y_pred = _labels(frame["y_true"]), _labels(frame["y_pred"])
    extra = sorted((set(np.unique(y_true)) | set(np.unique(y_pred))) - set(classes))
    figures = {"confusion_matrix": _confusion_figure(y_true, y_pred, classes + extra, prefix)}
    if "path" in frame.columns:  # images read from a folder
        figures["misclassified"] = _misclassified_figure(frame, y_true, y_pred, prefix)
    if len(classes) == 2:
        positive = classes[1]
        truth = np.asarray(y_true) == positive
        score = pd.to_numeric(frame[prob_columns[1]], errors="coerce").to_numpy()
        ok = ~np.isnan(score)
        if truth[ok].any() and not truth[ok].all():
            figures["roc"] = _roc_figure(truth[ok], score[ok], positive, prefix)
            figures["pr"] = _pr_figure(truth[ok], score[ok], positive, prefix)
    return figures


#: the most misclassified images drawn
GRID = 25


def _misclassified_figure(frame: pd.DataFrame, y_true: np.ndarray, y_pred: np.ndarray,
                          prefix: str) -> Figure:
    """A grid of the test images whose predicted class is wrong, the most confident
    mistakes first, each titled ``true -> predicted (probability)``."""
    from matplotlib import image as mpimg

    wrong = [i for i, (t, p) in enumerate(zip(y_true, y_pred, strict=True)) if t != p]
    confidence = [_probability(frame, i, y_pred[i]) for i in wrong]
    order = [i for _, i in sorted(zip(confidence, wrong, strict=True), key=lambda c: -c[0])][:GRID]
    cols = max(1, min(5, len(order)))
    rows = max(1, -(-len(order) // cols))
    fig = new_figure(figsize=(2.2 * cols, 2.4 * rows + 0.4))
    if not order:
        ax = fig.add_subplot(1, 1, 1)
        ax.axis("off")
        ax.text(0.5, 0.5, "no misclassified images", ha="center", va="center")
    for k, i in enumerate(order):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.axis("off")
        path = str(frame["path"].iloc[i])
        try:
            img = mpimg.imread(path)
        except (OSError, ValueError, SyntaxError):
            ax.text(0.5, 0.5, "image not found", ha="center", va="center", fontsize=8)
        else:
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
        p = _probability(frame, i, y_pred[i])
        ax.set_title(f"{y_true[i]} -> {y_pred[i]}" + (f" ({p:.2f})" if p >= 0 else ""), fontsize=8)
    shown = f"{len(order)} of {len(wrong)}" if len(wrong) > len(order) else f"{len(wrong)}"
    fig.suptitle(f"{prefix}misclassified test images ({shown} of {len(frame)}; true -> predicted)",
                 fontsize=10)
    return fig


def _probability(frame: pd.DataFrame, i: int, label: str) -> float:
    column = f"prob_{label}"
    if column not in frame.columns:
        return -1.0
    value = pd.to_numeric(frame[column].iloc[i], errors="coerce")
    return -1.0 if pd.isna(value) else float(value)


def _confusion_figure(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str],
                      prefix: str) -> Figure:
    """Counts and row-normalized (recall per true class) matrices side by side."""
    from sklearn.metrics import ConfusionMatrixDisplay

    size = max(5.0, 0.5 * len(labels) + 3)
    fig = new_figure(figsize=(2 * size, size))
    _confusion_margins(fig, labels, rotate=len(labels) > 6)
    for ax, normalize, kind, values_format in zip(
        fig.subplots(1, 2), (None, "true"), ("counts", "normalized"), ("d", ".2f"), strict=True
    ):
        ConfusionMatrixDisplay.from_predictions(
            y_true, y_pred, labels=labels, normalize=normalize, ax=ax, cmap="Blues",
            include_values=len(labels) <= 20, values_format=values_format,
            xticks_rotation=45 if len(labels) > 6 else "horizontal",
            im_kw={"vmin": 0}, text_kw={"fontsize": "small"},
        )
        ax.set(xlabel="predicted", ylabel="true", title=f"{prefix}confusion matrix ({kind})")
    return fig


def _confusion_margins(fig: Figure, labels: list[str], rotate: bool) -> None:
    """Room for the class names, axis labels, titles and colorbars, from the longest name.

    A layout engine would measure every text of the figure (the two matrices' cells too)
    on each draw: about half of the figure's cost, and the confusion matrix is the largest
    figure of a classifier's run. Tick labels are 10 pt (about 0.09 in a character)."""
    width, height = fig.get_size_inches()
    name = 0.09 * max((len(label) for label in labels), default=1)
    left = 0.55 + name  # y label and the class names
    bottom = 0.55 + (name * 0.71 + 0.1 if rotate else 0.2)  # x label and (rotated) names
    right = 0.15
    gap = left + 0.5  # the second matrix's names, after the first one's colorbar labels
    cell = (width - left - right - gap) / 2  # each matrix with its colorbar
    fig.subplots_adjust(left=left / width, right=1 - right / width, wspace=gap / cell,
                        bottom=min(bottom / height, 0.45), top=1 - 0.45 / height)


def _roc_figure(truth: np.ndarray, score: np.ndarray, positive: str, prefix: str) -> Figure:
    from sklearn.metrics import RocCurveDisplay

    fig = new_figure(figsize=(5.5, 5), layout="constrained")
    ax = fig.add_subplot()
    display = RocCurveDisplay.from_predictions(
        truth, score, pos_label=True, ax=ax, plot_chance_level=True,
        chance_level_kw={"color": "grey", "linestyle": ":", "label": "chance"},
    )
    display.line_.set(color="C0", label=f"AUC = {display.roc_auc:.3f}")
    ax.set(xlabel="false positive rate", ylabel="true positive rate",
           title=f"{prefix}ROC (positive class {positive})", xlim=(0, 1), ylim=(0, 1.02))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    return fig


def _pr_figure(truth: np.ndarray, score: np.ndarray, positive: str, prefix: str) -> Figure:
    from sklearn.metrics import PrecisionRecallDisplay

    fig = new_figure(figsize=(5.5, 5), layout="constrained")
    ax = fig.add_subplot()
    display = PrecisionRecallDisplay.from_predictions(
        truth, score, pos_label=True, ax=ax, plot_chance_level=True,
        drop_intermediate=True,  # the corners of the curve only (as the ROC's): not a point a row
        chance_level_kw={"color": "grey", "linestyle": ":", "label": "chance"},
    )
    display.line_.set(color="C0", label=f"AP = {display.average_precision:.3f}")
    ax.set(xlabel="recall", ylabel="precision",
           title=f"{prefix}precision-recall (positive class {positive})", xlim=(0, 1),
           ylim=(0, 1.02))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left")
    return fig


def _regression_figure(frame: pd.DataFrame, prefix: str) -> Figure:
    y_true = pd.to_numeric(frame["y_true"], errors="coerce")
    y_pred = pd.to_numeric(frame["y_pred"], errors="coerce")
    fig = new_figure(figsize=(5.5, 5), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(y_true, y_pred, s=8, alpha=0.5)
    low, high = np.nanmin([y_true.min(), y_pred.min()]), np.nanmax([y_true.max(), y_pred.max()])
    ax.plot([low, high], [low, high], color="grey", linestyle=":", label="y = x")
    ax.set(xlabel="true", ylabel="predicted", title=f"{prefix}predicted vs true")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig
