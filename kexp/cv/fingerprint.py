"""The CV folder's own record of what it is, ``cv.json``, written when the CV starts:
the sha256 of its resolved config (and the config itself, to name what changed), of
its ``spec.yaml``, of every file the data came from, and of each fold's seed and
indices. ``kexp cv --resume`` checks the folder against it (:func:`check_config`,
:func:`check_spec`, :func:`check_data`, :func:`check_folds`) and refuses to mix two
experiments in one CV; a fold folder that is missing or damaged is rebuilt from it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kexp.data.identity import FILES, sha256_now
from kexp.errors import DataError, RunError
from kexp.hashes import bytes_sha256, json_sha256, text_sha256
from kexp.rundir.read import flatten
from kexp.train import feed

RECORD = "cv.json"
VERSION = 1
START_OVER = "start a new kexp cv"




def fold_sha256(seed: int, train: Any, test: Any) -> str:
    """The sha256 of one fold: its seed, training indices and test indices."""
    parts = [np.asarray(part, dtype="<i8").tobytes() for part in (train, test)]
    return bytes_sha256(b"|".join([f"{int(seed)}".encode(), *parts]))


def data_files(info: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The files the data came from (absolute paths), by role, with their sha256 (from
    ``RawData.info``)."""
    out = {}
    for role, (path, sha) in FILES.items():
        if info.get(path) and info.get(sha):
            out[role] = {"path": str(Path(info[path]).resolve()), "sha256": str(info[sha])}
    return out


def build(config: dict[str, Any], spec_text: str, info: dict[str, Any], samples: int | None,
          splitter: str, folds: Sequence[tuple[int, int | None, int, Any, Any, tuple[Any, Any]]]
          ) -> dict[str, Any]:
    """``cv.json``'s content; ``folds`` holds ``(fold, repeat, seed, train, test, sizes)``."""
    return {
        "version": VERSION,
        "batches": feed.generation(),
        "config": {"sha256": json_sha256(config), "resolved": config},
        "spec": {"sha256": text_sha256(spec_text)},
        "data": {"samples": samples, "files": data_files(info)},
        "splitter": splitter,
        "folds": [{"fold": k, "repeat": r, "seed": s, "train_size": n[0], "test_size": n[1],
                   "sha256": fold_sha256(s, tr, te)} for k, r, s, tr, te, n in folds],
    }


def read(cv_dir: Path) -> dict[str, Any]:
    """``cv.json`` of ``cv_dir``; RunError naming it when it is missing or damaged."""
    path = cv_dir / RECORD
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path}: missing; without it the CV's configuration, data and folds "
                       f"cannot be checked (a CV folder of an older kexp?): {START_OVER}") from None
    except (OSError, ValueError) as exc:
        raise RunError(f"{path}: cannot be read ({type(exc).__name__}: {exc}); {START_OVER}") from None
    if not _well_formed(record):
        raise RunError(f"{path}: damaged (not the record kexp cv writes); {START_OVER}")
    feed.check_generation(record.get("batches"), path, START_OVER)
    return dict(record)


def _well_formed(record: Any) -> bool:
    try:
        config, folds = record["config"], record["folds"]
        return (record["version"] == VERSION and json_sha256(config["resolved"]) == config["sha256"]
                and isinstance(record["spec"]["sha256"], str)
                and isinstance(record["data"]["files"], dict) and bool(folds)
                and all(isinstance(f["sha256"], str) and isinstance(f["seed"], int)
                        for f in folds)
                and [f["fold"] for f in folds] == list(range(1, len(folds) + 1)))
    except (KeyError, TypeError):
        return False


def check_config(record: dict[str, Any], config: Any, path: Path) -> None:
    """RunError naming the keys of ``config`` (``path``'s content) that differ from the
    config the CV started with."""
    if json_sha256(config) == record["config"]["sha256"]:
        return
    old = flatten(record["config"]["resolved"])
    new = flatten(config) if isinstance(config, dict) else {}
    keys = sorted(k for k in old.keys() | new.keys() if old.get(k, _MISSING) != new.get(k, _MISSING))
    shown = "; ".join(f"{k}: {_value(old, k)} when the CV started, {_value(new, k)} now"
                      for k in keys[:6])
    more = f" (and {len(keys) - 6} more)" if len(keys) > 6 else ""
    raise RunError(f"{path}: differs from the config the CV started with: {shown}{more}. "
                   "Resuming would train the remaining folds as another experiment and average "
                   f"them with the others; undo the change, or {START_OVER}")


_MISSING = object()


def _value(flat: dict[str, Any], key: str) -> str:
    value = flat.get(key, _MISSING)
    return "(absent)" if value is _MISSING else json.dumps(value, default=str)


def check_spec(record: dict[str, Any], text: str, path: Path) -> None:
    """RunError when ``spec.yaml`` is not the one the CV started with."""
    if text_sha256(text) != record["spec"]["sha256"]:
        raise RunError(f"{path}: changed since the CV started (its sha256 differs); the folds "
                       f"left to train would record another spec. Undo the change, or {START_OVER}")


def check_data(record: dict[str, Any], info: dict[str, Any], samples: int | None,
               cv_dir: Path) -> None:
    """DataError naming the data file that is not the one the CV started with."""
    now = data_files(info)
    for role, then in record["data"]["files"].items():
        current = now.get(role)
        if current is None:
            raise DataError(f"{then['path']}: the {role} file the CV in {cv_dir} started with is "
                            f"no longer read; restore the data settings, or {START_OVER}")
        if current["sha256"] != then["sha256"]:
            moved = "" if current["path"] == then["path"] else f" (then {then['path']})"
            raise DataError(
                f"{current['path']}{moved}: the {role} file changed since the CV in {cv_dir} "
                f"started (sha256 {then['sha256'][:12]}… then, {current['sha256'][:12]}… now); "
                f"its folds no longer apply. Restore the file, or {START_OVER}")
    if samples != record["data"]["samples"]:
        raise DataError(f"the data has {samples} samples, the CV in {cv_dir} started with "
                        f"{record['data']['samples']}; restore the data, or {START_OVER}")


def check_unchanged(files: dict[str, dict[str, str]], started: Path, start_over: str) -> None:
    """DataError naming the data file (or image folder) of ``files`` (:func:`data_files`
    of what the work in ``started`` read) that is gone or changed since."""
    for role, then in files.items():
        now = sha256_now(then["path"])
        if now != then["sha256"]:
            what = "is gone" if now is None else (
                f"changed (sha256 {then['sha256'][:12]}… then, {now[:12]}… now)")
            raise DataError(f"{then['path']}: the {role} that {started} trained on {what}; "
                            f"its finished trials no longer apply. Restore it, or {start_over}")


def check_folds(record: dict[str, Any], folds: Sequence[tuple[int, Any, Any]],
                cv_dir: Path) -> None:
    """DataError when the folds recomputed from the data (``(seed, train, test)`` each)
    are not the recorded ones."""
    recorded = record["folds"]
    differ = [k for k, (f, (seed, tr, te)) in enumerate(zip(recorded, folds, strict=False), 1)
              if f["sha256"] != fold_sha256(seed, tr, te)]
    if len(folds) != len(recorded) or differ:
        which = (f"{len(folds)} folds instead of {len(recorded)}" if len(folds) != len(recorded)
                 else f"fold(s) {', '.join(map(str, differ))} differ")
        raise DataError(f"{cv_dir}: the folds split again from the data are not the recorded "
                        f"ones ({which}; another scikit-learn or numpy version?); {START_OVER}")
