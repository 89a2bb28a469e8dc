"""Metric curves: learning curves of a run, fold curves of a CV folder with their mean
± std, the per-fold chart with the mean and its 95% interval, and several runs overlaid.

Every function takes frames read from a run folder (``history.csv``,
``folds.csv``, ``summary.json``) and returns ``{name: Figure}`` or one figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kexp.report.figure import new_figure
from kexp.rundir.read import higher_is_better
from kexp.stats import ci95

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "cv_curve_figures",
    "cv_mean_history",
    "folds_figure",
    "history_figures",
    "mean_std",
    "metric_families",
    "overlay_figures",
]

# Columns of history.csv that are not metrics (schedules, not results).
_NOT_METRICS = {"learning_rate", "lr"}
_FOLD_COLUMNS = {"fold", "status", "train_size", "test_size", "repeat", "epochs", "duration_s"}


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


def _all_columns(histories: Sequence[pd.DataFrame]) -> list[str]:
    return list(dict.fromkeys(c for history in histories for c in history.columns))


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
    from matplotlib.ticker import MaxNLocator

    ax.set_title(f"{title}: {family}" if title else family)
    ax.set_xlabel("epoch")
    ax.set_ylabel(family)
    ax.grid(True, alpha=0.3)
    locator = ax.xaxis.get_major_locator()
    if isinstance(locator, MaxNLocator):  # the epoch axis's AutoLocator
        locator.set_params(integer=True)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")


#: a run's curve figure (7 x 4.5 in) laid out once: room for tick labels of up to seven
#: characters and the axis labels. A layout engine measures every text on each draw, about
#: a third of the figure's cost, and a run draws one figure per metric family
CURVE_MARGINS = {"left": 0.13, "right": 0.97, "bottom": 0.11, "top": 0.92}


def history_figures(history: pd.DataFrame, title: str = "") -> dict[str, Figure]:
    """One figure per metric family: train solid, validation dashed, best epoch starred.

    Args:
        history: as returned by :func:`kexp.rundir.read.read_history` (index = epoch).
        title: shown before the metric name, e.g. the run name.

    Returns:
        ``{family: Figure}``, e.g. ``{"loss": ..., "accuracy": ...}``.
    """
    figures = {}
    for family, columns in metric_families(list(history.columns)).items():
        fig = new_figure(figsize=(7, 4.5))
        fig.subplots_adjust(**CURVE_MARGINS)
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


def mean_std(histories: Sequence[pd.DataFrame], column: str) -> pd.DataFrame:
    """Mean, std (``ddof=0``) and count per epoch over the folds that reached that epoch."""
    frames = [h[column].dropna() for h in histories if column in h.columns]
    stacked = pd.concat(frames, axis=1) if frames else pd.DataFrame()
    return pd.DataFrame(
        {
            "mean": stacked.mean(axis=1),
            "std": stacked.std(axis=1, ddof=0),
            "n": stacked.notna().sum(axis=1),
        }
    ).sort_index()


def cv_mean_history(histories: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The folds' mean curve of every column, as one history frame."""
    return pd.DataFrame({c: mean_std(histories, c)["mean"] for c in _all_columns(histories)})


def _draw_cv_column(ax: Axes, histories: Sequence[pd.DataFrame], column: str) -> None:
    val = column.startswith("val_")
    color, style = ("C1", "--") if val else ("C0", "-")
    for history in histories:
        if column in history.columns:
            series = history[column].dropna()
            ax.plot(series.index, series.to_numpy(), color=color, linestyle=style,
                    linewidth=0.8, alpha=0.35)
    stats = mean_std(histories, column)
    kind = "validation" if val else "train"
    folds = f"{len(histories)} fold{'' if len(histories) == 1 else 's'}"
    ax.plot(stats.index, stats["mean"].to_numpy(), color=color, linestyle=style,
            linewidth=2.5, label=f"{kind} mean of {folds}")
    ax.fill_between(stats.index, (stats["mean"] - stats["std"]).to_numpy(),
                    (stats["mean"] + stats["std"]).to_numpy(), color=color, alpha=0.15,
                    label=f"{kind} ± std")


