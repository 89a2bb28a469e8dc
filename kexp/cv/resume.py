"""Resuming a CV folder: train the folds that did not complete, as the same experiment.

The folder's lock is taken first (:mod:`kexp.engine.lock`: one process at a time). Then the
folder is checked against ``cv.json``, the record the CV wrote when it started
(:mod:`kexp.cv.fingerprint`): its ``config.yaml``, ``spec.yaml``, the data files and
the folds split again from the data must be those it started with, or the resume is
refused (exit 2, saying what differs). A fold is kept only when its folder is whole
(``indices.json`` as recorded, ``status.json`` completed, ``metrics.json`` readable);
every other fold (interrupted, failed, never started, deleted or damaged) is trained
again from the record, so the summary is always over all K folds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kexp import backend, experiment
from kexp.cv import fingerprint, hashed, own_folds
from kexp.cv.folds import FoldOutcome, FoldTask, Job, recorded_sizes
from kexp.cv.options import CVOptions
from kexp.cv.prepare import whole_data
from kexp.cv.record import CVResult
from kexp.cv.run import execute, fold_tasks, write_indices
from kexp.data import sources as data_mod
from kexp.data import split as splits
from kexp.data.named import rows
from kexp.data.stream import Table
from kexp.engine import lock
from kexp.engine.output import Log, silent
from kexp.errors import RunError
from kexp.model import resolve
from kexp.rundir.read import json_object
from kexp.rundir.write import RunFolder
from kexp.spec import Config, PythonData, Spec, parse_spec


def resume(cv_dir: Path, options: experiment.Options, cv_opts: CVOptions,
           log: Log = silent) -> CVResult:
    """Train the folds of an interrupted (or partly failed, or damaged) CV folder that did
    not complete; RunError/DataError (before any training) when the folder is not the
    experiment it started as, or another process holds it."""
    cv_dir = Path(cv_dir)
    _cv_status(cv_dir)
    with lock.hold(cv_dir) as held:
        status = _cv_status(cv_dir)  # as the last holder left it
        record = fingerprint.read(cv_dir)
        env = _json_object(cv_dir / "env.json")
        spec, base_dirs = _spec_of(cv_dir, env, record)
        cfg = _config_of(cv_dir, record)
        for d in base_dirs:
            resolve.add_search_path(d)
        job, tasks = _job_of(cv_dir, record, cfg, spec, base_dirs)
        job.notes = list(status.get("notes") or [])
        job.argv, job.save_model, job.plots = options.argv, cv_opts.save_models, cv_opts.plots
        done, todo = _folds(tasks, record, log)
        write_indices(todo)
        rf = RunFolder.reopen(cv_dir, status, kind="cv")
        log(f"Resuming {cv_dir}: {len(done)} of {len(tasks)} folds completed, "
            f"training {len(todo)}")
        return execute(rf, job, todo, done, str(record["splitter"]), cv_opts, log, held)


def _cv_status(cv_dir: Path) -> dict[str, Any]:
    """The CV folder's ``status.json``; RunError if it is missing or not a CV's."""
    status, problem = json_object(cv_dir / "status.json")
    if problem is not None and problem != "not a JSON object":  # missing or damaged
        raise RunError(f"{cv_dir}: no readable status.json; is this a kexp cv folder?")
    if status.get("kind") != "cv":
        raise RunError(f"{cv_dir}: a '{status.get('kind')}' folder, not a CV folder (kind cv)")
    return status


def _json_object(path: Path) -> dict[str, Any]:
    """A JSON object the CV needs; RunError naming the file when it is missing or damaged."""
    data, problem = json_object(path)
    if problem:
        raise RunError(f"{path}: {problem}; the CV folder is damaged and cannot be resumed: "
                       f"{fingerprint.START_OVER}")
    return data


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunError(f"{path}: missing; the CV folder is damaged and cannot be resumed: "
                       f"{fingerprint.START_OVER}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunError(f"{path}: cannot be read ({exc})") from None


def _spec_of(cv_dir: Path, env: dict[str, Any],
             record: dict[str, Any]) -> tuple[Spec, list[Path]]:
    """The CV's spec (located in its original folder) and the folders custom code is found in."""
    path = cv_dir / "spec.yaml"
    text = _text(path)
    fingerprint.check_spec(record, text, path)
    cv_env = env.get("cv")
    spec_dir = cv_env.get("spec_dir") if isinstance(cv_env, dict) else None
    spec = parse_spec(text, Path(spec_dir) / "spec.yaml" if spec_dir else None) if text else Spec({})
    base_dirs = [Path.cwd(), *([Path(spec_dir), Path(spec_dir).parent] if spec_dir else [])]
    return spec, base_dirs


