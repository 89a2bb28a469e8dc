"""Read run folders robustly: status, config, metrics, history, CV folds.

Read by :mod:`kexp.report` (plots, ``kexp ls``, ``kexp compare``). Only small plain
files are read (JSON, YAML, CSV); nothing here imports TensorFlow or matplotlib.

A file that is missing or unreadable gives ``None`` (or an empty frame) plus,
where it matters, a :class:`~kexp.errors.RunError` naming the file and what is
wrong with it, so that callers can plot or list what exists.
"""

from __future__ import annotations

import glob
import io
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from kexp.engine.lifeline import pid_alive
from kexp.errors import RunError
from kexp.rundir.coverage import FoldCoverage, fold_coverage, fold_number
from kexp.rundir.files import json_object, read_json
from kexp.rundir.flat import differing_keys, flatten

__all__ = [
    "FoldCoverage",
    "Run",
    "differing_keys",
    "flatten",
    "fold_number",
    "higher_is_better",
    "json_object",
    "looks_like_run",
    "pid_alive",
    "read_history",
    "read_json",
    "resolve_runs",
]

# Substrings of metric names where a larger value is better; everything else
# (loss, mae, mse, ..._error, crossentropy, hinge, ...) is minimised.
_HIGHER_IS_BETTER = (
    "accuracy",
    "acc",
    "auc",
    "precision",
    "recall",
    "f1",
    "fbeta",
    "iou",
    "r2",
    "cosine_similarity",
    "true_positives",
    "true_negatives",
)
_LOWER_OVERRIDES = ("loss", "error", "crossentropy", "hinge", "mae", "mse", "mape", "msle")


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (accuracy, auc) or not (loss, mae).

    Prefixes such as ``val_`` and output names (``out1_accuracy``) are allowed.

    >>> higher_is_better("val_accuracy"), higher_is_better("out1_loss")
    (True, False)
    """
    name = metric.lower()
    if any(word in name for word in _LOWER_OVERRIDES):
        return False
    return any(word in name for word in _HIGHER_IS_BETTER)


# libyaml's safe loader parses config.yaml ~10x faster than the pure-Python one,
# which is what makes `kexp ls` of hundreds of runs quick. Both refuse Python tags.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> tuple[Any, str | None]:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_SafeLoader), None
    except FileNotFoundError:
        return None, None
    except (OSError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        return None, f"{path.name} cannot be read ({first})"


def read_history(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """Read a CSVLogger ``history.csv`` into numeric columns indexed by epoch (from 1).

    A partial last line (a run still writing) and malformed lines are skipped
    with a note. Returns ``(frame, notes)``.

    Raises:
        RunError: the file is missing, empty, has no epochs or no numeric column.
    """
    where = f"{path.parent.name}/{path.name}"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise RunError(
            f"{where}: not found (the run may have failed before its first epoch)"
        ) from None
    except OSError as exc:
        raise RunError(f"{where}: cannot be read ({exc})") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise RunError(f"{where}: empty (no epoch was logged)")
    try:
        frame = pd.read_csv(io.StringIO("\n".join(lines)), on_bad_lines="skip")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise RunError(f"{where}: malformed CSV ({exc})") from None
    notes = []
    skipped = len(lines) - 1 - len(frame)
    frame = frame.apply(pd.to_numeric, errors="coerce")
    metrics = [c for c in frame.columns if c != "epoch"]
    frame = frame.dropna(axis=1, how="all")
    complete = frame[[c for c in metrics if c in frame.columns]].notna().any(axis=1)
    skipped += int((~complete).sum())
    frame = frame[complete]
    if skipped:
        notes.append(f"{where}: skipped {skipped} malformed or partial line(s)")
    if frame.empty or len(frame.columns.drop("epoch", errors="ignore")) == 0:
        raise RunError(f"{where}: no epochs with numeric metrics (header: {lines[0][:80]!r})")
    if "epoch" in frame.columns and frame["epoch"].notna().all():
        epochs = frame["epoch"].astype(int) + 1  # CSVLogger counts from 0, Keras prints from 1
    else:
        epochs = pd.Series(range(1, len(frame) + 1), index=frame.index)
    frame = frame.drop(columns="epoch", errors="ignore")
    frame.index = pd.Index(epochs.to_numpy(), name="epoch")
    frame = frame[~frame.index.duplicated(keep="last")].sort_index()
    return frame, notes


@dataclass
class Run:
    """One run folder or CV folder; each file is read once, when first needed."""

    path: Path
    notes: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.path.name

    @cached_property
    def status(self) -> dict[str, Any]:
        data, problem = read_json(self.path / "status.json")
        if problem:
            self.notes.append(f"{self.id}: {problem}")
        return data if isinstance(data, dict) else {}

    @cached_property
    def config(self) -> dict[str, Any]:
        data, problem = _read_yaml(self.path / "config.yaml")
        if problem:
            self.notes.append(f"{self.id}: {problem}")
        return data if isinstance(data, dict) else {}

    @cached_property
    def flat_config(self) -> dict[str, Any]:
        return flatten(self.config)

    @property
    def kind(self) -> str:
        kind = self.status.get("kind")
        if kind in ("run", "cv", "sweep"):
            return str(kind)
        return "cv" if (self.path / "folds.csv").exists() else "run"

    @property
    def is_cv(self) -> bool:
        return self.kind == "cv"

    @property
    def is_sweep(self) -> bool:
        return self.kind == "sweep"

    @property
    def name(self) -> str:
        return str(self.status.get("name") or self.config.get("name") or self.id)

    @property
    def state(self) -> str:
        """``status.json``'s status; ``died`` for a running run whose process is gone;
        ``incomplete`` for a completed CV folder that no longer holds all its folds."""
        status = self.status.get("status")
        if not status:
            return "unknown"
        if status == "running":
            pid, host = self.status.get("pid"), self.status.get("host")
            if isinstance(pid, int) and host == socket.gethostname() and not pid_alive(pid):
                return "died"
        if status == "completed" and self.is_cv:
            coverage = self.fold_coverage
            if coverage is not None and not coverage.whole:
                return "incomplete"
        return str(status)

    @cached_property
    def metrics(self) -> dict[str, float]:
        """Test metrics (``metrics.json``), for a CV folder the fold means (over the folds it
        still holds: :attr:`fold_coverage`), for a sweep its best trial's metric (and that
        trial's number as ``best_trial``, then its other metrics)."""
        if self.is_sweep:
            data = self.summary
            best = data.get("best")
            out: dict[str, Any] = {}
            if isinstance(best, dict) and isinstance(data.get("metric"), str):
                out = {data["metric"]: best.get("value"), "best_trial": best.get("trial")}
                others = best.get("metrics")
                if isinstance(others, dict):
                    out.update({k: v for k, v in others.items() if k not in out})
        elif self.is_cv:
            coverage = self.fold_coverage
            if coverage is not None and not coverage.whole:
                out = dict(coverage.means)
            else:
                values = self.summary.get("metrics", {})
                values = values if isinstance(values, dict) else {}
                out = {k: v.get("mean") for k, v in values.items() if isinstance(v, dict)}
        else:
            data, problem = read_json(self.path / "metrics.json")
            values = (data or {}).get("metrics", {}) if isinstance(data, dict) else {}
            out = dict(values) if isinstance(values, dict) else {}
            if problem:
                self.notes.append(f"{self.id}: {problem}")
        return {k: float(v) for k, v in out.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)}

    @cached_property
    def summary(self) -> dict[str, Any]:
        data, problem = read_json(self.path / "summary.json")
        if problem:
            self.notes.append(f"{self.id}: {problem}")
        return data if isinstance(data, dict) else {}

    @cached_property
    def fold_coverage(self) -> FoldCoverage | None:
        """Which folds a finished CV folder's summary is over and whether the folder still
        holds them (:func:`kexp.rundir.coverage.fold_coverage`); a fold that is gone gives a
        note saying the mean is over fewer folds and that ``kexp cv --resume`` trains it
        again. None for a folder that is not a CV's, or not a finished one (completed or
        failed: a CV running or interrupted has no final summary)."""
        if not self.is_cv or self.status.get("status") not in ("completed", "failed"):
            return None
        coverage = fold_coverage(self.summary, self.fold_dirs())
        if coverage is not None and not coverage.whole:
            self.notes.append(coverage.note(self.id, self.path))
        return coverage

    @cached_property
    def best_trial(self) -> Run | None:
        """A sweep's best trial folder (``summary.json``'s ``best``), or None (no best yet, or
        not a sweep); a best trial whose folder is gone gives a note."""
        if not self.is_sweep:
            return None
        best = self.summary.get("best")
        folder = best.get("folder") if isinstance(best, dict) else None
        if not isinstance(folder, str) or not folder:
            return None
        path = self.path / folder
        if not path.is_dir():
            self.notes.append(f"{self.id}: the best trial's folder {folder} is missing")
            return None
        return Run(path)

    def progress(self) -> str | None:
        """What is done of what was planned: ``4/5 folds`` of a CV folder, ``5/5 trials`` of
        a sweep; None for a run (its epochs say it), or when the folder does not say."""
        if self.is_cv:
            if (coverage := self.fold_coverage) is not None:
                return coverage.progress()
            return _fraction(self.status.get("folds_done"), self.status.get("folds"), "folds")
        if self.is_sweep:
            done = self.status.get("trials_done")
            completed = self.summary.get("completed")
            if not _count(done) and isinstance(completed, int):  # trials done: any outcome
                lists = [self.summary.get(k) for k in ("failed", "pruned")]
                done = completed + sum(len(x) for x in lists if isinstance(x, list))
            planned = self.status.get("trials")
            return _fraction(done, planned if _count(planned) else self.summary.get("trials"),
                             "trials")
        return None

    def epochs(self) -> int | None:
        """Completed epochs: ``status.json``'s count, else the lines of history.csv."""
        value = self.status.get("epochs")
        if isinstance(value, int):
            return value
        if self.is_cv:
            return None
        try:
            with open(self.path / "history.csv", "rb") as fh:
                count = sum(1 for line in fh if line.strip())
        except OSError:
            return None
        return max(count - 1, 0)

    def history(self) -> pd.DataFrame:
        """The run's history (see :func:`read_history`); notes go to ``self.notes``."""
        frame, notes = read_history(self.path / "history.csv")
        self.notes.extend(notes)
        return frame

    def fold_dirs(self) -> list[Path]:
        return sorted(p for p in self.path.glob("fold-*") if p.is_dir())

    def folds_table(self) -> pd.DataFrame:
        """``folds.csv`` of a CV folder.

        Raises:
            RunError: missing, empty or malformed.
        """
        path = self.path / "folds.csv"
        try:
            frame = pd.read_csv(path)
        except FileNotFoundError:
            raise RunError(f"{self.id}/folds.csv: not found") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as exc:
            raise RunError(f"{self.id}/folds.csv: cannot be read ({exc})") from None
        if frame.empty:
            raise RunError(f"{self.id}/folds.csv: no folds")
        return frame


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _fraction(done: Any, planned: Any, unit: str) -> str | None:
    """``4/5 folds``; None unless both are counts."""
    return f"{done}/{planned} {unit}" if _count(done) and _count(planned) else None


def looks_like_run(path: Path) -> bool:
    """Whether ``path`` is a folder holding ``status.json``, ``config.yaml`` or ``history.csv``."""
    return path.is_dir() and any(
        (path / name).exists() for name in ("status.json", "config.yaml", "history.csv")
    )


def resolve_runs(patterns: Iterable[str | Path]) -> list[Path]:
    """Run folders from paths or glob patterns, in order, without duplicates.

    Raises:
        RunError: a pattern matches nothing, or a path is not a run folder.
    """
    out: dict[Path, None] = {}
    for pattern in patterns:
        text = str(pattern)
        path = Path(text)
        if path.exists():
            matches = [path]
        else:
            matches = [Path(p) for p in sorted(glob.glob(text))]
            if not matches:
                raise RunError(f"{text}: no such run folder")
        runs = [p for p in matches if looks_like_run(p)]
        if not runs:
            raise RunError(
                f"{text}: not a run folder (expected status.json, config.yaml or history.csv in it)"
            )
        out.update(dict.fromkeys(runs))
    return list(out)
