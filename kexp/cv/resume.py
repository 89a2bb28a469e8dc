"""Resuming a CV folder: train only the folds that did not complete (interrupted, failed or
never started), with the spec, settings, data and fold indices the CV started with.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from kexp import backend, experiment
from kexp.cv.folds import FoldOutcome, FoldTask, Job
from kexp.cv.options import CVOptions
from kexp.cv.prepare import whole_data
from kexp.cv.record import CVResult
from kexp.cv.run import execute
from kexp.data import sources as data_mod
from kexp.errors import DataError, RunError
from kexp.model import resolve
from kexp.rundir.write import RunFolder
from kexp.spec import Config, Spec, parse_spec

Log = Callable[[str], None]


def _silent(_: str) -> None:
    pass


def resume(cv_dir: Path, options: experiment.Options, cv_opts: CVOptions,
           log: Log = _silent) -> CVResult:
    """Train the folds of an interrupted (or partly failed) CV folder that did not complete."""
    cv_dir = Path(cv_dir)
    status = _cv_status(cv_dir)
    env = json.loads((cv_dir / "env.json").read_text())
    cfg = Config.model_validate(yaml.safe_load((cv_dir / "config.yaml").read_text()))
    spec, base_dirs = _spec_of(cv_dir, env)
    for d in base_dirs:
        resolve.add_search_path(d)
    raw = data_mod.load(cfg.data, cfg.seed or 0, base_dirs)
    old = (env.get("data") or {}).get("sha256")
    if old and raw.info.get("sha256") and old != raw.info["sha256"]:
        raise DataError(f"{raw.info.get('path')}: the data changed since {cv_dir.name} started "
                        "(sha256 differs); the saved fold indices no longer apply. "
                        "Start a new `kexp cv`")
    x, y, _ = whole_data(cfg, raw, base_dirs, [])
    backend.keras()
    job = Job(spec, cfg, x, y, {**raw.info, "samples": len(x)}, list(status.get("notes") or []),
              options.argv, cv_opts.save_models, cv_opts.plots)
    done, tasks = _folds(cv_dir)
    rf = RunFolder.reopen(cv_dir, status, kind="cv")
    log(f"Resuming {cv_dir}: {len(done)} of {len(done) + len(tasks)} folds completed, "
        f"training {len(tasks)}")
    splitter = (env.get("cv") or {}).get("splitter", "")
    return execute(rf, job, tasks, done, splitter, cv_opts, log)


def _cv_status(cv_dir: Path) -> dict[str, Any]:
    """The CV folder's ``status.json``; RunError if it is missing or not a CV's."""
    try:
        status = json.loads((cv_dir / "status.json").read_text())
    except (OSError, ValueError):
        raise RunError(f"{cv_dir}: no readable status.json; is this a kexp cv folder?") from None
    if status.get("kind") != "cv":
        raise RunError(f"{cv_dir}: a '{status.get('kind')}' folder, not a CV folder (kind cv)")
    return status


def _spec_of(cv_dir: Path, env: dict[str, Any]) -> tuple[Spec, list[Path]]:
    """The CV's spec (located in its original folder) and the folders custom code is found in."""
    spec_text = (cv_dir / "spec.yaml").read_text() if (cv_dir / "spec.yaml").exists() else ""
    spec_dir = (env.get("cv") or {}).get("spec_dir")
    if spec_text:
        spec = parse_spec(spec_text, Path(spec_dir) / "spec.yaml" if spec_dir else None)
    else:
        spec = Spec({})
    base_dirs = [Path.cwd(), *([Path(spec_dir), Path(spec_dir).parent] if spec_dir else [])]
    return spec, base_dirs


def _folds(cv_dir: Path) -> tuple[list[FoldOutcome], list[FoldTask]]:
    """The completed folds' outcomes, and a task for every other fold."""
    done, tasks = [], []
    for p in sorted(p for p in cv_dir.glob("fold-*") if (p / "indices.json").exists()):
        idx = json.loads((p / "indices.json").read_text())
        fst = read_json(p / "status.json")
        if fst.get("status") == "completed":
            metrics = read_json(p / "metrics.json").get("metrics", {})
            done.append(FoldOutcome(idx["fold"], "completed", len(idx["train"]), len(idx["test"]),
                                    metrics, int(fst.get("epochs") or 0), None,
                                    float(fst.get("duration_s") or 0), idx.get("repeat")))
        else:
            tasks.append(FoldTask(idx["fold"], np.array(idx["train"]), np.array(idx["test"]),
                                  idx["seed"], str(p), idx.get("repeat")))
    return done, tasks


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, or ``{}`` when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
