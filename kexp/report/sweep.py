"""Figures of a sweep folder, from its files only (``trials.csv``, ``summary.json`` and the
trials' ``history.csv``): the metric against each parameter, a parallel-coordinates plot
(one line per completed trial across the parameters and the metric, coloured by the metric),
the best so far by trial, and the learning curves of the best trials (a CV trial's mean over its folds) with short
legend labels."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kexp.errors import RunError
from kexp.report.curves import overlay_figures
from kexp.report.figure import new_figure
from kexp.report.histories import history_of
from kexp.rundir.read import Run

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: columns of trials.csv that are not parameters
RECORD_COLUMNS = ("trial", "status", "epochs", "duration_s", "folder", "error")
#: how many of the best trials' learning curves are drawn
TOP = 5


def trials_table(run: Run) -> tuple[pd.DataFrame, str, str, list[str]]:
    """``trials.csv`` with its metric, goal and parameter columns.

    Raises:
        RunError: trials.csv or summary.json is missing or unusable.
    """
    summary = run.summary
    metric, goal = summary.get("metric"), summary.get("goal")
    if not isinstance(metric, str) or goal not in ("max", "min"):
        raise RunError(f"{run.id}/summary.json: no metric and goal (is the sweep finished?)")
    try:
        frame = pd.read_csv(run.path / "trials.csv")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise RunError(f"{run.id}/trials.csv: cannot be read ({type(exc).__name__})") from None
    params = [c for c in frame.columns if c not in RECORD_COLUMNS and c != metric]
    if frame.empty or metric not in frame.columns:
        raise RunError(f"{run.id}/trials.csv: no trials with {metric}")
    return frame, metric, goal, params


def _by_parameter(frame: pd.DataFrame, metric: str, param: str, title: str) -> Figure:
    fig = new_figure(figsize=(6, 4.2), layout="constrained")
    ax = fig.add_subplot()
    done = frame[frame["status"] == "completed"]
    values = pd.to_numeric(done[param], errors="coerce")
    if values.notna().all() and len(done):
        ax.plot(values, done[metric], marker="o", linestyle="none", color="C0")
    else:  # categorical: one column of points per value, in order of appearance
        names = list(dict.fromkeys(done[param].astype(str)))
        ax.plot([names.index(v) for v in done[param].astype(str)], done[metric], marker="o",
                linestyle="none", color="C0")
        ax.set_xticks(range(len(names)), names, rotation=30 if len(names) > 4 else 0)
    ax.set(xlabel=param.split(".")[-1], ylabel=metric, title=f"{title}: {metric} by {param}")
    ax.grid(True, alpha=0.3)
    return fig


def _best_so_far(frame: pd.DataFrame, metric: str, goal: str, title: str) -> Figure:
    from matplotlib.ticker import MaxNLocator

    fig = new_figure(figsize=(6, 4.2), layout="constrained")
    ax = fig.add_subplot()
    values = frame[metric].where(frame["status"] == "completed")
    best = values.cummax() if goal == "max" else values.cummin()
    ax.plot(frame["trial"], values, marker="o", linestyle="none", color="C0", label="trial")
    ax.step(frame["trial"], best, where="post", color="C3", label=f"best so far ({goal})")
    ax.set(xlabel="trial", ylabel=metric, title=f"{title}: best {metric} so far")
    locator = ax.xaxis.get_major_locator()
    if isinstance(locator, MaxNLocator):  # the trial axis's AutoLocator
        locator.set_params(integer=True)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def _axis_names(paths: list[str]) -> list[str]:
    """The shortest dotted tail that tells each path apart: ``units``, or ``0.Dense.units``
    and ``1.Dense.units`` for two layers' units."""
    names = []
    for path in paths:
        parts = path.split(".")
        for n in range(1, len(parts) + 1):
            tail = ".".join(parts[-n:])
            if sum(other == tail or other.endswith("." + tail) for other in paths) == 1:
                break
        names.append(tail)
    return names


def _cut(text: str, width: int = 18) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _numeric_axis(x: np.ndarray) -> tuple[np.ndarray, list[tuple[float, str]]]:
    lo, hi = float(x.min()), float(x.max())
    log = lo > 0 and hi / lo >= 100
    f = np.log10 if log else (lambda v: v)
    span = f(hi) - f(lo)
    if span == 0:
        return np.full(len(x), 0.5), [(0.5, f"{lo:.4g}")]
    distinct = np.unique(x)
    ticks = distinct if len(distinct) <= 6 else [lo, 10 ** ((f(lo) + f(hi)) / 2) if log else (lo + hi) / 2, hi]
    digits = next((d for d in range(3, 9) if len({f"{t:.{d}g}" for t in ticks}) == len(ticks)), 9)
    return (f(x) - f(lo)) / span, [(float((f(t) - f(lo)) / span), f"{t:.{digits}g}") for t in ticks]


