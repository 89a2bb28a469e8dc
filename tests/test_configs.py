"""Every shipped config validates quickly, and runs as shipped (slow, in CI)."""

from __future__ import annotations

import json

import pytest

from kexp.cli import cli
from tests.conftest import ROOT

CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_shipped_config_validates(config, runner, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = runner.invoke(cli, ["validate", str(config.relative_to(ROOT))])
    assert result.exit_code == 0, result.output
    assert "is valid" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_shipped_config_runs_as_shipped(config, runner, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = runner.invoke(cli, ["run", str(config.relative_to(ROOT)), "--runs-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "completed"
    metrics = json.loads((run / "metrics.json").read_text())["metrics"]
    if "accuracy" in metrics and config.stem == "mnist":
        assert metrics["accuracy"] > 0.85  # the Keras MNIST tutorial's MLP on the 10k sample
    if config.stem == "pima":
        assert metrics["accuracy"] > 0.65
