"""kexp sweep on Optuna (the extra kexp[sweep]): tpe proposals, the study in the sweep
folder and --resume, pruning, and the install message when the extra is missing."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from kexp.cli import cli
from kexp.spec import parse_spec
from kexp.sweep.plan import make_plan
from tests.conftest import TINY
from tests.helpers import ctrl_c_at_second_trial, only_folder

needs_optuna = pytest.mark.skipif(
    importlib.util.find_spec("optuna") is None,
    reason="the Optuna path needs the extra kexp[sweep] (pip install 'kexp[sweep]'); CI installs it")

TPE = TINY + """\
sweep:
  method: tpe
  trials: 3
  parameters:
    fit.batch_size: {randint: [8, 65]}
    fit.validation_split: {uniform: [0.1, 0.3]}
    compile.optimizer: [adam, {SGD: {momentum: 0.9}}]
"""

# learnable data (the label is a > 0), so a learning trial beats one that barely learns
LEARN = """\
name: learn
seed: 1
deterministic: true
data: {source: csv, path: learn.csv, target: label, features: [a, b]}
preprocess: {x: [standardize]}
model:
  layers:
    - Dense: {units: 8, activation: relu, input_dim: 2}
    - Dense: {units: 1, activation: sigmoid}
compile: {loss: binary_crossentropy, metrics: [accuracy]}
fit: {epochs: 4, batch_size: 16, validation_split: 0.25, verbose: 0}
sweep:
  method: random
  trials: 2
  seed: %d
  metric: val_loss
  parameters:
    compile.optimizer: [{Adam: {learning_rate: 0.05}}, {Adam: {learning_rate: 1.0e-6}}]
  prune: {pruner: median, warmup_epochs: 1, startup_trials: 1}