def _axis(values: pd.Series) -> tuple[np.ndarray, list[tuple[float, str]]]:
    """One axis of the parallel-coordinates plot: each value's position in [0, 1] and the
    axis' ticks. Numbers are scaled between their minimum and maximum (logarithmically when
    positive and spanning 100x or more); anything else is a category, one position each in
    order of appearance."""
    if values.dtype != bool:
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.notna().all():
            return _numeric_axis(numbers.to_numpy(dtype=float))
    names = list(dict.fromkeys(values.astype(str)))
    step = 1 / (len(names) - 1) if len(names) > 1 else 0.0
    where = {name: i * step if len(names) > 1 else 0.5 for i, name in enumerate(names)}
    return (np.array([where[v] for v in values.astype(str)]),
            [(where[name], _cut(name)) for name in names])


def _parallel(frame: pd.DataFrame, metric: str, goal: str, params: list[str],
              title: str) -> Figure | None:
    """One line per completed trial across the parameters and the metric, coloured by the
    metric (the best bright, drawn last); None when no trial completed."""
    from matplotlib import cm, colormaps, colors

    finite = np.isfinite(pd.to_numeric(frame[metric], errors="coerce").astype(float))
    done = frame[(frame["status"] == "completed") & finite]
    if done.empty:
        return None
    done = done.sort_values("trial").reset_index(drop=True)
    columns = [*params, metric]
    axes = [_axis(done[c]) for c in columns]
    value = done[metric].to_numpy(dtype=float)
    order = list(np.argsort(value if goal == "max" else -value, kind="stable"))  # the best last
    norm = colors.Normalize(value.min(), value.max())
    cmap = colormaps["viridis" if goal == "max" else "viridis_r"]
    fig = new_figure(figsize=(max(6.0, 1.7 * len(columns) + 2.5), 4.6), layout="constrained")
    ax = fig.add_subplot()
    xs = np.arange(len(columns))
    for i in order:
        best = i == order[-1]
        ax.plot(xs, [pos[i] for pos, _ in axes], marker="o", markersize=3,
                color=cmap(norm(value[i]) if value.max() > value.min() else float(goal == "max")),
                linewidth=2.8 if best else 1.3, alpha=1.0 if best else 0.75, zorder=3 if best else 2,
                label=f"best: trial {done['trial'].iloc[i]}" if best else None)
    for x, (_, ticks) in zip(xs, axes, strict=True):
        ax.axvline(float(x), color="0.45", linewidth=0.8, zorder=1)
        for y, text in ticks:
            ax.text(x - 0.03, y, text, ha="right", va="center", fontsize="x-small", zorder=4,
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none",
                          "alpha": 0.8})
    ax.set_xticks(xs, [*_axis_names(params), metric], fontsize="small")
    ax.set(xlim=(-0.6, len(columns) - 0.7), ylim=(-0.06, 1.06), yticks=[])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    failed = len(frame) - len(done)
    note = f"; {failed} failed, not drawn" if failed else ""
    ax.set_title(f"{title}: {len(done)} completed trial(s){note}", fontsize="medium")
    if value.max() > value.min():
        fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=f"{metric} ({goal})")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(0, -0.1), frameon=False)
    return fig


def _short(frame: pd.DataFrame, row: Any, params: list[str]) -> str:
    """The values of the parameters that differ between trials: ``#2 repeat=1``."""
    varying = [p for p in params if frame[p].astype(str).nunique() > 1]
    shown = ", ".join(f"{p.split('.')[-1]}={row[p]}" for p in varying[:3])
    return f"#{row['trial']} {shown}".strip()


def sweep_figures(run: Run, warnings: list[str]) -> dict[str, Figure]:
    """Every figure of a sweep folder (see the module docstring)."""
    frame, metric, goal, params = trials_table(run)
    figures = {f"by-{p.replace('.', '_')}": _by_parameter(frame, metric, p, run.name) for p in params}
    parallel = _parallel(frame, metric, goal, params, run.name)
    if parallel is not None:
        figures["parallel"] = parallel
    figures["best-so-far"] = _best_so_far(frame, metric, goal, run.name)
    done = frame[frame["status"] == "completed"].sort_values(metric, ascending=goal == "min")
    curves = []
    for _, row in done.head(TOP).iterrows():
        try:
            curves.append((_short(frame, row, params), history_of(Run(run.path / row["folder"]), warnings)))
        except RunError as exc:
            warnings.append(f"{run.id}/{exc}")
    if curves:
        figures.update({f"top-{k}": fig for k, fig in overlay_figures(curves).items()})
    return figures
