"""Plots of run folders: learning curves, CV folds, confusion matrix, ROC and PR curves.

Everything is drawn from run-folder files only (``history.csv``, ``folds.csv``,
``summary.json``, ``predictions.csv``, ``config.yaml``), never from a live model,
so plotting is fast and never imports TensorFlow.

Figures are built as plain :class:`matplotlib.figure.Figure` objects (no pyplot,
no global state, no GUI backend needed) unless :func:`pyplot_figures` is active,
which ``kexp plot --show`` uses to open windows.

The training pipeline calls :func:`plot_history` and :func:`plot_predictions` at
the end of each run; ``kexp plot`` calls :func:`plot_runs`.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from kexp.errors import RunError
from kexp.rundir.read import Run, differing_keys, higher_is_better

__all__ = [
    "FORMATS",
    "PlotResult",
    "cv_figures",
    "has_display",
    "history_figures",
    "metric_families",
    "overlay_figures",
    "plot_history",
    "plot_predictions",
    "plot_runs",
    "prediction_figures",
    "pyplot_figures",
    "save_figures",
]

FORMATS = ("png", "svg", "pdf")
# Columns of history.csv that are not metrics (schedules, not results).
_NOT_METRICS = {"learning_rate", "lr"}
_FOLD_COLUMNS = {"fold", "status", "train_size", "test_size", "repeat", "epochs", "duration_s"}

_pyplot = False


@contextlib.contextmanager
def pyplot_figures() -> Iterator[None]:
    """Build figures with ``pyplot.figure`` inside this block (so ``plt.show()`` shows them)."""
    global _pyplot
    previous, _pyplot = _pyplot, True
    try:
        yield
    finally:
        _pyplot = previous


def _figure(**kwargs: Any) -> Figure:
    if _pyplot:
        import matplotlib.pyplot as plt

        return plt.figure(**kwargs)
    return Figure(**kwargs)


def has_display() -> bool:
    """Whether a window can be opened (macOS/Windows, or X11/Wayland on Linux)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@dataclass
class PlotResult:
    """What :func:`plot_runs` wrote, what it could not plot, and the figures it drew."""

    paths: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    figures: dict[str, Figure] = field(default_factory=dict)


# --------------------------------------------------------------------------- curves


def metric_families(columns: Sequence[str]) -> dict[str, list[str]]:
    """Group history columns by metric: ``{"loss": ["loss", "val_loss"], ...}``.

    The train column comes first, then ``val_<name>`` when present. ``loss``
    comes first, then per-output losses, then the other metrics in column order;
    ``epoch`` and ``learning_rate`` are not metrics.
    """
    families: dict[str, list[str]] = {}
    for column in columns:
        base = column[4:] if column.startswith("val_") else column
        if column == "epoch" or base in _NOT_METRICS:
            continue
        families.setdefault(base, [])
    for base, members in families.items():
        members.extend(c for c in (base, f"val_{base}") if c in columns)

    def order(name: str) -> tuple[int, int]:
        rank = 0 if name == "loss" else 1 if name.endswith("loss") else 2
        return rank, list(families).index(name)

    return {name: families[name] for name in sorted(families, key=order)}


def _best(series: pd.Series, metric: str) -> tuple[int, float] | None:
    series = series.dropna()
    if series.empty:
        return None
    epoch = series.idxmax() if higher_is_better(metric) else series.idxmin()
    return int(epoch), float(series[epoch])


def _mark_best(ax: Axes, series: pd.Series, metric: str, color: Any, *, line: bool) -> None:
    best = _best(series, metric)
    if best is None:
        return
    epoch, value = best
    if line:
        ax.axvline(epoch, color=color, linestyle=":", linewidth=1, alpha=0.7)
    ax.plot(
        [epoch],
        [value],
        marker="*",
        markersize=11,
        color=color,
        linestyle="none",
        label=f"best {'max' if higher_is_better(metric) else 'min'}: epoch {epoch} ({value:.4g})",
    )


