"""MLflow tracking against a real MLflow: a local SQLite store read back with
MlflowClient (parameters, per-epoch metrics, artifacts, tags, CV and sweep nesting,
export without duplicates, a store that fails mid-run), and one test against
``mlflow server`` over HTTP, read back through its REST API."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kexp.cli import cli
from kexp.track.params import MAX_VALUE, params, summarise
from tests.conftest import TINY
from tests.helpers import invoke, only_folder

mlflow = pytest.importorskip("mlflow", reason="MLflow is not installed (pip install 'kexp[mlflow]')")

THREE_EPOCHS = TINY.replace("epochs: 1", "epochs: 3")


def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def runs_of(uri: str, experiment: str = "tiny") -> list[Any]:
    mc = mlflow.MlflowClient(uri)
    exp = mc.get_experiment_by_name(experiment)
    return [] if exp is None else mc.search_runs([exp.experiment_id])


def test_params_are_flat_and_within_mlflow_limits() -> None:
    out = params({"fit": {"epochs": 3, "callbacks": []}, "model": {"layers": [{"Dense": {"units": 4}}]},
                  "seed": None, "long": "x" * 10_000})
    assert out["fit.epochs"] == "3" and out["fit.callbacks"] == "[]" and out["seed"] == "null"
    assert out["model.layers.0.Dense.units"] == "4"
    assert len(out["long"]) < MAX_VALUE and "10000 chars, sha256" in out["long"]
    assert summarise("short") == "short"


def test_run_logs_params_epochs_metrics_artifacts_and_tags(tiny: Path, tmp_path: Path) -> None:
    tiny.write_text(THREE_EPOCHS)
    uri = store(tmp_path)
    invoke("run", str(tiny), "--mlflow", uri, exit_code=0)
    folder = only_folder(tmp_path / "runs")
    (run,) = runs_of(uri)
    mc = mlflow.MlflowClient(uri)
    assert run.info.status == "FINISHED"
    assert run.data.params["fit.epochs"] == "3" and run.data.params["name"] == "tiny"
    assert run.data.params["tracking.mlflow.uri"] == uri
    history = mc.get_metric_history(run.info.run_id, "accuracy")
    assert [m.step for m in history] == [0, 1, 2]
    assert "test_accuracy" in run.data.metrics and "test_loss" in run.data.metrics
    tags = run.data.tags
    assert tags["kexp.run_id"] == folder.name and tags["kexp.run_dir"] == str(folder.resolve())
    assert tags["kexp.version"] and len(tags["kexp.spec_sha256"]) == 64
    files = {a.path for a in mc.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "history.csv", "metrics.json", "status.json", "model.keras", "model"} <= files
    assert "model/MLmodel" in {a.path for a in mc.list_artifacts(run.info.run_id, "model")}
    status = json.loads((folder / "status.json").read_text())
    assert status["status"] == "completed" and status["notes"] == []


def test_cv_is_a_parent_with_a_child_per_fold(tiny: Path, tmp_path: Path) -> None:
    uri = store(tmp_path)
    invoke("cv", str(tiny), "--folds", "2", "--no-plots", "--mlflow", uri, exit_code=0)
    runs = runs_of(uri)
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    folds = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == 3 and len(folds) == 2
    assert sorted(r.data.tags["kexp.run_id"].split("/")[-1] for r in folds) == ["fold-01", "fold-02"]
    assert parent.data.tags["kexp.kind"] == "cv"
    assert {"cv_accuracy_mean", "cv_accuracy_std", "cv_accuracy_ci95_low"} <= set(parent.data.metrics)
    assert all(r.info.status == "FINISHED" for r in runs)


def test_sweep_is_a_parent_with_a_child_per_trial(tiny: Path, tmp_path: Path) -> None:
    uri = store(tmp_path)
    invoke("sweep", str(tiny), "--param", "fit.batch_size=16,32", "--no-plots",
           "--no-save-models", "--mlflow", uri, exit_code=0)
    runs = runs_of(uri)
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(trials) == 2 and parent.data.tags["kexp.kind"] == "sweep"
    assert sorted(r.data.params["fit.batch_size"] for r in trials) == ["16", "32"]
    assert "best_trial" in parent.data.metrics


def test_export_twice_makes_one_run(tiny: Path, tmp_path: Path) -> None:
    invoke("run", str(tiny), exit_code=0)
    folder = only_folder(tmp_path / "runs")
    uri = store(tmp_path)
    first = invoke("export", "mlflow", str(folder), "--uri", uri, exit_code=0)
    assert "1 MLflow run(s) created" in first.output
    second = invoke("export", "mlflow", str(folder), "--uri", uri, exit_code=0)
    assert "0 MLflow run(s) created, 1 folder(s) exported already" in second.output
    (run,) = runs_of(uri)
    assert run.data.tags["kexp.run_id"] == folder.name and run.data.params["fit.epochs"] == "1"
    history = mlflow.MlflowClient(uri).get_metric_history(run.info.run_id, "loss")
    assert len(history) == 1 and "test_accuracy" in run.data.metrics


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_failing_store_is_a_warning_and_the_run_completes(
        tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    result = invoke("run", str(tiny), "--mlflow", f"http://127.0.0.1:{closed_port()}",
                    exit_code=0)
    status = json.loads((only_folder(tmp_path / "runs") / "status.json").read_text())
    assert status["status"] == "completed"
    (note,) = [n for n in status["notes"] if "MLflow tracking stopped" in n]
    assert "kexp export mlflow" in note and "Warning: MLflow tracking stopped" in result.output


def test_missing_extra_is_exit_2_with_the_install_command(
        tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kexp.track.mlflow as wrapper

    monkeypatch.setattr(wrapper, "installed", lambda: False)
    result = CliRunner().invoke(cli, ["run", str(tiny), "--mlflow"])
    assert result.exit_code == 2 and "pip install 'kexp[mlflow]'" in result.output
    tiny.write_text(TINY + "tracking: {mlflow: {uri: 'sqlite:///x.db'}}\n")
    result = CliRunner().invoke(cli, ["cv", str(tiny), "--folds", "2"])
    assert result.exit_code == 2 and "tracking.mlflow" in result.output
    assert "pip install 'kexp[mlflow]'" in result.output


def test_a_file_store_mlflow_refuses_is_exit_2_before_anything_trains(
        tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow 3 refuses ``file:./mlruns`` (its old default, in many tutorials): said before
    the run starts, with the fix, instead of tracking stopping mid-run."""
    from kexp.track.mlflow import check_store, is_file_store

    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    result = CliRunner().invoke(cli, ["run", str(tiny), "--mlflow", "file:./mlruns", "--runs-dir", "runs"])
    assert result.exit_code == 2, result.output
    assert "tracking.mlflow.uri (from --mlflow file:./mlruns)" in result.output
    assert "sqlite:///mlflow.db" in result.output and "MLFLOW_ALLOW_FILE_STORE=true" in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    assert [is_file_store(u) for u in ("./mlruns", "file:///tmp/m", "C:\\m", "sqlite:///m.db",
                                       "http://h:5000", "databricks")] == [True, True, True, False, False, False]
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow's own opt-out is honoured
    check_store("file:./mlruns")


