"""One trial of a sweep: its spec trained and recorded in its own run folder, or, with
``--cv K``, cross-validated into its own CV folder (:mod:`kexp.sweep.cvtrial`).

:func:`run_trial` never raises for a trial's own failure (a bad combination, a NaN
loss): it returns the outcome with the error, so that the sweep goes on; Ctrl-C and
SIGTERM propagate. :func:`finished` reads a completed trial back from its folder (resume).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kexp import experiment
from kexp.errors import KexpError
from kexp.rundir.read import json_object, read_history
from kexp.rundir.write import RunFolder
from kexp.spec import Config, Spec, load_config
from kexp.sweep import cvtrial
from kexp.train import warm


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
    cv: int | None = None  # --cv K: a K-fold CV folder, the objective the fold mean
    prune: Any = None  # sweep.prune: the kexp.sweep.prune.PruneTarget each epoch reports to
    stack: bool = False  # --stack: the CV's folds stacked (kexp.cv.stack)


@dataclass
class TrialOutcome:
    number: int
    params: dict[str, Any]
    status: str  # completed | failed | pruned
    value: float | None = None  # the sweep's metric
    metrics: dict[str, float] = field(default_factory=dict)
    epochs: int = 0
    duration_s: float = 0.0
    error: str | None = None
    folder: str = ""


def run_trial(task: TrialTask) -> TrialOutcome:
    """Train the trial into ``task.path``: on from the checkpoint an earlier attempt left
    there (:func:`kexp.experiment.checkpoint_of`), else into an emptied folder."""
    t0 = time.monotonic()
    path = Path(task.path)
    resume = _checkpoint(task, path)
    if path.exists() and resume is None:
        shutil.rmtree(path)
    out = TrialOutcome(task.number, task.params, "failed", folder=path.name)
    if task.cv is not None:
        _cross_validated(task, path, out)
    else:
        _single_run(task, path, out, resume)
    out.duration_s = round(time.monotonic() - t0, 3)
    return out


def _message(exc: Exception) -> str:
    return str(exc) if isinstance(exc, KexpError) else f"{type(exc).__name__}: {exc}"


def _checkpoint(task: TrialTask, path: Path) -> tuple[Any, Any] | None:
    """(checkpoint, the folder's config) of a trial folder that did not complete, when it
    has a usable one (a ``--cv`` trial's folds resume through its CV folder instead)."""
    if task.cv is not None or not path.is_dir():
        return None
    ckpt, cfg, _ = experiment.checkpoint_of(path, load_config(task.spec))
    return (ckpt, cfg) if ckpt is not None else None


def _single_run(task: TrialTask, path: Path, out: TrialOutcome,
                resume: tuple[Any, Any] | None = None) -> None:
    path.mkdir(parents=True, exist_ok=resume is not None)
    rf = RunFolder(path)
    if resume is not None:
        rf = RunFolder.resumed(path, json_object(path / "status.json")[0], resume[0].epoch)
    pruning = task.prune.callback() if task.prune is not None else None
    extra = {"callbacks": [pruning]} if pruning is not None else {}  # sweep.prune
    options = experiment.Options(verbose=0, argv=task.argv, plots=task.plots,
                                 save_model=task.save_model, runs_dir=path.parent,
                                 reuse_data=True, **extra)
    try:
        prepared = _on_warm_model(task.spec, options, resume[1] if resume else None)
        result = experiment.train_in_folder(prepared, rf, options,
                                            resume=resume[0] if resume else None)
        out.status, out.metrics = "completed", result.metrics
        out.value = metric_value(path, result.metrics, task.metric)
        if out.value is None:
            out.status = "failed"
            out.error = f"no metric {task.metric!r} in metrics.json or history.csv"
        if pruning is not None:
            pruning.settle(out, rf)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - a trial's failure is recorded, the sweep goes on
        out.error = _message(exc)
        if rf.status.get("status") in (None, "running"):
            rf.set_status("failed", error=out.error)
    out.epochs = int(rf.status.get("epochs") or 0)


def _on_warm_model(spec: Spec, options: experiment.Options,
                   cfg: Config | None = None) -> experiment.Prepared:
    """The trial prepared (its fresh model built from its seed), on this process's warm
    model when an earlier trial had the same model and compile sections: a grid over batch
    size, epochs or seeds traces its model once (:func:`kexp.train.warm.start_on`, the
    same numbers). ``cfg``: the config a resumed trial's folder holds (its seed)."""
    cfg = cfg or load_config(spec)

    def build() -> tuple[experiment.Prepared, Any]:
        prepared = experiment.prepare(spec, options, cfg=cfg)
        return prepared, prepared.model

    prepared, model = warm.start_on(warm.PROCESS, warm.key(cfg), build)
    return replace(prepared, model=model)


def _cross_validated(task: TrialTask, path: Path, out: TrialOutcome) -> None:
    """A K-fold CV into the CV folder ``path``: :func:`cross_validated`."""
    assert task.cv is not None
    cross_validated(task, out, lambda: cvtrial.cross_validate_trial(
        task.spec, path, task.cv or 0, task.argv, task.plots, task.save_model, task.stack))


def cross_validated(task: TrialTask, out: TrialOutcome, run: Callable[[], Any]) -> None:
    """Fill ``out`` from the trial's CV (``run()``, into ``task.path``); the objective is
    the fold mean. A trial with a failed fold is failed (its mean would cover fewer folds
    than the others'); its own errors are recorded, not raised."""
    path = Path(task.path)
    try:
        result = run()
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - a trial's failure is recorded, the sweep goes on
        out.error = _message(exc)
        cvtrial.mark_failed(path, out.error)
        return
    out.epochs = max((o.epochs for o in result.outcomes), default=0)
    out.metrics = cvtrial.fold_means(result.summary)
    if result.failed:
        out.error = cvtrial.failed_folds(result)
        return
    out.value = cvtrial.objective(path, result.summary, task.metric)
    if out.value is None:
        out.error = (f"no metric {task.metric!r} in the CV folder's summary.json or its folds' "
                     "history.csv")
    else:
        out.status = "completed"


def finished(folder: Path, number: int, params: dict[str, Any], metric: str,
             cv: bool = False) -> TrialOutcome | None:
    """The outcome of a trial whose folder (a run folder, or with ``cv`` a CV folder) says
    completed (or pruned), read back from its files; None when it must be trained again."""
    status, problem = json_object(folder / "status.json")
    if problem or (status.get("status") not in ("completed", "pruned")
                   or status.get("kind", "run") != ("cv" if cv else "run")):
        return None
    try:
        if cv:
            summary, problem = json_object(folder / "summary.json")
            if problem:
                return None
            metrics, value = cvtrial.fold_means(summary), cvtrial.objective(folder, summary, metric)
        else:
            data, problem = json_object(folder / "metrics.json")
            if problem:
                return None
            metrics = data["metrics"]
            value = metric_value(folder, metrics, metric)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if value is None:
        return None
    return TrialOutcome(number, params, status["status"], value, metrics, int(status.get("epochs") or 0),
                        float(status.get("duration_s") or 0), status.get("pruned"), folder.name)


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