def _style_axes(ax: Axes, family: str, title: str) -> None:
    ax.set_title(f"{title}: {family}" if title else family)
    ax.set_xlabel("epoch")
    ax.set_ylabel(family)
    ax.grid(True, alpha=0.3)
    ax.xaxis.get_major_locator().set_params(integer=True)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")


def history_figures(history: pd.DataFrame, title: str = "") -> dict[str, Figure]:
    """One figure per metric family: train solid, validation dashed, best epoch starred.

    Args:
        history: as returned by :func:`kexp.runinfo.read_history` (index = epoch).
        title: shown before the metric name, e.g. the run name.

    Returns:
        ``{family: Figure}``, e.g. ``{"loss": ..., "accuracy": ...}``.
    """
    figures = {}
    for family, columns in metric_families(list(history.columns)).items():
        fig = _figure(figsize=(7, 4.5), layout="constrained")
        ax = fig.add_subplot()
        for column in columns:
            val = column.startswith("val_")
            series = history[column].dropna()
            ax.plot(
                series.index,
                series.to_numpy(),
                linestyle="--" if val else "-",
                color="C1" if val else "C0",
                marker="o" if len(series) == 1 else None,
                label="validation" if val else "train",
            )
        best_column = columns[-1]  # validation when present, else train
        _mark_best(ax, history[best_column], family, "C1" if len(columns) > 1 else "C0", line=True)
        _style_axes(ax, family, title)
        figures[family] = fig
    return figures


def _mean_std(histories: Sequence[pd.DataFrame], column: str) -> pd.DataFrame:
    """Mean and std per epoch over the folds that reached that epoch."""
    frames = [h[column].dropna() for h in histories if column in h.columns]
    stacked = pd.concat(frames, axis=1) if frames else pd.DataFrame()
    return pd.DataFrame(
        {
            "mean": stacked.mean(axis=1),
            "std": stacked.std(axis=1, ddof=0),
            "n": stacked.notna().sum(axis=1),
        }
    ).sort_index()


def cv_curve_figures(histories: Sequence[pd.DataFrame], title: str = "") -> dict[str, Figure]:
    """Each fold thin, the mean over folds bold with a ± std band, per metric family.

    Folds may differ in length (early stopping): each epoch's mean is over the
    folds that reached it.
    """
    columns: list[str] = []
    for history in histories:
        columns.extend(c for c in history.columns if c not in columns)
    figures = {}
    for family, members in metric_families(columns).items():
        fig = _figure(figsize=(7, 4.5), layout="constrained")
        ax = fig.add_subplot()
        for column in members:
            val = column.startswith("val_")
            color, style = ("C1", "--") if val else ("C0", "-")
            for history in histories:
                if column in history.columns:
                    series = history[column].dropna()
                    ax.plot(series.index, series.to_numpy(), color=color, linestyle=style,
                            linewidth=0.8, alpha=0.35)
            stats = _mean_std(histories, column)
            kind = "validation" if val else "train"
            ax.plot(stats.index, stats["mean"].to_numpy(), color=color, linestyle=style,
                    linewidth=2.5, label=f"{kind} mean of {len(histories)} folds")
            ax.fill_between(stats.index, (stats["mean"] - stats["std"]).to_numpy(),
                            (stats["mean"] + stats["std"]).to_numpy(), color=color, alpha=0.15,
                            label=f"{kind} ± std")
        stats = _mean_std(histories, members[-1])
        _mark_best(ax, stats["mean"], family, "C1" if len(members) > 1 else "C0", line=True)
        _style_axes(ax, family, title)
        figures[family] = fig
    return figures


def _ci95(values: np.ndarray) -> tuple[float, float]:
    mean = float(np.mean(values))
    if len(values) < 2:
        return mean, mean
    try:
        from scipy import stats

        q = float(stats.t.ppf(0.975, len(values) - 1))
    except ImportError:  # scipy comes with scikit-learn; a normal quantile will do otherwise
        q = 1.96
    half = q * float(np.std(values, ddof=1)) / math.sqrt(len(values))
    return mean - half, mean + half


