"""``kexp run --resume RUN_DIR``: a run that was interrupted, failed or died, continued
from its last checkpoint (:mod:`kexp.train.checkpoint`) as the same experiment, to the
``history.csv``, metrics and predictions the run would have ended with.

Before anything is loaded the folder is checked: a run (not a CV or sweep folder) that
did not complete and whose process is gone, with a checkpoint; its ``config.yaml`` and
``spec.yaml`` are those the checkpoint records, and its data files (env.json's) are
unchanged. The data is then loaded and the model built from the folder's config, in the
folder the run started from, and the custom code it imports is checked against the
copies' hashes in env.json. Anything that differs is refused (exit 2) naming it: resuming
would finish another experiment under this one's record. ``status.json`` records each
resume (from which epoch, when, by which process).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kexp.data.identity import FILES, sha256_now
from kexp.engine import lock
from kexp.engine.lifeline import pid_alive
from kexp.errors import DataError, RunError
from kexp.experiment.options import Log, Options, silent
from kexp.hashes import json_sha256, text_sha256
from kexp.rundir.flat import flatten
from kexp.rundir.read import json_object
from kexp.rundir.write import RunFolder
from kexp.spec import Config, Spec, parse_spec
from kexp.train import checkpoint

START_OVER = "start it again with kexp run SPEC"


def resume_run(run_dir: Path, options: Options, log: Log = silent) -> Any:
    """Continue the run in ``run_dir`` from its last checkpoint; a RunResult. RunError or
    DataError (exit 2, before any training) when it cannot be resumed as it was."""
    from kexp.experiment.pipeline import prepare
    from kexp.experiment.trainer import train_in_folder
    from kexp.model import keep

    run_dir = Path(run_dir).absolute()
    status = resumable(run_dir)
    env, _ = json_object(run_dir / "env.json")
    ckpt, problems = checkpoint.latest(checkpoint.folder_of(run_dir))
    if ckpt is None:
        why = "; ".join(problems) if problems else (
            "it stopped before its first checkpoint (the end of its first epoch), or "
            "fit.checkpoint is false")
        raise RunError(f"{run_dir}: no checkpoint to resume from ({why}); {START_OVER}")
    spec, cfg = spec_and_config(run_dir, ckpt)
    with _in_folder(env.get("cwd")):
        check_data(run_dir, env)
        with lock.hold(run_dir, "kexp run --resume"):
            status = resumable(run_dir)  # as the last holder left it
            prepared = prepare(spec, replace(options, overrides=[]), log, cfg=cfg)
            changed = keep.changed(list(env.get("custom_code") or []))
            if changed:
                raise RunError(f"{run_dir}: custom code changed since the run started: "
                               f"{'; '.join(changed)}. Restore it, or {START_OVER}")
            if env.get("workers"):  # said in status.json's notes too
                problems.append(f"trained on {len(env['workers'])} workers (--workers) up to epoch "
                                f"{ckpt.epoch}; resumed as one process: the same global batches, "
                                "summed in another order")
                prepared.notes.append(problems[-1])
            for note in problems:
                log(f"Note: {note}")
            rf = RunFolder.resumed(run_dir, status, ckpt.epoch)
            log(f"Resuming {run_dir} at epoch {ckpt.epoch + 1} of {cfg.fit.epochs}")
            return train_in_folder(prepared, rf, options, log, resume=ckpt)


def resumable(run_dir: Path) -> dict[str, Any]:
    """``status.json`` of a run that can be resumed; RunError saying why not (not a run
    folder, completed, still running)."""
    status, problem = json_object(run_dir / "status.json")
    if problem is not None:
        raise RunError(f"{run_dir}: no readable status.json ({problem}); is this a kexp run "
                       "folder?")
    kind, state = status.get("kind"), status.get("status")
    if kind != "run":
        command = {"cv": "kexp cv --resume", "sweep": "kexp sweep --resume"}.get(str(kind))
        raise RunError(f"{run_dir}: a '{kind}' folder, not a run's"
                       + (f"; resume it with {command} {run_dir}" if command else ""))
    if state == "completed":
        raise RunError(f"{run_dir}: the run completed; there is nothing to resume "
                       "(to train longer, start a new run with more epochs)")
    pid = status.get("pid")
    if state == "running" and isinstance(pid, int) and pid_alive(pid) \
            and status.get("host") in (None, socket.gethostname()):
        raise RunError(f"{run_dir}: still running (process {pid}); stop it first "
                       f"(kill -TERM {pid}) and resume it then")
    return status


def spec_and_config(run_dir: Path, ckpt: checkpoint.Checkpoint) -> tuple[Spec, Config]:
    """The folder's spec and config, checked against what the checkpoint records the run
    started from."""
    record = ckpt.meta["record"]
    spec_file, config_file = run_dir / "spec.yaml", run_dir / "config.yaml"
    text, config_text = _text(spec_file), _text(config_file)
    if text_sha256(text) != record.get("spec_sha256"):
        raise RunError(f"{spec_file}: changed since the run started (its sha256 differs); "
                       f"undo the change, or {START_OVER}")
    try:
        loaded = yaml.safe_load(config_text)
    except yaml.YAMLError as exc:
        raise RunError(f"{config_file}: not valid YAML ({str(exc).splitlines()[0]}); restore "
                       "the file the run wrote") from None
    if text_sha256(config_text) != record.get("config_sha256"):
        raise RunError(f"{config_file}: differs from the config the run started with: "
                       f"{changes(record.get('config'), loaded)}. Resuming would finish "
                       f"another experiment under this run's record; undo the change, or "
                       f"{START_OVER}")
    try:
        cfg = Config.model_validate(loaded)
    except ValidationError as exc:
        raise RunError(f"{config_file}: not a valid config for this kexp "
                       f"({str(exc).splitlines()[0]}); {START_OVER}") from None
    spec_path = record.get("spec_path")
    return parse_spec(text, Path(spec_path) if spec_path else None), cfg


def changes(old: Any, new: Any, most: int = 6) -> str:
    """``key: a then, b now; ...`` for the settings that differ between two configs."""
    before = flatten(old) if isinstance(old, dict) else {}
    after = flatten(new) if isinstance(new, dict) else {}
    missing = object()
    keys = sorted(k for k in before.keys() | after.keys()
                  if before.get(k, missing) != after.get(k, missing))

    def shown(flat: dict[str, Any], key: str) -> str:
        return repr(flat[key]) if key in flat else "(absent)"

    text = "; ".join(f"{k}: {shown(before, k)} then, {shown(after, k)} now" for k in keys[:most])
    return (text or "its text differs") + (f" (and {len(keys) - most} more)" if len(keys) > most
                                           else "")


def check_data(run_dir: Path, env: dict[str, Any]) -> None:
    """DataError naming a data file (or image folder) the run read that is gone or
    changed since (env.json's record of it)."""
    data = env.get("data")
    info: dict[str, Any] = data if isinstance(data, dict) else {}
    for role, (path_key, sha_key) in FILES.items():
        path, then = info.get(path_key), info.get(sha_key)
        if not path or not then:
            continue
        now = sha256_now(str(path))
        if now != then:
            what = "is gone" if now is None else (
                f"changed (sha256 {str(then)[:12]}… then, {now[:12]}… now)")
            raise DataError(f"{path}: the {role} that {run_dir} trained on {what}; resuming "
                            f"would go on with other data. Restore it, or {START_OVER}")


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunError(f"{path}: missing; the run folder is damaged and cannot be resumed: "
                       f"{START_OVER}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunError(f"{path}: cannot be read ({exc})") from None


@contextlib.contextmanager
def _in_folder(cwd: Any) -> Iterator[None]:
    """In the folder the run was started from (its relative data paths, custom code),
    when it is still there."""
    before = Path.cwd()
    if isinstance(cwd, str) and Path(cwd).is_dir():
        os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(before)


def checkpoint_of(run_dir: Path, cfg: Config) -> tuple[checkpoint.Checkpoint | None,
                                                       Config | None, str | None]:
    """The checkpoint a fold or trial folder that did not complete goes on from (the CV or
    sweep checked its data), and the folder's config to go on with: its newest readable
    checkpoint, when the folder's config.yaml and spec.yaml are those it records and the
    config is ``cfg``'s (``cfg`` without a seed: the seed the folder drew). Else None, and
    why (None when there is simply nothing to resume)."""
    from kexp.model import objects
    from kexp.spec import resolved

    status, problem = json_object(run_dir / "status.json")
    if problem is not None or status.get("status") == "completed":
        return None, None, None
    ckpt, problems = checkpoint.latest(checkpoint.folder_of(run_dir))
    if ckpt is None:
        return None, None, "; ".join(problems) or None
    try:
        _, loaded = spec_and_config(run_dir, ckpt)
    except RunError as exc:
        return None, None, str(exc)
    if cfg.seed is None:
        cfg = cfg.model_copy(update={"seed": loaded.seed})
    expected = Config.model_validate(objects.as_used(resolved(cfg)))
    if json_sha256(loaded.model_dump(mode="json")) != json_sha256(expected.model_dump(mode="json")):
        return None, None, (f"{run_dir / 'config.yaml'}: not the config of this "
                            f"{'fold' if run_dir.name.startswith('fold') else 'trial'}")
    return ckpt, loaded, None
