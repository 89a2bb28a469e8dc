"""What MLflow gets from a run, CV or sweep folder's files: its tags (kexp version, spec
and data sha256, git commit, folder path), its parameters (``config.yaml``), its final
metrics (``metrics.json``, or a CV's ``summary.json``), and its status as MLflow's."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from kexp.hashes import file_sha256
from kexp.rundir import read as rundir_read
from kexp.track.params import params

#: status.json's status -> MLflow's run status
MLFLOW_STATUS = {"completed": "FINISHED", "pruned": "FINISHED", "failed": "FAILED",
                 "interrupted": "KILLED", "running": "RUNNING"}


def read_json(path: Path) -> Any:
    """A JSON file's value; None when it is missing or damaged."""
    return rundir_read.read_json(path)[0]


def kexp_version() -> str:
    try:
        return metadata.version("kexp")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "unknown"


def tags(path: Path) -> dict[str, str]:
    """The folder's tags: ``kexp.version``, ``kexp.kind``, ``kexp.spec_sha256``,
    ``kexp.data_sha256``, ``kexp.run_dir`` and MLflow's ``mlflow.source.git.commit``."""
    env = read_json(path / "env.json") or {}
    status = read_json(path / "status.json") or {}
    out = {"kexp.version": kexp_version(), "kexp.kind": str(status.get("kind") or "run"),
           "kexp.run_dir": str(path.resolve())}
    spec = path / "spec.yaml"
    if spec.is_file():
        out["kexp.spec_sha256"] = file_sha256(spec)
    data = d if isinstance(d := env.get("data"), dict) else {}
    if data.get("sha256"):
        out["kexp.data_sha256"] = str(data["sha256"])
    if env.get("git_commit"):
        out["mlflow.source.git.commit"] = str(env["git_commit"])
    return out


def config_params(path: Path) -> dict[str, str]:
    """``config.yaml`` flattened to MLflow parameters (none when it cannot be read)."""
    try:
        config = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    if not isinstance(config, dict):
        return {}
    tracking = config.get("tracking")
    if isinstance(tracking, dict) and isinstance(tracking.get("mlflow"), dict):
        tracking["mlflow"].pop("parent_run_id", None)  # a tag says it (mlflow.parentRunId)
    return params(config)


def test_metrics(metrics: dict[str, Any], evaluated_on: str) -> dict[str, float]:
    """metrics.json's metrics as ``test_accuracy`` (``train_accuracy`` when the run had no
    test part), apart from the per-epoch history of the same names."""
    return {f"{evaluated_on}_{k}": float(v) for k, v in metrics.items()
            if isinstance(v, (int, float))}


def summary_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """A CV's summary.json as ``cv_accuracy_mean``, ``_std``, ``_ci95_low`` ..."""
    out: dict[str, float] = {}
    for name, stats in (summary.get("metrics") or {}).items():
        for stat, value in (stats or {}).items() if isinstance(stats, dict) else ():
            if isinstance(value, (int, float)):
                out[f"cv_{name}_{stat}"] = float(value)
    return out


def final_metrics(path: Path) -> dict[str, float]:
    """The folder's final metrics: a run's test metrics, a CV's summary."""
    metrics = read_json(path / "metrics.json")
    if isinstance(metrics, dict):
        return test_metrics(metrics.get("metrics") or {}, str(metrics.get("evaluated_on", "test")))
    summary = read_json(path / "summary.json")
    if isinstance(summary, dict) and "folds" in summary:
        return summary_metrics(summary)
    if isinstance(summary, dict) and "trials" in summary:
        return sweep_metrics(summary)
    return {}


def sweep_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """A sweep's summary.json as ``best_<metric>``, ``best_trial``, ``trials_completed``."""
    out: dict[str, float] = {"trials_completed": float(summary.get("completed") or 0)}
    top = summary.get("best")
    if isinstance(top, dict) and isinstance(top.get("value"), (int, float)):
        out[f"best_{summary.get('metric')}"] = float(top["value"])
        out["best_trial"] = float(top["trial"])
    refit = summary.get("refit")
    if isinstance(refit, dict):
        out.update({f"refit_{k}": float(v) for k, v in (refit.get("metrics") or {}).items()
                    if isinstance(v, (int, float))})
    return out
