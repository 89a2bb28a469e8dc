"""``kexp sweep --cv K --stack``: every trial's folds stacked; on JAX, trials that differ
only in learning rate, L2 factor, seed or initializers train as one program (each trial
still recorded in its own CV folder), with the numbers of the trials trained alone."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from kexp import backend
from kexp.cli import cli
from kexp.cv import scan, vector
from kexp.spec import Config
from tests.helpers import only_folder

SPEC = """\
name: stacked
seed: 3
deterministic: true
data:
  source: csv
  path: tiny.csv
  features: [a, b, c]
  target: label
  test: {size: 0.2}
preprocess:
  x: [standardize]
model:
  layers:
    - Dense: {units: 6, activation: relu, input_dim: 3, kernel_regularizer: {L2: {l2: 0.01}}}
    - Dense: {units: 1, activation: sigmoid}
compile:
  loss: binary_crossentropy
  optimizer: {Adam: {learning_rate: 0.02}}
  metrics: [accuracy]
fit:
  epochs: 3
  batch_size: 8
"""

#: the module's ``project`` (conftest.py): 58 rows, 46 after the test part, folds of 30-31
PROJECT = {"specs": {"stacked.yaml": SPEC}, "rows": 58, "seed": 1, "c_high": 9}

GRID = ["--param", "compile.optimizer.Adam.learning_rate=0.02,0.05",
        "--param", "model.layers.0.Dense.kernel_regularizer.L2.l2=0.01,0.1"]


def sweep(project: Path, runs: Path, *args: str) -> tuple[int, str]:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(project)
        result = CliRunner().invoke(cli, ["sweep", "stacked.yaml", "--runs-dir", str(runs),
                                          "--no-plots", "--no-save-models", *args])
    return result.exit_code, result.output


def notes(fold: Path) -> list[str]:
    return list(json.loads((fold / "status.json").read_text())["notes"])


@pytest.fixture(scope="module")
def alone(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("alone")
    code, out = sweep(project, runs, *GRID, "--cv", "3")
    assert code == 0, out
    return only_folder(runs)


def test_stacked_trials_train_the_numbers_of_trials_trained_alone(
        project: Path, alone: Path, tmp_path: Path) -> None:
    code, out = sweep(project, tmp_path, *GRID, "--cv", "3", "--stack")
    assert code == 0, out
    stacked = only_folder(tmp_path)
    cols = ["trial", "status", "loss", "accuracy", "epochs"]
    a, b = (pd.read_csv(d / "trials.csv") for d in (alone, stacked))
    pd.testing.assert_frame_equal(a[[c for c in cols if c in a]], b[[c for c in cols if c in b]],
                                  rtol=1e-5)
    assert len(a) == 4 and set(a["status"]) == {"completed"}
    for trial in sorted(p.name for p in (alone / "trials").iterdir()):
        x, y = alone / "trials" / trial, stacked / "trials" / trial
        pd.testing.assert_frame_equal(pd.read_csv(x / "folds.csv")[["fold", "loss", "accuracy"]],
                                      pd.read_csv(y / "folds.csv")[["fold", "loss", "accuracy"]],
                                      rtol=1e-5)
        for k in (1, 2, 3):
            fx, fy = x / f"fold-0{k}", y / f"fold-0{k}"
            pd.testing.assert_frame_equal(pd.read_csv(fx / "history.csv"),
                                          pd.read_csv(fy / "history.csv"), rtol=1e-5)
            pd.testing.assert_frame_equal(pd.read_csv(fx / "predictions.csv"),
                                          pd.read_csv(fy / "predictions.csv"), rtol=1e-5)
            if backend.name() == "jax":  # all four trials' folds as one program
                assert "trained with sweep --stack on JAX: 4 trials x 3 folds as one program " \
                       "on the device" in notes(fy)
            else:
                assert vector.NOTE in notes(fy)
    # the refit of the best parameters, as without --stack
    assert json.loads((stacked / "summary.json").read_text())["refit"]["metrics"] == \
        pytest.approx(json.loads((alone / "summary.json").read_text())["refit"]["metrics"],
                      rel=1e-5)


@pytest.mark.parametrize(("args", "match"), [
    (["--stack"], "add --cv K"),
    (["--stack", "--cv", "3", "--jobs", "2"], "remove --jobs"),
])
def test_stack_needs_cv_and_one_process(project: Path, tmp_path: Path, args: list[str],
                                        match: str) -> None:
    code, out = sweep(project, tmp_path, *GRID, *args)
    assert code == 2 and match in out and "Traceback" not in out, out
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def config(**changes: object) -> Config:
    layer = {"units": 6, "activation": "relu", "input_dim": 3,
             "kernel_regularizer": {"L2": {"l2": changes.pop("l2", 0.01)}},
             "kernel_initializer": changes.pop("init", "glorot_uniform")}
    return Config.model_validate({
        "seed": changes.pop("seed", 3),
        "data": {"source": "csv", "path": "tiny.csv", "features": ["a"], "target": "label"},
        "model": {"layers": [{"Dense": layer}, {"Dropout": {"rate": changes.pop("rate", 0.1)}},
                             {"Dense": {"units": changes.pop("units", 1)}}]},
        "compile": {"loss": "mse",
                    "optimizer": {"Adam": {"learning_rate": changes.pop("lr", 0.01)}}},
    })


def test_trials_group_by_all_but_what_the_program_carries_as_values() -> None:
    from kexp.sweep.stacked import group_key

    base = group_key(config())
    for same in ({"lr": 0.1}, {"l2": 0.5}, {"seed": 9}, {"init": "he_normal"}):
        assert group_key(config(**same)) == base, same
    for other in ({"rate": 0.2}, {"units": 2}, {"l2": 0.0}):
        assert group_key(config(**other)) != base, other


@pytest.mark.skipif("backend.name() != 'jax'", reason="the device-side loop is JAX's")
def test_members_with_other_kinds_of_regularizer_are_not_one_program() -> None:
    keras = backend.keras()

    def model(reg: object) -> object:
        m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, kernel_regularizer=reg)])
        m.compile(loss="mse", optimizer="adam")
        return m

    import numpy as np

    models = [model(keras.regularizers.L2(0.1)), model(keras.regularizers.L1(0.1))]
    scan.build(models, [np.zeros((4, 3))] * 2, [np.zeros((4, 2))] * 2)
    orders = [np.tile(np.arange(4), (2, 1))] * 2
    assert "regularizers" in str(scan.why_not(models, orders, 2))
    same = [model(keras.regularizers.L2(0.1)), model(keras.regularizers.L2(0.3))]
    scan.build(same, [np.zeros((4, 3))] * 2, [np.zeros((4, 2))] * 2)
    assert scan.why_not(same, orders, 2) is None
