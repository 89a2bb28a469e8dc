"""Resuming a sweep folder: train only the trials that did not complete, with the base
spec, the sweep and the trial values the sweep started with.

A sweep whose ``config.yaml`` changed since it started is refused (its hash is in
``sweep.json``), and so is one whose data changed (the files or image folder a finished
trial's ``env.json`` records); a trial folder that is missing, damaged or not ``completed`` is trained
again, never dropped, so the record always covers every trial.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import yaml

from kexp import experiment, hashes
from kexp.cv import fingerprint
from kexp.engine import lock
from kexp.errors import ConfigError, KexpError, RunError
from kexp.rundir.read import json_object
from kexp.rundir.write import RunFolder
from kexp.spec import Spec, apply_overrides, load_config
from kexp.spec.sweep import SweepConfig
from kexp.sweep import bayes, record, tpe
from kexp.sweep.plan import SweepPlan, Trial, as_yaml
from kexp.sweep.run import SweepOptions, execute, tasks
from kexp.sweep.trial import TrialOutcome, finished
from kexp.train import feed


def _read(path: Path) -> Any:
    """A sweep folder's JSON or YAML file; RunError naming it when missing or damaged."""
    try:
        text = path.read_text(encoding="utf-8")
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except FileNotFoundError:
        raise RunError(f"{path}: missing; is {path.parent} a kexp sweep folder?") from None
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise RunError(f"{path}: cannot be read ({type(exc).__name__}); the sweep folder is "
                       "damaged. Start a new `kexp sweep`") from None


def load_plan(sweep_dir: Path) -> SweepPlan:
    """The plan a sweep folder recorded, checked against its ``config.yaml``."""
    status = _read(sweep_dir / "status.json")
    if not isinstance(status, dict) or status.get("kind") != "sweep":
        kind = status.get("kind") if isinstance(status, dict) else None
        raise RunError(f"{sweep_dir}: a '{kind}' folder, not a sweep folder (kind sweep)")
    meta = _read(sweep_dir / "sweep.json")
    feed.check_generation(meta.get("batches") if isinstance(meta, dict) else None,
                          sweep_dir / "sweep.json", "start a new `kexp sweep`")
    config_path = sweep_dir / "config.yaml"
    config = _read(config_path)
    if hashes.file_sha256(config_path) != meta.get("config_sha256"):
        raise RunError(f"{config_path}: changed since the sweep started (its sha256 differs from "
                       "sweep.json's); resuming would mix experiments. Start a new `kexp sweep`")
    spec_path = Path(meta["spec_path"]) if meta.get("spec_path") else None
    text = (sweep_dir / "spec.yaml").read_text(encoding="utf-8") if (sweep_dir / "spec.yaml").exists() else ""
    base = Spec(data=meta["base"], path=spec_path, text=text)
    try:
        cfg = load_config(base)
        sweep = SweepConfig.model_validate(config["sweep"])
    except (ConfigError, KeyError, ValueError) as exc:
        raise RunError(f"{config_path}: not a valid sweep config ({exc})") from None
    tpe.check(cfg, sweep)  # tpe, prune: Optuna installed
    trials = []
    for entry in meta["trials"]:
        items = [(f"{p}={as_yaml(v)}", "the sweep's record") for p, v in entry["params"].items()]
        trials.append(Trial(entry["trial"], entry["params"], apply_overrides(base, items), entry["folder"]))
    return SweepPlan(base, cfg, sweep, trials)


def _finished(sweep_dir: Path, plan: SweepPlan) -> list[TrialOutcome]:
    """The trials whose folders (run folders, or CV folders with ``--cv``) say completed,
    read back from their files."""
    found = (finished(sweep_dir / "trials" / t.folder, t.number, t.params, plan.sweep.metric,
                      cv=plan.sweep.cv is not None) for t in plan.trials)
    return [o for o in found if o is not None]


def check_data(sweep_dir: Path, plan: SweepPlan, finished_numbers: set[int]) -> None:
    """DataError when the data a finished trial read (its ``env.json``: each file's or
    image folder's sha256) is gone or changed: the trials left would train on other data."""
    for t in plan.trials:
        env = sweep_dir / "trials" / t.folder / "env.json"
        if t.number in finished_numbers and env.is_file():
            info = json_object(env)[0].get("data")
            if isinstance(info, dict):
                fingerprint.check_unchanged(fingerprint.data_files(info), sweep_dir,
                                            "start a new `kexp sweep`")
            return


def resume(sweep_dir: Path, options: experiment.Options, opts: SweepOptions,
           log: experiment.Log = experiment.silent) -> record.SweepResult:
    """Train the trials of an interrupted (or partly failed) sweep that did not complete."""
    sweep_dir = Path(sweep_dir)
    plan = load_plan(sweep_dir)  # a folder that is not a sweep's is refused before it is locked
    with lock.hold(sweep_dir, "kexp sweep") as held:  # a second resume must not train them too
        return _resume(sweep_dir, plan, options, dataclasses.replace(opts, held=held), log)


def _resume(sweep_dir: Path, plan: SweepPlan, options: experiment.Options, opts: SweepOptions,
            log: experiment.Log) -> record.SweepResult:
    # tpe: the trials are in the study (study.db); its failed ones are finished
    failed = bayes.restore(sweep_dir, plan) if plan.sweep.method == "tpe" else []
    done = _finished(sweep_dir, plan) + failed
    check_data(sweep_dir, plan, {o.number for o in done})
    completed = {o.number for o in done}
    todo = tasks(plan, sweep_dir, options, opts,
                 {t.number for t in plan.trials if t.number not in completed})
    try:
        status = _read(sweep_dir / "status.json")
        rf = RunFolder.reopen(sweep_dir, status, kind="sweep")
    except (KexpError, OSError) as exc:
        raise RunError(f"{sweep_dir}: cannot be resumed ({exc})") from None
    log(f"Resuming {sweep_dir}: {len(done)} of {plan.total} trials completed, "
        f"training {plan.total - len(done)}")
    return execute(rf, plan, todo, done, opts, log, options)