def test_help_does_not_import_mlflow() -> None:
    code = "import sys, kexp.cli; print('mlflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "False"


def get_json(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(url, json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_logs_to_an_mlflow_server_over_http(tiny: Path, tmp_path: Path) -> None:
    port = closed_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", store(tmp_path), "--default-artifact-root",
         str(tmp_path / "artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ},
        start_new_session=True)  # its uvicorn and job workers are in its process group
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2).read()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "mlflow server did not start"
                time.sleep(0.5)
        tiny.write_text(THREE_EPOCHS)
        invoke("run", str(tiny), "--mlflow", base, exit_code=0)
        folder = only_folder(tmp_path / "runs")
        req = urllib.request.urlopen(
            f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name=tiny", timeout=10)
        exp_id = json.loads(req.read())["experiment"]["experiment_id"]
        found = get_json(f"{base}/api/2.0/mlflow/runs/search",
                         {"experiment_ids": [exp_id],
                          "filter": f"tags.`kexp.run_id` = '{folder.name}'"})
        (run,) = found["runs"]
        params = {p["key"]: p["value"] for p in run["data"]["params"]}
        metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
        assert params["fit.epochs"] == "3" and "test_accuracy" in metrics
        assert run["info"]["status"] == "FINISHED"
        history = json.loads(urllib.request.urlopen(
            f"{base}/api/2.0/mlflow/metrics/get-history?run_id={run['info']['run_id']}"
            "&metric_key=accuracy", timeout=10).read())
        assert len(history["metrics"]) == 3
    finally:  # the server's workers too: server.kill() alone leaves them running
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()
