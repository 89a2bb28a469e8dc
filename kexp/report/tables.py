"""The table of runs of ``kexp ls``, one row per run (``kexp compare``: :mod:`.compare`).

Listing reads only small files per run (``status.json``, ``config.yaml``,
``metrics.json`` or ``summary.json``); ``history.csv`` is opened only to count
its lines when ``status.json`` has no ``epochs``. A folder of hundreds of runs
lists in well under a second.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from kexp.errors import KexpError, RunError, did_you_mean
from kexp.rundir.read import Run, higher_is_better, looks_like_run

__all__ = [
    "RunTable",
    "TABLE_FORMATS",
    "format_runs",
    "list_runs",
    "run_row",
]

TABLE_FORMATS = ("table", "csv", "json")
BASE_COLUMNS = [
    "id", "name", "kind", "status", "started", "duration_s", "epochs", "done",
    "backend", "optimizer", "learning_rate", "batch_size", "max_epochs",
]
#: the backend of a run folder whose config.yaml names none (kexp trained on TensorFlow only)
OLD_BACKEND = "tensorflow"


@dataclass
class RunTable:
    """The rows of ``kexp ls`` and what could not be read."""

    frame: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


def _optimizer(config: dict[str, Any]) -> tuple[str | None, float | None]:
    compile_ = c if isinstance(c := config.get("compile"), dict) else {}
    optimizer = compile_.get("optimizer")
    if isinstance(optimizer, str):
        return optimizer, None
    if isinstance(optimizer, dict) and len(optimizer) == 1:
        (name, args), = optimizer.items()
        lr = args.get("learning_rate") if isinstance(args, dict) else None
        return str(name), lr if isinstance(lr, (int, float)) else None
    return None, None


def run_row(run: Run) -> dict[str, Any]:
    """One row of ``kexp ls``: identity, status, main hyperparameters, final metrics.

    ``done`` is what was done of what was planned: a run's epochs (``5/10``), a CV's folds
    its mean is over (``4/5 folds``), a sweep's trials (``5/5 trials``). A sweep's
    hyperparameters, epochs and metrics are its best trial's (none before it has one)."""
    best = run.best_trial
    # a sweep's own config.yaml is its base spec, which no trial need have trained with
    config = best.config if best is not None else {} if run.is_sweep else run.config
    optimizer, lr = _optimizer(config)
    fit = f if isinstance(f := config.get("fit"), dict) else {}
    epochs = best.epochs() if best is not None else None if run.is_sweep else run.epochs()
    row: dict[str, Any] = {
        "id": run.id,
        "name": run.name,
        "kind": run.kind,
        "status": run.state,
        "started": run.status.get("started"),
        "duration_s": run.status.get("duration_s"),
        "epochs": epochs,
        "done": run.progress() or _epochs_done(epochs, fit.get("epochs")),
        "backend": (config.get("backend") or OLD_BACKEND) if config else None,
        "optimizer": optimizer,
        "learning_rate": lr,
        "batch_size": fit.get("batch_size"),
        "max_epochs": fit.get("epochs"),
    }
    for metric, value in run.metrics.items():
        if metric not in row:
            row[metric] = value
    if best is not None:
        run.notes.extend(best.notes)
    return row


def _epochs_done(done: Any, planned: Any) -> str | None:
    """``5/10`` (epochs done of those planned), ``5`` when the plan is unknown."""
    if done is None:
        return None
    return f"{done}/{planned}" if planned is not None else str(done)


def metric_order(names: Iterable[str]) -> list[str]:
    names = list(names)
    return sorted(names, key=lambda n: (0 if n == "loss" else 1 if n.endswith("loss") else 2,
                                        names.index(n)))