def cv_curve_figures(histories: Sequence[pd.DataFrame], title: str = "") -> dict[str, Figure]:
    """Each fold thin, the mean over folds bold with a ± std band, per metric family.

    Folds may differ in length (early stopping): each epoch's mean is over the
    folds that reached it.
    """
    figures = {}
    for family, members in metric_families(_all_columns(histories)).items():
        fig = new_figure(figsize=(7, 4.5), layout="constrained")
        ax = fig.add_subplot()
        for column in members:
            _draw_cv_column(ax, histories, column)
        stats = mean_std(histories, members[-1])
        _mark_best(ax, stats["mean"], family, "C1" if len(members) > 1 else "C0", line=True)
        _style_axes(ax, family, title)
        figures[family] = fig
    return figures


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value):
        return float(value)
    return None


def _fold_metrics(folds: pd.DataFrame) -> list[str]:
    return [
        c for c in folds.columns
        if c not in _FOLD_COLUMNS and pd.api.types.is_numeric_dtype(folds[c])
        and folds[c].notna().any()
    ]


def _draw_fold_metric(ax: Axes, x: pd.Series, values: pd.Series, stats: dict[str, Any]) -> None:
    """Fold points, the mean line, and the 95% interval band (``n/a`` below two folds)."""
    ok = values.notna()
    ax.plot(x[ok], values[ok], marker="o", linestyle="none", color="C0", label="fold")
    mean = _number(stats.get("mean"))
    mean = float(values[ok].mean()) if mean is None else mean
    low, high = _number(stats.get("ci95_low")), _number(stats.get("ci95_high"))
    interval = (low, high) if low is not None and high is not None else ci95(values[ok])
    ax.axhline(mean, color="C3", linewidth=2, label=f"mean {mean:.4g}")
    if interval is None:
        n = int(ok.sum())
        ax.plot([], [], linestyle="none", label=f"95% CI n/a ({n} fold{'' if n == 1 else 's'})")
    else:
        low, high = interval
        ax.axhspan(low, high, color="C3", alpha=0.15, label=f"95% CI [{low:.4g}, {high:.4g}]")


def folds_figure(folds: pd.DataFrame, summary: dict[str, Any], title: str = "") -> Figure | None:
    """The final metric of each fold, with the mean and its 95% confidence interval.

    The interval comes from ``summary.json`` when it has one, else from a t
    interval over the folds in ``folds.csv`` (:func:`kexp.stats.ci95`); with
    fewer than two folds there is none, and the legend says ``n/a``.
    """
    metrics = _fold_metrics(folds)
    if not metrics:
        return None
    fig = new_figure(figsize=(4 * len(metrics) + 1, 4), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    x = folds["fold"] if "fold" in folds.columns else pd.Series(range(1, len(folds) + 1))
    stats_all = summary.get("metrics", {}) if isinstance(summary, dict) else {}
    stats_all = stats_all if isinstance(stats_all, dict) else {}
    for ax, metric in zip(axes, metrics, strict=True):
        stats = stats_all.get(metric)
        _draw_fold_metric(ax, x, folds[metric], stats if isinstance(stats, dict) else {})
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
    figures = {}
    for family, members in metric_families(_all_columns([h for _, h in curves])).items():
        fig = new_figure(figsize=(11, 5), layout="constrained")
        ax = fig.add_subplot()
        for i, (label, history) in enumerate(curves):
            color = f"C{i % 10}"
            present = [c for c in members if c in history.columns]
            for column in present:
                val = column.startswith("val_")
                series = history[column].dropna()
                ax.plot(series.index, series.to_numpy(), color=color,
                        linestyle="--" if val else "-", marker="o" if len(series) == 1 else None,
                        label=f"{label} ({'val' if val else 'train'})")
            if present:
                _mark_best(ax, history[present[-1]], family, color, line=False)
        for line in ax.get_lines():  # one legend entry per curve, not per best marker
            name = line.get_label()
            if isinstance(name, str) and name.startswith("best "):
                line.set_label("_" + name)
        _style_axes(ax, family, "")
        if ax.get_legend() is not None:  # beside the axes: many runs' labels never cover a curve
            ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
        figures[family] = fig
    return figures