def folds_figure(folds: pd.DataFrame, summary: dict[str, Any], title: str = "") -> Figure | None:
    """The final metric of each fold, with the mean and its 95% confidence interval.

    The interval comes from ``summary.json`` when it has one, else from a t
    interval over the folds in ``folds.csv``.
    """
    metrics = [
        c for c in folds.columns
        if c not in _FOLD_COLUMNS and pd.api.types.is_numeric_dtype(folds[c])
        and folds[c].notna().any()
    ]
    if not metrics:
        return None
    fig = _figure(figsize=(4 * len(metrics) + 1, 4), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    x = folds["fold"] if "fold" in folds.columns else pd.Series(range(1, len(folds) + 1))
    stats_all = summary.get("metrics", {}) if isinstance(summary, dict) else {}
    for ax, metric in zip(axes, metrics, strict=True):
        values = folds[metric]
        ok = values.notna()
        ax.plot(x[ok], values[ok], marker="o", linestyle="none", color="C0", label="fold")
        stats = stats_all.get(metric, {}) if isinstance(stats_all.get(metric), dict) else {}
        mean = stats.get("mean", float(values[ok].mean()))
        low, high = _ci95(values[ok].to_numpy(dtype=float))
        low, high = stats.get("ci95_low", low), stats.get("ci95_high", high)
        ax.axhline(mean, color="C3", linewidth=2, label=f"mean {mean:.4g}")
        ax.axhspan(low, high, color="C3", alpha=0.15, label=f"95% CI [{low:.4g}, {high:.4g}]")
        ax.set_xticks(list(x))
        ax.set_xlabel("fold")
        ax.set_ylabel(metric)
        ax.set_title(f"{title}: {metric} per fold" if title else f"{metric} per fold")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    return fig


def overlay_figures(curves: Sequence[tuple[str, pd.DataFrame]]) -> dict[str, Figure]:
    """Several runs on one figure per metric family, one colour per run.

    Args:
        curves: ``(label, history)`` pairs; train solid, validation dashed.
    """
    columns: list[str] = []
    for _, history in curves:
        columns.extend(c for c in history.columns if c not in columns)
    figures = {}
    for family, members in metric_families(columns).items():
        fig = _figure(figsize=(8, 5), layout="constrained")
        ax = fig.add_subplot()
        for i, (label, history) in enumerate(curves):
            color = f"C{i % 10}"
            present = [c for c in members if c in history.columns]
            for column in present:
                val = column.startswith("val_")
                series = history[column].dropna()
                ax.plot(series.index, series.to_numpy(), color=color,
                        linestyle="--" if val else "-",
                        label=f"{label} ({'val' if val else 'train'})")
            if present:
                _mark_best(ax, history[present[-1]], family, color, line=False)
        for line in ax.get_lines():  # one legend entry per curve, not per best marker
            if line.get_label().startswith("best "):
                line.set_label("_" + line.get_label())
        _style_axes(ax, family, "")
        figures[family] = fig
    return figures


# ---------------------------------------------------------------------- predictions


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

    from sklearn import metrics

    classes = [str(c)[5:] for c in prob_columns]
    y_true, y_pred = _labels(frame["y_true"]), _labels(frame["y_pred"])
    extra = sorted((set(y_true) | set(y_pred)) - set(classes))
    labels = classes + [c for c in extra if c not in classes]
    counts = metrics.confusion_matrix(y_true, y_pred, labels=labels)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalized = np.nan_to_num(counts / counts.sum(axis=1, keepdims=True))
    size = max(5.0, 0.5 * len(labels) + 3)
    fig = _figure(figsize=(2 * size, size), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, matrix, kind in ((axes[0], counts, "counts"), (axes[1], normalized, "normalized")):
        image = ax.imshow(matrix, cmap="Blues", vmin=0)
        fig.colorbar(image, ax=ax, shrink=0.8)
        ax.set_xticks(range(len(labels)), labels, rotation=45 if len(labels) > 6 else 0)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{prefix}confusion matrix ({kind})")
        if len(labels) <= 20:
            peak = matrix.max() or 1
            for (i, j), value in np.ndenumerate(matrix):
                text = f"{value:d}" if kind == "counts" else f"{value:.2f}"
                ax.text(j, i, text, ha="center", va="center", fontsize="small",
                        color="white" if value > peak / 2 else "black")
    figures = {"confusion_matrix": fig}
    if len(classes) == 2:
        positive = classes[1]
        truth = np.asarray(y_true) == positive
        score = pd.to_numeric(frame[prob_columns[1]], errors="coerce").to_numpy()
        ok = ~np.isnan(score)
        if truth[ok].any() and not truth[ok].all():
            figures.update(_binary_figures(truth[ok], score[ok], positive, prefix))
    return figures


def _split_outputs(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``{output: its columns without the prefix}`` for a multi-output predictions.csv."""
    cols = [str(c) for c in frame.columns]
    outputs = [c[: -len(".y_pred")] for c in cols if c.endswith(".y_pred")]
    return {
        out: frame[[c for c in cols if c.startswith(out + ".")]].rename(columns=lambda c, o=out: c[len(o) + 1:])
        for out in outputs
    }


def _labels(series: pd.Series) -> list[str]:
    """Class labels as the strings used in ``prob_<class>`` (1.0 -> "1")."""
    if pd.api.types.is_float_dtype(series) and (series % 1 == 0).all():
        series = series.astype(int)
    return series.astype(str).tolist()


def _binary_figures(truth: np.ndarray, score: np.ndarray, positive: str,
                    prefix: str) -> dict[str, Figure]:
    from sklearn import metrics

    fpr, tpr, _ = metrics.roc_curve(truth, score)
    roc = _figure(figsize=(5.5, 5), layout="constrained")
    ax = roc.add_subplot()
    ax.plot(fpr, tpr, color="C0", label=f"AUC = {metrics.auc(fpr, tpr):.3f}")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate",
           title=f"{prefix}ROC (positive class {positive})", xlim=(0, 1), ylim=(0, 1.02))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")

    precision, recall, _ = metrics.precision_recall_curve(truth, score)
    ap = metrics.average_precision_score(truth, score)
    pr = _figure(figsize=(5.5, 5), layout="constrained")
    ax = pr.add_subplot()
    ax.step(recall, precision, where="post", color="C0", label=f"AP = {ap:.3f}")
    ax.axhline(truth.mean(), color="grey", linestyle=":", label="chance")
    ax.set(xlabel="recall", ylabel="precision",
           title=f"{prefix}precision-recall (positive class {positive})", xlim=(0, 1),
           ylim=(0, 1.02))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left")
    return {"roc": roc, "pr": pr}


def _regression_figure(frame: pd.DataFrame, prefix: str) -> Figure:
    y_true = pd.to_numeric(frame["y_true"], errors="coerce")
    y_pred = pd.to_numeric(frame["y_pred"], errors="coerce")
    fig = _figure(figsize=(5.5, 5), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(y_true, y_pred, s=8, alpha=0.5)
    low, high = np.nanmin([y_true.min(), y_pred.min()]), np.nanmax([y_true.max(), y_pred.max()])
    ax.plot([low, high], [low, high], color="grey", linestyle=":", label="y = x")
    ax.set(xlabel="true", ylabel="predicted", title=f"{prefix}predicted vs true")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def _read_predictions(run: Run) -> pd.DataFrame:
    path = run.path / "predictions.csv"
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise RunError(f"{run.id}/predictions.csv: not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise RunError(f"{run.id}/predictions.csv: cannot be read ({first})") from None


# --------------------------------------------------------------------------- saving


def _file_stem(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("_") or "plot"


def save_figures(figures: dict[str, Figure], out_dir: Path, fmt: str = "png",
                 prefix: str = "") -> list[Path]:
    """Write each figure as ``<out_dir>/<prefix><name>.<fmt>``; return the paths.

    Files are written under a temporary name and renamed, so a reader never sees
    half a PNG.
    """
    if fmt not in FORMATS:
        raise RunError(f"format: expected one of {', '.join(FORMATS)}, received {fmt!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figures.items():
        path = out_dir / f"{prefix}{_file_stem(name)}.{fmt}"
        tmp = path.with_name(f".{path.name}.tmp")
        fig.savefig(tmp, format=fmt, dpi=110)
        os.replace(tmp, path)
        paths.append(path)
    return paths


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
    if run.is_cv:
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
        figures = prediction_figures(_read_predictions(run), run.name)
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
    histories = _fold_histories(run, warnings)
    figures: dict[str, Figure] = {}
    if histories:
        figures.update(cv_curve_figures(histories, run.name))
    try:
        folds = folds_figure(run.folds_table(), run.summary, run.name)
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


def _fold_histories(run: Run, warnings: list[str]) -> list[pd.DataFrame]:
    histories = []
    for fold_dir in run.fold_dirs():
        fold = Run(fold_dir)
        try:
            histories.append(fold.history())
        except RunError as exc:
            warnings.append(f"{run.id}/{exc}")
        warnings.extend(f"{run.id}/{note}" for note in fold.notes)
    if not run.fold_dirs():
        warnings.append(f"{run.id}: no fold-* folders")
    return histories


# ------------------------------------------------------------------------ kexp plot


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
        short = ".".join(key.split(".")[-2:])  # compile.optimizer.SGD.learning_rate -> SGD.learning_rate
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


def _plot_one(run: Run, out_dir: Path | None, fmt: str, result: PlotResult) -> None:
    target = out_dir or run.path
    result.warnings.extend(_status_warnings(run))
    figures: dict[str, Figure] = {}
    if run.is_cv:
        try:
            figures.update(_cv_plots(run, result.warnings))
        except RunError as exc:
            result.warnings.append(str(exc))
    else:
        try:
            history = run.history()
        except RunError as exc:
            result.warnings.append(str(exc))
        else:
            figures.update(history_figures(history, run.name))
            if not any(c.startswith("val_") for c in history.columns):
                result.warnings.append(f"{run.id}: no validation metrics in history.csv")
        try:
            figures.update(prediction_figures(_read_predictions(run), run.name))
        except RunError as exc:
            text = str(exc)
            result.warnings.append(text if text.startswith(run.id) else f"{run.id}/{text}")
    result.figures.update(figures)
    result.paths.extend(save_figures(figures, Path(target), fmt))


def _plot_many(runs: Sequence[Run], out_dir: Path, fmt: str, result: PlotResult) -> None:
    keys = differing_keys([run.flat_config for run in runs])
    curves = []
    ok_runs: list[Run] = []
    for run in runs:
        result.warnings.extend(_status_warnings(run))
        try:
            if run.is_cv:
                histories = _fold_histories(run, result.warnings)
                if not histories:
                    raise RunError(f"{run.id}: no fold has a history.csv")
                columns = list(dict.fromkeys(c for h in histories for c in h.columns))
                history = pd.DataFrame({c: _mean_std(histories, c)["mean"] for c in columns})
                label = run_label(run, keys) + " [CV mean]"
            else:
                history = run.history()
                label = run_label(run, keys)
        except RunError as exc:
            result.warnings.append(str(exc))
            continue
        curves.append((label, history))
        ok_runs.append(run)
    if not curves:
        return
    labels = [label for label, _ in curves]
    if len(set(labels)) < len(labels):  # same name, same config: tell them apart by id
        curves = [(f"{label} [{run.id}]", h) for (label, h), run in zip(curves, ok_runs, strict=True)]
    figures = overlay_figures(curves)
    result.figures.update(figures)
    result.paths.extend(save_figures(figures, out_dir, fmt))