def _parse_filter(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise KexpError(f"--filter: expected key=value, received {text!r}")
    return key.strip(), value.strip()


def _matches(value: Any, wanted: str) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return wanted.lower() in ("", "none", "null", "-")
    if str(value) == wanted:
        return True
    try:
        return float(value) == float(wanted)
    except (TypeError, ValueError):
        return str(value).lower() == wanted.lower()


def list_runs(
    runs_dir: Path = Path("runs"),
    *,
    sort: str | None = None,
    filters: Sequence[str] = (),
) -> RunTable:
    """The runs and CV runs directly under ``runs_dir``, one row each.

    Args:
        runs_dir: the folder holding run folders.
        sort: a column or metric; accuracy-like metrics descending, loss-like
            ascending, runs lacking it last. Default: by id (start time).
        filters: ``key=value`` strings; a key is a column (``status``, ``name``)
            or a dotted config key (``fit.batch_size``). All must match.

    Raises:
        RunError: ``runs_dir`` does not exist.
        KexpError: a malformed filter, or an unknown sort or filter key.
    """
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise RunError(f"{runs_dir}: no such runs folder (train something with `kexp run` first)")
    parsed = [_parse_filter(f) for f in filters]
    runs = [Run(p) for p in sorted(runs_dir.iterdir()) if looks_like_run(p)]
    rows = [run_row(run) for run in runs]
    metrics = metric_order(dict.fromkeys(k for row in rows for k in row if k not in BASE_COLUMNS))
    frame = pd.DataFrame(rows, columns=BASE_COLUMNS + metrics)
    warnings = [note for run in runs for note in run.notes]
    frame = frame[_kept(frame, runs, parsed)]
    if sort:
        frame = _sorted(frame, sort)
    return RunTable(frame.reset_index(drop=True), warnings)


def _kept(frame: pd.DataFrame, runs: Sequence[Run],
          filters: Sequence[tuple[str, str]]) -> pd.Series:
    """Which rows match every ``(key, value)`` filter; a key is a column or a config key."""
    keep = pd.Series(True, index=frame.index)
    for key, wanted in filters:
        if key in frame.columns:
            values = frame[key].tolist()
        elif any(key in run.flat_config for run in runs):
            values = [run.flat_config.get(key) for run in runs]
        else:
            known = list(frame.columns) + sorted({k for r in runs for k in r.flat_config})
            hint = did_you_mean(key, known)
            raise KexpError(f"--filter: unknown key {key!r}." + (f" {hint}" if hint else ""))
        keep &= pd.Series([_matches(v, wanted) for v in values], index=frame.index)
    return keep


def _sorted(frame: pd.DataFrame, sort: str) -> pd.DataFrame:
    """Rows by ``sort``: accuracy-like descending, loss-like and columns ascending, NaN last."""
    if sort not in frame.columns:
        hint = did_you_mean(sort, list(frame.columns))
        raise KexpError(
            f"--sort: unknown column or metric {sort!r}."
            + (f" {hint}" if hint else f" Choose from: {', '.join(frame.columns)}")
        )
    ascending = sort in BASE_COLUMNS or not higher_is_better(sort)
    return frame.sort_values(sort, ascending=ascending, na_position="last", kind="stable")


# ------------------------------------------------------------------------ formatting


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or math.isnan(seconds):
        return "-"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _started(value: Any) -> str:
    if not isinstance(value, str):
        return "-"
    try:
        return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return value


def cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def map_cells(frame: pd.DataFrame, fn: Any) -> pd.DataFrame:
    """Elementwise ``fn`` (``DataFrame.map`` is pandas >= 2.1, ``applymap`` before)."""
    frame = frame.astype(object)
    return frame.map(fn) if hasattr(frame, "map") else frame.applymap(fn)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    return [{str(k): v for k, v in r.items()} for r in records]


def format_runs(frame: pd.DataFrame, fmt: str = "table") -> str:
    """Render a :func:`list_runs` frame as an aligned table, CSV or JSON."""
    if fmt == "csv":
        return frame.to_csv(index=False).rstrip("\n")
    if fmt == "json":
        return json.dumps(_records(frame), indent=2, default=str)
    if fmt != "table":
        raise KexpError(f"--format: expected one of {', '.join(TABLE_FORMATS)}, received {fmt!r}")
    if frame.empty:
        return "No runs."
    shown = frame.copy()
    shown["started"] = shown["started"].map(_started)
    shown["duration_s"] = shown["duration_s"].map(_duration)
    shown = shown.drop(columns=["epochs", "max_epochs"])
    if shown["learning_rate"].isna().all():
        shown = shown.drop(columns="learning_rate")
    shown = shown.rename(columns={"duration_s": "duration", "learning_rate": "lr"})
    shown = map_cells(shown, cell)
    return shown.to_string(index=False)