"""
GOOD = {"Adam": {"learning_rate": 0.05}}



@pytest.fixture()
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tpe.yaml").write_text(TPE)
    return tmp_path


def _study(folder: Path):  # noqa: ANN202 - an optuna.Study
    import optuna

    return optuna.load_study(study_name="kexp-sweep", storage=f"sqlite:///{folder / 'study.db'}")


# ------------------------------------------------------------------ proposals


def _proposals(root: Path, seed: int, n: int = 6) -> list[dict]:
    from kexp.sweep.bayes import Study
    from kexp.sweep.trial import TrialOutcome

    spec = parse_spec(TPE.replace("trials: 3", f"trials: {n}\n  seed: {seed}"))
    root.mkdir()
    study = Study(root, make_plan(spec))
    out = []
    for number in range(1, n + 1):
        params = study.ask(number)
        study.tell(TrialOutcome(number, params, "completed", value=float(params["fit.batch_size"])))
        out.append(params)
    return out


@needs_optuna
def test_tpe_proposes_values_within_the_ranges_reproducibly(tmp_path: Path) -> None:
    a, b = _proposals(tmp_path / "a", 5), _proposals(tmp_path / "b", 5)
    assert a == b
    assert _proposals(tmp_path / "c", 6) != a
    for params in a:
        assert type(params["fit.batch_size"]) is int and 8 <= params["fit.batch_size"] <= 64
        assert 0.1 <= params["fit.validation_split"] <= 0.3
        assert params["compile.optimizer"] in ("adam", {"SGD": {"momentum": 0.9}})


@needs_optuna
def test_tpe_checks_every_value_and_range_end_before_anything_trains() -> None:
    spec = parse_spec(TPE.replace("{randint: [8, 65]}", "[8, -1]"))
    with pytest.raises(Exception, match=r"fit\.batch_size \(from sweep\.parameters: "
                                        r"fit\.batch_size=-1\): .*greater than 0"):
        make_plan(spec)
    assert make_plan(parse_spec(TPE)).trials == []  # proposed as the sweep goes


@pytest.mark.slow
@needs_optuna
@pytest.mark.usefixtures("every_worker")
def test_tpe_sweep_records_trials_and_its_study(here: Path) -> None:
    result = CliRunner().invoke(cli, ["sweep", "tpe.yaml", "--runs-dir", "runs", "--no-plots",
                                      "--no-save-models", "--jobs", "2"])
    assert result.exit_code == 0, result.output
    folder = only_folder(Path("runs"))
    trials = pd.read_csv(folder / "trials.csv")
    assert trials["trial"].tolist() == [1, 2, 3] and (trials["status"] == "completed").all()
    study = _study(folder)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    assert sorted(t.value for t in study.trials) == sorted(trials["loss"])
    for row, frozen in zip(trials.itertuples(), sorted(study.trials, key=lambda t: t.user_attrs["kexp_trial"]),
                           strict=True):
        config = yaml.safe_load((folder / row.folder / "config.yaml").read_text())
        assert config["fit"]["batch_size"] == frozen.params["fit.batch_size"] == row[2]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["method"] == "tpe" and summary["trials"] == 3
    assert "sweep" not in yaml.safe_load((folder / "best.yaml").read_text())


@needs_optuna
def test_tpe_resume_continues_the_study(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kexp.sweep import executors

    real = executors.run_trial
    monkeypatch.setattr(executors, "run_trial", ctrl_c_at_second_trial(real))
    first = CliRunner().invoke(cli, ["sweep", "tpe.yaml", "--runs-dir", "runs", "--no-plots",
                                     "--no-save-models"])
    assert first.exit_code == 130, first.output
    folder = only_folder(Path("runs"))
    asked = {t.user_attrs["kexp_trial"]: t.params for t in _study(folder).trials}
    done_at = json.loads((folder / "trials" / pd.read_csv(folder / "trials.csv")["folder"][0]
                          .removeprefix("trials/") / "status.json").read_text())["finished"]
    calls: list[int] = []
    monkeypatch.setattr(executors, "run_trial", lambda task: calls.append(task.number) or real(task))
    again = CliRunner().invoke(cli, ["sweep", "--resume", str(folder)])
    assert again.exit_code == 0, again.output
    assert "1 of 3 trials completed, training 2" in again.output
    assert calls == [2, 3]  # the finished trial is not trained again
    trials = pd.read_csv(folder / "trials.csv")
    assert trials["trial"].tolist() == [1, 2, 3] and (trials["status"] == "completed").all()
    first_folder = folder / trials["folder"][0]
    assert json.loads((first_folder / "status.json").read_text())["finished"] == done_at
    study = _study(folder)
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") == 3 and states.count("FAIL") == 1  # the interrupted one
    latest = {t.user_attrs["kexp_trial"]: t.params for t in study.trials if t.state.name == "COMPLETE"}
    assert latest[2] == asked[2]  # asked again with the same values


# ------------------------------------------------------------------------ pruning


@pytest.fixture()
def learn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 200), rng.normal(0, 1, 200)
    pd.DataFrame({"a": a, "b": b, "label": (a > 0).astype(int)}).to_csv("learn.csv", index=False)
    # a sweep seed that draws the learning trial first: the median to beat
    seed = next(s for s in range(50)
                if make_plan(parse_spec(LEARN % s)).trials[0].params["compile.optimizer"] == GOOD)
    (tmp_path / "learn.yaml").write_text(LEARN % seed)
    return tmp_path


@needs_optuna
def test_pruning_stops_a_bad_trial_and_records_it_pruned(learn: Path) -> None:
    result = CliRunner().invoke(cli, ["sweep", "learn.yaml", "--runs-dir", "runs", "--no-plots",
                                      "--no-save-models"])
    assert result.exit_code == 0, result.output
    folder = only_folder(Path("runs"))
    trials = pd.read_csv(folder / "trials.csv")
    assert trials["status"].tolist() == ["completed", "pruned"], trials.to_string()
    assert trials["epochs"].tolist() == [4, 2]  # warmup 1: judged from the second epoch
    assert "pruned at epoch 2" in trials["error"][1]
    run = folder / trials["folder"][1]
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "pruned" and "val_loss" in status["pruned"]
    assert any("pruned at epoch 2" in note for note in status["notes"])
    assert (run / "metrics.json").is_file() and len(pd.read_csv(run / "history.csv")) == 2
    assert [t.state.name for t in _study(folder).trials] == ["COMPLETE", "PRUNED"]
    assert json.loads((folder / "summary.json").read_text())["best"]["trial"] == 1


@needs_optuna
def test_prune_needs_validation_data(learn: Path) -> None:
    Path("learn.yaml").write_text(Path("learn.yaml").read_text().replace(", validation_split: 0.25", ""))
    result = CliRunner().invoke(cli, ["sweep", "learn.yaml", "--runs-dir", "runs"])
    assert result.exit_code == 2 and "sweep.prune: pruning watches val_loss" in result.output
    assert not Path("runs").exists()


@pytest.mark.parametrize("section, match", [
    ({"method": "tpe", "parameters": {"fit.epochs": [1, 2]}}, "method tpe needs trials"),
    ({"parameters": {"fit.epochs": [1, 2]}, "prune": {}}, "prune applies to method random or tpe"),
    ({"method": "random", "trials": 2, "parameters": {"fit.epochs": [1]}, "prune": {"pruner": "hyperband"}},
     "median"),
    ({"method": "tpe", "trials": 2, "parameters": {"fit.epochs": [1]}, "prune": {"warmup_epochs": -1}},
     "greater than or equal to 0"),
])
def test_bad_tpe_and_prune_sections(section: dict, match: str) -> None:
    from kexp.spec.sweep import SweepConfig

    with pytest.raises(ValueError, match=match):
        SweepConfig.model_validate(section)


# ------------------------------------------------------------- without the extra


@pytest.mark.parametrize("section, key", [
    ("sweep: {method: tpe, trials: 2, parameters: {fit.batch_size: [8, 16]}}", "sweep.method"),
    ("sweep: {method: random, trials: 2, prune: {}, parameters: {fit.batch_size: [8, 16]}}",
     "sweep.prune"),
])
def test_without_the_extra_tpe_and_prune_say_how_to_install_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, section: str, key: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna -> ImportError
    Path("spec.yaml").write_text(TINY.replace("verbose: 0}", "verbose: 0, validation_split: 0.2}")
                                 + section + "\n")
    result = CliRunner().invoke(cli, ["sweep", "spec.yaml", "--runs-dir", "runs"])
    assert result.exit_code == 2, result.output
    assert f"{key}: " in result.output and "needs Optuna, which is not installed" in result.output
    assert "pip install 'kexp[sweep]'" in result.output
    assert not Path("runs").exists()  # nothing trained, no sweep folder
