"""``kexp export mlflow``: run, CV and sweep folders made earlier, sent to MLflow.

Each folder becomes one MLflow run (a CV's folds and a sweep's trials its children, as
when they are tracked live) with the same parameters, tags, per-epoch metrics
(``history.csv``), final metrics and files. A folder whose id (``kexp.run_id``) is in the
experiment already, sent earlier or tracked live, is skipped: exporting twice never makes
a second run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kexp.errors import RunError
from kexp.rundir.read import read_history, resolve_runs
from kexp.track import folder as folder_mod
from kexp.track.mlflow import Tracker, client, experiment_id, find_run, require, run_key


@dataclass
class Exported:
    """What one export did: runs created and folders skipped, by kexp id."""

    created: list[tuple[str, str]] = field(default_factory=list)  # (kexp id, MLflow run id)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def children(path: Path) -> list[Path]:
    """A CV folder's folds, a sweep folder's trials and refit (each a run or CV folder)."""
    kind = (folder_mod.read_json(path / "status.json") or {}).get("kind")
    if kind == "cv":
        found = sorted(path.glob("fold-*"))
    elif kind == "sweep":
        found = sorted((path / "trials").glob("*")) + [path / "refit"]
    else:
        return []
    return [p for p in found if (p / "status.json").is_file()]


def experiment_of(path: Path) -> str:
    """The experiment a folder goes to by default: its spec's name (``tracking.mlflow.
    experiment`` when the spec gave one)."""
    import yaml

    try:
        config = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        config = {}
    tracking = ((config.get("tracking") or {}).get("mlflow") or {}) if isinstance(config, dict) else {}
    name = tracking.get("experiment") or (config.get("name") if isinstance(config, dict) else None)
    return str(name or (folder_mod.read_json(path / "status.json") or {}).get("name") or "kexp")


def export(folders: list[str], uri: str | None, experiment: str | None = None,
           log: Callable[[str], None] = lambda _: None) -> Exported:
    """Send ``folders`` (paths or glob patterns) to the store at ``uri``."""
    require(None)
    paths = resolve_runs(folders)
    done = Exported()
    for path in paths:
        name = experiment or experiment_of(path)
        _send(path, uri, name, None, done, log)
    return done


def _send(path: Path, uri: str | None, name: str, parent: str | None, done: Exported,
          log: Callable[[str], None]) -> None:
    """One folder, then its children under it."""
    key = run_key(path)
    mc = client(uri)
    try:
        found = find_run(mc, experiment_id(mc, name), key)
    except Exception as exc:  # noqa: BLE001 - the store's failure is reported, not a traceback
        raise RunError(f"MLflow store {uri or '(default)'}: {type(exc).__name__}: {exc}") from None
    if found is not None:
        run_id = str(found.info.run_id)
        done.skipped.append((key, run_id))
        log(f"{key}: exported already (MLflow run {run_id}); skipped")
    else:
        created = _create(path, uri, name, key, parent, done)
        if created is None:
            return
        run_id = created
        done.created.append((key, run_id))
        log(f"{key}: MLflow run {run_id} in experiment {name!r}")
    for child in children(path):
        _send(child, uri, name, run_id, done, log)


def _create(path: Path, uri: str | None, name: str, key: str, parent: str | None,
            done: Exported) -> str | None:
    tracker = Tracker(uri, lambda message: done.failures.append(f"{key}: {message}"))
    if tracker.start(name, key, path.name, folder_mod.tags(path), parent) is None:
        return None
    tracker.log(params=folder_mod.config_params(path), metrics=folder_mod.final_metrics(path))
    for step, values in _history(path):
        tracker.log(metrics=values, step=step)
    nested = {p.resolve() for p in children(path)}
    for item in sorted(path.iterdir()):
        if item.resolve() in nested or item.name.startswith("."):
            continue
        under = item.name if item.is_dir() else None
        tracker.call("uploading the folder", _upload, tracker.run_id, item, under)
    status = str((folder_mod.read_json(path / "status.json") or {}).get("status"))
    tracker.end(folder_mod.MLFLOW_STATUS.get(status, "FINISHED"))
    return tracker.run_id if tracker.failed is None else None


def _upload(mc: Any, run_id: str, item: Path, under: str | None) -> None:
    if under is None:
        mc.log_artifact(run_id, str(item))
    else:
        mc.log_artifacts(run_id, str(item), under)


def _history(path: Path) -> list[tuple[int, dict[str, float]]]:
    """``history.csv`` as (step, values) per epoch, step 0-based as when tracked live."""
    if not (path / "history.csv").is_file():
        return []
    try:
        frame, _ = read_history(path / "history.csv")
    except RunError:
        return []
    return [(int(epoch) - 1, {k: float(v) for k, v in row.items() if v == v})
            for epoch, row in frame.iterrows()]