def _config_of(cv_dir: Path, record: dict[str, Any]) -> Config:
    """``config.yaml``, checked against the config the CV started with."""
    path = cv_dir / "config.yaml"
    try:
        loaded = yaml.safe_load(_text(path))
    except yaml.YAMLError as exc:
        raise RunError(f"{path}: not valid YAML ({str(exc).splitlines()[0]}); "
                       "restore the file the CV wrote") from None
    if not isinstance(loaded, dict):
        raise RunError(f"{path}: not a mapping of settings; restore the file the CV wrote")
    fingerprint.check_config(record, loaded, path)
    try:
        return Config.model_validate(loaded)
    except ValidationError as exc:
        raise RunError(f"{path}: no longer a valid config for this kexp "
                       f"({str(exc).splitlines()[0]}); {fingerprint.START_OVER}") from None


def _job_of(cv_dir: Path, record: dict[str, Any], cfg: Config, spec: Spec,
            base_dirs: list[Path]) -> tuple[Job, list[FoldTask]]:
    """The data, checked against the record, and every fold's task split again from it."""
    seed = cfg.seed or 0
    if isinstance(cfg.data, PythonData):  # the data set folds its own samples
        notes: list[str] = []
        data, folds = own_folds.plan(cfg, notes)
        tasks = fold_tasks(cfg, folds, cv_dir, [(None, None)] * len(folds))
        fingerprint.check_folds(record, [(t.seed, t.train, t.test) for t in tasks], cv_dir)
        backend.keras()
        info = {"source": "python", "object": cfg.data.object, "samples": None}
        return Job(spec, cfg, data, None, info, [], []), tasks
    raw = data_mod.load(cfg.data, seed, base_dirs)
    if isinstance(raw.x_train, Table):  # a streamed CSV: folds by a hash of each row
        fingerprint.check_data(record, raw.info, int(record["data"]["samples"]), cv_dir)
        x, folds, sizes, samples = hashed.plan(cfg, raw, seed, [])
        y, tasks = None, fold_tasks(cfg, folds, cv_dir, sizes)
    else:
        x, y, groups = whole_data(cfg, raw, base_dirs, [])
        samples = rows(x)
        tasks = fold_tasks(cfg, splits.kfold(y, cfg.cv, seed, groups), cv_dir)
    fingerprint.check_data(record, raw.info, samples, cv_dir)
    fingerprint.check_folds(record, [(t.seed, t.train, t.test) for t in tasks], cv_dir)
    backend.keras()
    return Job(spec, cfg, x, y, {**raw.info, "samples": samples}, [], []), tasks


def _folds(tasks: list[FoldTask], record: dict[str, Any],
           log: Log) -> tuple[list[FoldOutcome], list[FoldTask]]:
    """The completed folds' outcomes, and the tasks of every other fold."""
    done, todo = [], []
    for task, rec in zip(tasks, record["folds"], strict=True):
        outcome, problem = _completed(task, rec["sha256"])
        if outcome is not None:
            done.append(outcome)
            continue
        if problem:
            log(f"Note: {problem}; fold {task.fold} is trained again")
        path = Path(task.path)
        if path.exists() and not path.is_dir():
            path.unlink()
        todo.append(task)
    return done, todo


def _completed(task: FoldTask, sha256: str) -> tuple[FoldOutcome | None, str | None]:
    """The fold's outcome if its folder holds a whole completed fold; else what is wrong
    (None for a fold that simply did not complete)."""
    path = Path(task.path)
    if not path.is_dir():
        return None, f"{path.name} is missing"
    idx, problem = json_object(path / "indices.json")
    if problem:
        return None, f"{path.name}/indices.json: {problem}"
    try:
        same = fingerprint.fold_sha256(idx["seed"], idx["train"], idx["test"]) == sha256
    except (KeyError, TypeError, ValueError, OverflowError):
        same = False
    if not same:
        return None, f"{path.name}/indices.json: not the fold's recorded indices"
    status, problem = json_object(path / "status.json")
    if problem:
        return None, f"{path.name}/status.json: {problem}"
    if status.get("status") != "completed":
        return None, None
    metrics = json_object(path / "metrics.json")[0].get("metrics")
    if not isinstance(metrics, dict) or not all(
            isinstance(v, (int, float)) for v in metrics.values()):
        return None, f"{path.name}/metrics.json: missing or damaged"
    sizes = recorded_sizes(path, task) if task.rows is not None else task.sizes
    return FoldOutcome(task.fold, "completed", *sizes, metrics,
                       int(status.get("epochs") or 0), None,
                       float(status.get("duration_s") or 0), task.repeat), None


