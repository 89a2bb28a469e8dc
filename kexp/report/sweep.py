"""Figures of a sweep folder, from its files only (``trials.csv``, ``summary.json`` and the
trials' ``history.csv``): the metric against each parameter, the best so far by trial, and
the learning curves of the best trials with short legend labels."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from kexp.errors import RunError
from kexp.report.curves import overlay_figures
from kexp.report.figure import new_figure
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
    fig = new_figure(figsize=(6, 4.2), layout="constrained")
    ax = fig.add_subplot()
    values = frame[metric].where(frame["status"] == "completed")
    best = values.cummax() if goal == "max" else values.cummin()
    ax.plot(frame["trial"], values, marker="o", linestyle="none", color="C0", label="trial")
    ax.step(frame["trial"], best, where="post", color="C3", label=f"best so far ({goal})")
    ax.set(xlabel="trial", ylabel=metric, title=f"{title}: best {metric} so far")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
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
    figures["best-so-far"] = _best_so_far(frame, metric, goal, run.name)
    done = frame[frame["status"] == "completed"].sort_values(metric, ascending=goal == "min")
    curves = []
    for _, row in done.head(TOP).iterrows():
        try:
            curves.append((_short(frame, row, params), Run(run.path / row["folder"]).history()))
        except RunError as exc:
            warnings.append(f"{run.id}/{exc}")
    if curves:
        figures.update({f"top-{k}": fig for k, fig in overlay_figures(curves).items()})
    return figures
