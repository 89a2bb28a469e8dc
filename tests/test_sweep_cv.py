"""kexp sweep --cv: every trial a K-fold CV folder of the training part (objective: the
fold mean), then the best parameters refit on the whole training part and scored on the
held-out test part; resume keeps finished CV trials; the shipped Pima grid."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from kexp.cli import cli
from kexp.spec import load_spec, parse_spec
from kexp.spec.sweep import SweepConfig
from kexp.sweep.plan import make_plan
from tests.conftest import ROOT, tiny_spec
from tests.helpers import ctrl_c_at_second_trial, only_folder

# 120 random samples, a quarter held out as the test set: the folds cover the other 90
TINY = tiny_spec(deterministic=True, test=0.25)
QUIET = ["--runs-dir", "runs", "--no-plots", "--no-save-models"]


@pytest.fixture()
def tiny_text() -> str:
    """The spec of conftest.py's ``tiny`` here: this module's ``TINY``."""
    return TINY


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_cv_objective_is_the_fold_mean_and_the_refit_is_scored_on_the_test_part(tiny: Path) -> None:
    result = CliRunner().invoke(cli, ["sweep", str(tiny), "--param", "fit.batch_size=16,64",
                                      "--cv", "3", *QUIET])
    assert result.exit_code == 0, result.output
    folder = only_folder(Path("runs"))
    trials = pd.read_csv(folder / "trials.csv")
    assert (trials["status"] == "completed").all()
    for row in trials.itertuples():
        cv = folder / row.folder
        assert _json(cv / "status.json")["kind"] == "cv"
        folds = pd.read_csv(cv / "folds.csv")
        assert len(folds) == 3 and (folds["train_size"] + folds["test_size"] == 90).all()
        assert math.isclose(row.loss, _json(cv / "summary.json")["metrics"]["loss"]["mean"])
        assert math.isclose(row.loss, folds["loss"].mean())
    summary = _json(folder / "summary.json")
    assert summary["cv"] == 3
    best = summary["best"]
    assert math.isclose(best["value"], trials["loss"].min())
    # the refit: the best parameters, trained on the 90 training samples, scored on the 30 held out
    refit = summary["refit"]
    assert refit["folder"] == "refit" and refit["status"] == "completed"
    assert refit["trial"] == best["trial"] and refit["params"] == best["params"]
    assert (refit["train_samples"], refit["test_samples"], refit["evaluated_on"]) == (90, 30, "test")
    run = folder / "refit"
    assert _json(run / "status.json")["status"] == "completed"
    assert "trained on the whole training part (90 samples)" in _json(run / "status.json")["notes"][-1]
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["fit"]["batch_size"] == best["params"]["fit.batch_size"]
    metrics = _json(run / "metrics.json")
    assert (metrics["evaluated_on"], metrics["samples"]) == ("test", 30)
    assert metrics["metrics"] == refit["metrics"]
    assert "Refit of trial" in result.output and "evaluated on the test part (30 samples)" in result.output
    # the refit is `kexp run best.yaml`: same training data, same seed, same numbers
    again = CliRunner().invoke(cli, ["run", str(folder / "best.yaml"), "--runs-dir", "again"])
    assert again.exit_code == 0, again.output
    assert _json(only_folder(Path("again")) / "metrics.json")["metrics"] == refit["metrics"]


def test_the_folds_cover_exactly_the_rows_the_refit_trains_on(tiny: Path) -> None:
    from kexp import experiment
    from kexp.sweep.cvtrial import cv_plan

    spec = parse_spec(TINY)
    plan = cv_plan(spec, 3)
    prepared = experiment.prepare(spec, experiment.Options())
    (x_train,) = prepared.split.x_train.values()
    assert np.allclose(np.asarray(plan.job.x, dtype=float), np.asarray(x_train, dtype=float))
    assert sorted(np.concatenate([te for _, te in plan.folds]).tolist()) == list(range(90))
    assert plan.cfg.cv.folds == 3
    assert any("the data.test part (30 samples) is kept for the refit" in n for n in plan.job.notes)


def test_a_sources_own_test_part_is_kept_out_of_the_folds(tmp_path: Path) -> None:
    from kexp.sweep.cvtrial import cv_plan

    rng = np.random.default_rng(0)
    for name, n in (("train.csv", 40), ("test.csv", 12)):
        frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
        frame["y"] = np.arange(n) % 2
        frame.to_csv(tmp_path / name, index=False)
    spec = parse_spec(TINY.replace(
        "{source: random, samples: 120, shape: [6], classes: 2, test: {size: 0.25}}",
        f"{{source: csv, path: {tmp_path / 'train.csv'}, test_path: {tmp_path / 'test.csv'}, "
        "target: y}"))
    plan = cv_plan(spec, 4)
    assert len(plan.job.x) == 40 and len(plan.folds) == 4
    assert any("the source's test part (12 samples) is kept for the refit" in n
               for n in plan.job.notes)


def test_a_history_metric_is_the_fold_mean_of_its_last_epoch_and_resume_keeps_cv_trials(
        tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kexp.sweep import executors

    tiny.write_text(TINY.replace("verbose: 0}", "verbose: 0, validation_split: 0.25}")
                    + "sweep: {metric: val_loss, cv: 2, parameters: {fit.batch_size: [16, 32, 64]}}\n")
    real = executors.run_trial
    monkeypatch.setattr(executors, "run_trial", ctrl_c_at_second_trial(real))
    first = CliRunner().invoke(cli, ["sweep", str(tiny), *QUIET])
    assert first.exit_code == 130, first.output
    folder = only_folder(Path("runs"))
    kept = folder / pd.read_csv(folder / "trials.csv")["folder"][0]
    started = _json(kept / "status.json")["started"]
    assert not (folder / "refit").exists()
    monkeypatch.setattr(executors, "run_trial", real)
    again = CliRunner().invoke(cli, ["sweep", "--resume", str(folder)])
    assert again.exit_code == 0, again.output
    assert "1 of 3 trials completed, training 2" in again.output
    assert _json(kept / "status.json")["started"] == started  # trial 1's CV folder kept as it was
    trials = pd.read_csv(folder / "trials.csv")
    assert trials["trial"].tolist() == [1, 2, 3] and (trials["status"] == "completed").all()
    for row in trials.itertuples():  # val_loss: each fold's last epoch, averaged over the folds
        last = [pd.read_csv(f / "history.csv")["val_loss"].iloc[-1]
                for f in sorted((folder / row.folder).glob("fold-*"))]
        assert len(last) == 2 and math.isclose(row.val_loss, float(np.mean(last)))
    summary = _json(folder / "summary.json")
    assert summary["refit"]["status"] == "completed" and summary["refit"]["trial"] == summary["best"]["trial"]


def test_a_trial_whose_cv_fails_is_recorded_and_the_sweep_goes_on(tiny: Path) -> None:
    tiny.write_text(TINY.replace("test: {size: 0.25}", "test: null"))  # no test part: all 120 folded
    # 3 output units for 2 classes: only the data can refute it; the other trial goes on
    result = CliRunner().invoke(cli, ["sweep", str(tiny), "--param", "model.layers.1.Dense.units=3,2",
                                      "--cv", "2", *QUIET])
    assert result.exit_code == 0, result.output
    folder = only_folder(Path("runs"))
    trials = pd.read_csv(folder / "trials.csv")
    assert trials["status"].tolist() == ["failed", "completed"]
    assert "the output layer has 3 unit(s) but the labels have 2 classes" in trials["error"][0]
    failed = _json(folder / trials["folder"][0] / "status.json")
    assert (failed["kind"], failed["status"]) == ("cv", "failed")
    refit = _json(folder / "summary.json")["refit"]
    assert refit["trial"] == 2  # without a test part, scored on its training data, and said so
    assert (refit["evaluated_on"], refit["train_samples"], refit["test_samples"]) == ("train", 120, 120)
    assert pd.read_csv(folder / trials["folder"][1] / "folds.csv")["test_size"].sum() == 120


@pytest.mark.parametrize("args, match", [
    (["--cv", "2", "--set", "cv.group=0"], "cv.group"),  # the group cannot follow data.test out
    (["--cv", "1"], "--cv"),
    (["--cv", "200"], "cv.folds (from --cv 200): 200 folds need at least 200 samples, the data "
                      "has 90. Use --cv 90 or fewer"),  # the folds cover the training part only
])
def test_bad_cv_input_exits_2_before_anything_is_written(tiny: Path, args: list[str], match: str) -> None:
    result = CliRunner().invoke(cli, ["sweep", str(tiny), "--param", "fit.batch_size=16,32", *args,
                                      *QUIET])
    assert result.exit_code == 2, result.output
    assert match in result.output and "Traceback" not in result.output
    assert not Path("runs").exists() or not any(Path("runs").iterdir())


def test_sweep_cv_section_and_resume_refuses_cv(tiny: Path) -> None:
    with pytest.raises(ValueError, match="greater than or equal to 2"):
        SweepConfig.model_validate({"cv": 1, "parameters": {"fit.epochs": [1]}})
    pytest.importorskip("optuna", reason="sweep.prune needs the extra kexp[sweep] (CI installs it)")
    tiny.write_text(TINY.replace("verbose: 0}", "verbose: 0, validation_split: 0.25}")
                    + "sweep: {method: random, trials: 2, prune: {}, "
                    "parameters: {fit.batch_size: [16, 32]}}\n")
    result = CliRunner().invoke(cli, ["sweep", str(tiny), "--cv", "2", *QUIET])
    assert result.exit_code == 2 and "Remove sweep.prune or --cv" in result.output, result.output
    result = CliRunner().invoke(cli, ["sweep", "--resume", str(tiny.parent), "--cv", "3"])
    assert result.exit_code == 2 and "remove --cv" in result.output


def test_shipped_pima_grid_is_the_lessons_grid_shrunk_with_cv_5(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    plan = make_plan(load_spec("configs/pima_grid.yaml"))
    assert plan.sweep.cv == 5 and plan.goal == "max" and plan.sweep.metric == "accuracy"
    assert {tuple(t.params.values()) for t in plan.trials} == {
        (b, e) for b in (10, 40, 100) for e in (10, 50)}
    assert all(b in (10, 20, 40, 60, 80, 100) for b, _ in (tuple(t.params.values()) for t in plan.trials))


@pytest.mark.slow
def test_shipped_pima_grid_runs_with_its_refit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(cli, [
        "sweep", "configs/pima_grid.yaml", "--param", "fit.batch_size=40", "--param", "fit.epochs=2",
        "--cv", "2", "--runs-dir", str(tmp_path), "--no-plots", "--no-save-models"])
    assert result.exit_code == 0, result.output
    summary = _json(only_folder(tmp_path) / "summary.json")
    assert summary["completed"] == 1 and 0 <= summary["best"]["value"] <= 1
    refit = summary["refit"]
    assert (refit["train_samples"], refit["test_samples"]) == (614, 154)
