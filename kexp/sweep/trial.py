"""One trial of a sweep: its spec trained and recorded in its own run folder.

:func:`run_trial` never raises for a trial's own failure (a bad combination, a NaN
loss): it returns the outcome with the error, so that the sweep goes on; Ctrl-C and
SIGTERM propagate.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kexp import experiment
from kexp.errors import KexpError
from kexp.rundir.read import read_history
from kexp.rundir.write import RunFolder
from kexp.spec import Spec


@dataclass
class TrialTask:
    """What a worker needs to run one trial (picklable)."""

    number: int
    params: dict[str, Any]
    spec: Spec
    path: str
    metric: str
    argv: list[str]
    plots: bool = True
    save_model: bool = True


@dataclass
class TrialOutcome:
    number: int
    params: dict[str, Any]
    status: str  # completed | failed
    value: float | None = None  # the sweep's metric
    metrics: dict[str, float] = field(default_factory=dict)
    epochs: int = 0
    duration_s: float = 0.0
    error: str | None = None
    folder: str = ""


def run_trial(task: TrialTask) -> TrialOutcome:
    """Train the trial into ``task.path`` (emptied first: a resumed trial starts over)."""
    t0 = time.monotonic()
    path = Path(task.path)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    rf = RunFolder(path)
    out = TrialOutcome(task.number, task.params, "failed", folder=path.name)
    options = experiment.Options(verbose=0, argv=task.argv, plots=task.plots,
                                 save_model=task.save_model, runs_dir=path.parent)
    try:
        prepared = experiment.prepare(task.spec, options)
        result = experiment.train_in_folder(prepared, rf, options)
        out.status, out.metrics = "completed", result.metrics
        out.value = metric_value(path, result.metrics, task.metric)
        if out.value is None:
            out.status = "failed"
            out.error = f"no metric {task.metric!r} in metrics.json or history.csv"
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - a trial's failure is recorded, the sweep goes on
        out.error = str(exc) if isinstance(exc, KexpError) else f"{type(exc).__name__}: {exc}"
        if rf.status.get("status") in (None, "running"):
            rf.set_status("failed", error=out.error)
    out.epochs = int(rf.status.get("epochs") or 0)
    out.duration_s = round(time.monotonic() - t0, 3)
    return out


def metric_value(path: Path, metrics: dict[str, float], name: str) -> float | None:
    """The sweep's metric of a finished run: a test metric, else the last value of that
    history column (``val_accuracy``)."""
    if name in metrics:
        return float(metrics[name])
    try:
        history, _ = read_history(path / "history.csv")
    except KexpError:
        return None
    if name not in history.columns or history[name].dropna().empty:
        return None
    return float(history[name].dropna().iloc[-1])
