"""kexp cv: splitters, bad input, no leakage, executors agree, interruption and resume."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from kexp.cli import cli
from kexp.data import split as splits
from kexp.errors import ConfigError
from kexp.spec import CVConfig, configure
from tests.helpers import invoke, only_folder

SPEC = """\
name: tiny
seed: 3
data:
  source: csv
  path: tiny.csv
  target: label
  features: [a, b, c]
  validation: {size: 0.25}
preprocess:
  x: [standardize]
model:
  layers:
    - Dense: {units: 4, activation: relu, input_dim: 3}
    - Dense: {units: 1, activation: sigmoid}
compile:
  loss: binary_crossentropy
  metrics: [accuracy]
fit:
  epochs: 2
  batch_size: 8
  verbose: 0
"""
REGRESSION = (SPEC.replace("target: label", "target: price").replace("binary_crossentropy", "mse")
              .replace("metrics: [accuracy]", "metrics: [mae]")
              .replace("activation: sigmoid", "activation: linear"))
#: the module's ``project`` (conftest.py): 36 rows, 6 sites, a class label and a price
PROJECT = {"specs": {"tiny.yaml": SPEC, "reg.yaml": REGRESSION}, "rows": 36, "seed": 0,
           "c_high": 100, "site_and_price": True}


def metrics_of(cv_dir: Path) -> pd.DataFrame:
    frame = pd.read_csv(cv_dir / "folds.csv")
    return frame[["fold", "status", "train_size", "test_size", "loss", "accuracy"]]


# --------------------------------------------------------------------- splitters


@pytest.mark.parametrize("cv, n_folds", [
    (CVConfig(folds=4), 4),
    (CVConfig(folds=3, repeats=2), 6),
    (CVConfig(folds=5, shuffle=False), 5),
])
def test_folds_are_disjoint_covering_and_stratified(cv: CVConfig, n_folds: int) -> None:
    y = np.array([0] * 24 + [1] * 12)
    folds = splits.kfold(y, cv, seed=7)
    assert len(folds) == n_folds
    for r in range(cv.repeats):
        tests = [te for _, te in folds[r * cv.folds:(r + 1) * cv.folds]]
        assert sorted(np.concatenate(tests).tolist()) == list(range(len(y)))  # covering, disjoint
    for tr, te in folds:
        assert not set(tr) & set(te)
        assert abs(y[te].mean() - y.mean()) < 0.1  # stratified


def test_regression_uses_kfold_and_groups_stay_together() -> None:
    y = np.linspace(0, 1, 30)
    assert splits.splitter_name(y, CVConfig(), grouped=False) == "KFold"
    assert len(splits.kfold(y, CVConfig(folds=3), seed=1)) == 3
    groups = np.arange(30) % 5
    for _, te in splits.kfold(np.arange(30) % 2, CVConfig(folds=5), 1, groups=groups):
        assert len(set(groups[te])) == 1


def test_same_seed_same_folds_and_fold_seeds_differ() -> None:
    from kexp.cv.folds import fold_seed

    y = np.arange(40) % 2
    a, b = splits.kfold(y, CVConfig(folds=4), 7), splits.kfold(y, CVConfig(folds=4), 7)
    assert all((x[1] == z[1]).all() for x, z in zip(a, b, strict=True))
    assert len({fold_seed(7, k) for k in range(1, 11)}) == 10
    assert fold_seed(7, 3) == fold_seed(7, 3) != fold_seed(8, 3)


def test_headline_matches_the_pima_tutorials_format() -> None:
    from kexp.cv.folds import FoldOutcome
    from kexp.cv.record import headline, summarize

    acc = [0.7792, 0.7403, 0.7143, 0.7792, 0.7403, 0.7922, 0.8052, 0.7662, 0.6711, 0.8158]
    outs = [FoldOutcome(i + 1, "completed", 691, 77, {"accuracy": a}) for i, a in enumerate(acc)]
    s = summarize(outs, 10, "StratifiedKFold")
    m = s["metrics"]["accuracy"]
    assert m["std"] == pytest.approx(np.std(acc))  # population std, as the tutorial prints
    assert m["ci95_low"] < m["mean"] < m["ci95_high"]
    assert headline("accuracy", m, 10) == (
        f"accuracy: {np.mean(acc) * 100:.1f}% ± {np.std(acc) * 100:.1f}% (10 folds)")


# -------------------------------------------------------------------- bad input

BAD = [
    (["--folds", "1"], "cv.folds (from --folds 1): expected at least 2 folds"),
    (["--folds", "13"], "13 stratified folds need at least 13 samples of every class; class 1 has 12"),
    (["--folds", "40", "--stratify", "false"], "40 folds need at least 40 samples, the data has 36"),
    (["--group", "nope"], "cv.group"),
    (["--repeats", "2", "--no-shuffle"], "repeats: 2 needs shuffle: true"),
    (["--group", "site", "--folds", "8"], "8 folds need at least 8 distinct groups; the column has 6"),
    (["--set", "cv.stratify=maybe"], "cv.stratify"),
]


@pytest.mark.parametrize("args, message", BAD)
def test_bad_input_exits_2_before_training(project: Path, tmp_path: Path, args: list[str], message: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    result = CliRunner().invoke(cli, ["cv", "tiny.yaml", "--runs-dir", str(tmp_path), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not any(tmp_path.iterdir())  # nothing written, nothing trained


def test_bad_group_names_the_columns(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    result = CliRunner().invoke(cli, ["cv", "tiny.yaml", "--runs-dir", str(tmp_path), "--group", "sit"])
    assert result.exit_code == 2
    assert "no column 'sit' in the data" in result.output and "Did you mean 'site'?" in result.output


def test_regression_with_stratify_is_refused(project: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    result = CliRunner().invoke(cli, ["cv", "reg.yaml", "--runs-dir", str(tmp_path), "--stratify", "true"])
    assert result.exit_code == 2
    assert "cv.stratify (from --stratify true): stratify: true needs class labels" in result.output
    assert "Set cv.stratify: auto or false" in result.output


def test_resume_refuses_a_spec(project: Path) -> None:
    result = CliRunner().invoke(cli, ["cv", "tiny.yaml", "--resume", str(project)])
    assert result.exit_code == 2 and "--resume takes the spec and settings from the CV folder" in result.output


@pytest.mark.parametrize("args, named", [
    (["--seed", "0"], "--seed"), (["--cv-seed", "0"], "--cv-seed"), (["--no-shuffle"], "--no-shuffle"),
])
def test_resume_refuses_settings_even_when_falsy(project: Path, args: list[str], named: str) -> None:
    result = CliRunner().invoke(cli, ["cv", "--resume", str(project), *args])
    assert result.exit_code == 2, result.output
    assert "Usage: " in result.output and f"remove {named}" in result.output


def test_kfold_library_errors() -> None:
    with pytest.raises(ConfigError, match=r"cv\.folds: 5 stratified folds .* class 1 has 2"):
        splits.kfold(np.array([0] * 10 + [1] * 2), CVConfig(folds=5), 0)


# ------------------------------------------------------------------ end to end


@pytest.fixture(scope="module")
def in_process(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("runs1")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(project)
        result = invoke("cv", "tiny.yaml", "--folds", "3", "--runs-dir", str(runs), "--no-plots",
                        catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("accuracy: ")
    assert result.output.strip().splitlines()[-1].endswith("(3 folds)")
    return only_folder(runs)


def test_layout(in_process: Path) -> None:
    status = json.loads((in_process / "status.json").read_text())
    assert status["kind"] == "cv" and status["status"] == "completed"
    for name in ("config.yaml", "env.json", "spec.yaml", "folds.csv", "summary.json"):
        assert (in_process / name).is_file(), name
    summary = json.loads((in_process / "summary.json").read_text())
    assert summary["folds"] == 3 and summary["completed"] == 3 and summary["splitter"] == "StratifiedKFold"
    assert set(summary["metrics"]["accuracy"]) == {"mean", "std", "min", "max", "ci95_low", "ci95_high"}
    folds = pd.read_csv(in_process / "folds.csv")
    assert list(folds.columns[:6]) == ["fold", "status", "train_size", "test_size", "loss", "accuracy"]
    assert (folds["train_size"] + folds["test_size"] == 36).all()
    seen: list[int] = []
    for k in (1, 2, 3):
        fold = in_process / f"fold-0{k}"
        for name in ("history.csv", "metrics.json", "predictions.csv", "status.json", "config.yaml"):
            assert (fold / name).is_file(), (k, name)
        assert not (fold / "model.keras").exists()  # only with --save-models
        idx = json.loads((fold / "indices.json").read_text())
        assert len(pd.read_csv(fold / "predictions.csv")) == len(idx["test"])
        assert json.loads((fold / "metrics.json").read_text())["samples"] == len(idx["test"])
        assert "val_loss" in pd.read_csv(fold / "history.csv").columns  # validation from the training part
        seen += idx["test"]
    assert sorted(seen) == list(range(36))


def test_no_statistic_leaks_from_the_held_out_fold(in_process: Path, project: Path) -> None:
    data = pd.read_csv(project / "tiny.csv")[["a", "b", "c"]].to_numpy(dtype=np.float32)
    for k in (1, 2, 3):
        fold = in_process / f"fold-0{k}"
        idx = json.loads((fold / "indices.json").read_text())
        state = json.loads((fold / "preprocess.json").read_text())
        (mean,) = [s["state"]["mean_"] for s in state["steps"] if "mean_" in s.get("state", {})]
        train = data[idx["train"]]
        # the scaler saw the fold's training part minus its validation part: never a test row
        assert not np.allclose(mean, data.mean(axis=0), atol=1e-4)
        assert not np.allclose(mean, train.mean(axis=0), atol=1e-4)  # validation rows held out too
        seed = json.loads((fold / "env.json").read_text())["seed"]
        fitted = _training_rows(train, np.asarray(pd.read_csv(project / "tiny.csv")["label"])[idx["train"]], seed)
        np.testing.assert_allclose(mean, fitted.mean(axis=0), rtol=1e-5)


def _training_rows(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """The rows fit_transform keeps for training after holding out data.validation."""
    from kexp.spec import Holdout

    keep, _, _, _ = splits.holdout({"x": x}, {"y": y}, Holdout(size=0.25), seed + 1, ("data", "validation"))
    return keep["x"]


@pytest.mark.slow  # spawns 2 processes that each import TensorFlow (~20-40 s on 2 shared cores)
@pytest.mark.usefixtures("every_worker")
def test_jobs_2_gives_the_same_fold_metrics(in_process: Path, project: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    result = invoke("cv", "tiny.yaml", "--folds", "3", "--runs-dir", str(tmp_path), "--no-plots",
                    "--jobs", "2", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(metrics_of(only_folder(tmp_path)), metrics_of(in_process))


@pytest.mark.slow  # starts a local Ray instance with 2 CPUs
def test_ray_executor_on_a_local_instance(in_process: Path, project: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ray", reason="ray is not installed (pip install 'kexp[ray]')")
    monkeypatch.chdir(project)
    result = invoke("cv", "tiny.yaml", "--folds", "3", "--runs-dir", str(tmp_path), "--no-plots",
                    "--executor", "ray", "--jobs", "2", "--threads", "1", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    cv_dir = only_folder(tmp_path)
    pd.testing.assert_frame_equal(metrics_of(cv_dir), metrics_of(in_process))
    assert (cv_dir / "fold-02" / "history.csv").is_file()


def cv_failing_at_fold_2(project: Path, runs: Path, monkeypatch: pytest.MonkeyPatch,
                         fail: Callable[[Any], None]) -> Result:
    """``kexp cv`` of 3 folds, 1 epoch, in ``project``, where ``fail(run_folder)`` raises as
    fold 2 starts to train (the others train as usual)."""
    from kexp import experiment

    real = experiment.train_in_folder

    def train(p, rf, options, log=None, **kw):  # noqa: ANN001, ANN003, ANN202
        if rf.path.name == "fold-02":
            fail(rf)
        return real(p, rf, options, **kw)

    monkeypatch.chdir(project)
    monkeypatch.setattr(experiment, "train_in_folder", train)
    result = invoke("cv", "tiny.yaml", "--folds", "3", "--runs-dir", str(runs), "--no-plots",
                    "--epochs", "1")
    monkeypatch.setattr(experiment, "train_in_folder", real)
    return result


def test_interrupt_keeps_finished_folds_and_resume_completes(project: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def ctrl_c(rf: Any) -> None:
        raise KeyboardInterrupt

    result = cv_failing_at_fold_2(project, tmp_path, monkeypatch, ctrl_c)
    assert result.exit_code == 130, result.output
    cv_dir = only_folder(tmp_path)
    assert f"kexp cv --resume {cv_dir}" in result.output
    assert json.loads((cv_dir / "status.json").read_text())["status"] == "interrupted"
    assert pd.read_csv(cv_dir / "folds.csv")["fold"].tolist() == [1]
    assert not (cv_dir / "summary.json").exists()
    first = (cv_dir / "fold-01" / "history.csv").stat().st_mtime_ns

    result = CliRunner().invoke(cli, ["cv", "--resume", str(cv_dir), "--no-plots"])
    assert result.exit_code == 0, result.output
    assert "1 of 3 folds completed, training 2" in result.output
    assert (cv_dir / "fold-01" / "history.csv").stat().st_mtime_ns == first  # not retrained
    assert json.loads((cv_dir / "status.json").read_text())["status"] == "completed"
    assert json.loads((cv_dir / "summary.json").read_text())["completed"] == 3


def test_a_failed_fold_is_recorded_and_the_others_finish(project: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from kexp.errors import RunError

    def nan(rf: Any) -> None:
        rf.set_status("failed", error="loss or a metric is NaN/inf")
        raise RunError("training diverged: a final metric is NaN or infinite")

    result = cv_failing_at_fold_2(project, tmp_path, monkeypatch, nan)
    assert result.exit_code == 1, result.output
    assert "fold(s) 2 failed" in result.output
    cv_dir = only_folder(tmp_path)
    folds = pd.read_csv(cv_dir / "folds.csv")
    assert folds["status"].tolist() == ["completed", "failed", "completed"]
    assert "training diverged" in folds.loc[1, "error"]
    summary = json.loads((cv_dir / "summary.json").read_text())
    assert summary["completed"] == 2 and summary["failed"] == [2]
    assert json.loads((cv_dir / "status.json").read_text())["status"] == "failed"
    assert json.loads((cv_dir / "fold-02" / "status.json").read_text())["status"] == "failed"


def test_stack_trains_every_fold_as_its_own_sub_network(project: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    result = invoke("cv", "tiny.yaml", "--folds", "3", "--runs-dir", str(tmp_path), "--no-plots",
                    "--stack", "--set", "data.validation=null", "--save-models",
                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    cv_dir = only_folder(tmp_path)
    folds = pd.read_csv(cv_dir / "folds.csv")
    assert folds["status"].tolist() == ["completed"] * 3
    for k in (1, 2, 3):
        fold = cv_dir / f"fold-0{k}"
        hist = pd.read_csv(fold / "history.csv")
        # a lone fold's CSVLogger columns: the learning rate logged, val_ columns NA
        assert list(hist.columns) == ["epoch", "accuracy", "learning_rate", "loss",
                                      "val_accuracy", "val_learning_rate", "val_loss"]
        assert len(hist) == 2 and hist["val_loss"].isna().all()
        assert (fold / "model.keras").is_file()
        state = json.loads((fold / "status.json").read_text())
        assert any("--stack" in note for note in state["notes"])


def test_stack_refuses_validation(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    result = CliRunner().invoke(cli, ["cv", "tiny.yaml", "--runs-dir", str(tmp_path), "--folds", "3", "--stack"])
    assert result.exit_code == 2
    assert "data.validation (line 8): not supported with --stack" in result.output
    assert not any(tmp_path.iterdir())


def test_cli_options_override_the_spec_cv_section(project: Path) -> None:
    from kexp.spec import load_spec

    (project / "withcv.yaml").write_text(SPEC + "cv: {folds: 4, stratify: false, seed: 11}\n")
    spec = load_spec(project / "withcv.yaml")
    assert configure(spec, []).cv == CVConfig(folds=4, stratify=False, seed=11)
    cfg = configure(spec, ["cv.folds=3", "cv.shuffle=false"])
    assert (cfg.cv.folds, cfg.cv.shuffle, cfg.cv.seed) == (3, False, 11)
    assert configure(load_spec(project / "tiny.yaml"), []).cv == CVConfig(
        folds=10, repeats=1, shuffle=True, stratify="auto", group=None, seed=None)


# ------------------------------------------------------- resume cannot mix experiments


@pytest.fixture()
def copy_of(in_process: Path, tmp_path: Path) -> Path:
    """A copy of the completed 3-fold CV folder, to damage."""
    target = tmp_path / in_process.name
    shutil.copytree(in_process, target)
    return target


def resume(cv_dir: Path) -> object:
    return CliRunner().invoke(cli, ["cv", "--resume", str(cv_dir), "--no-plots"])


def _delete(path: Path) -> None:
    shutil.rmtree(path) if path.is_dir() else path.unlink()


DAMAGED_FOLDS = [
    ("fold-02", _delete, "fold-02 is missing"),
    ("fold-02/indices.json", _delete, "fold-02/indices.json: missing"),
    ("fold-02/indices.json", lambda p: p.write_text(p.read_text()[:40]), "fold-02/indices.json: cannot be read"),
    ("fold-02/indices.json", lambda p: p.write_text(p.read_text().replace("[", "[0, ", 1)),
     "fold-02/indices.json: not the fold's recorded indices"),
    ("fold-02/status.json", lambda p: p.write_text("{garbage"), "fold-02/status.json: cannot be read"),
    ("fold-02/metrics.json", _delete, "fold-02/metrics.json: missing or damaged"),
]


@pytest.mark.parametrize("name, damage, note", DAMAGED_FOLDS,
                         ids=["deleted", "no-indices", "truncated-indices", "other-indices",
                              "garbage-status", "no-metrics"])
def test_a_damaged_fold_is_trained_again_never_dropped(copy_of: Path, in_process: Path, name: str,
                                                       damage: object, note: str) -> None:
    damage(copy_of / name)  # type: ignore[operator]
    kept = (copy_of / "fold-01" / "history.csv").stat().st_mtime_ns
    result = resume(copy_of)
    assert result.exit_code == 0, result.output
    assert f"Note: {note}" in result.output and "fold 2 is trained again" in result.output
    assert "2 of 3 folds completed, training 1" in result.output
    assert result.output.strip().splitlines()[-1].endswith("(3 folds)")
    assert (copy_of / "fold-01" / "history.csv").stat().st_mtime_ns == kept  # not retrained
    assert pd.read_csv(copy_of / "folds.csv")["fold"].tolist() == [1, 2, 3]
    assert json.loads((copy_of / "summary.json").read_text())["completed"] == 3
    idx = json.loads((copy_of / "fold-02" / "indices.json").read_text())
    assert idx == json.loads((in_process / "fold-02" / "indices.json").read_text())
    pd.testing.assert_frame_equal(metrics_of(copy_of), metrics_of(in_process))  # same seed, same fold


def test_an_edited_config_is_refused_naming_the_keys(copy_of: Path) -> None:
    config = copy_of / "config.yaml"
    config.write_text(config.read_text().replace("epochs: 2", "epochs: 30").replace("seed: 3", "seed: 4"))
    (copy_of / "fold-02" / "status.json").unlink()
    result = resume(copy_of)
    assert result.exit_code == 2, result.output
    assert f"{config}: differs from the config the CV started with" in result.output
    assert "fit.epochs: 2 when the CV started, 30 now; seed: 3 when the CV started, 4 now" in result.output
    assert "Traceback" not in result.output
    assert json.loads((copy_of / "status.json").read_text())["status"] == "completed"  # untouched
    assert not (copy_of / "fold-02" / "status.json").exists()  # nothing trained


@pytest.mark.parametrize("name, damage, message", [
    ("env.json", _delete, "env.json: missing"),
    ("config.yaml", lambda p: p.write_text("fit: {epochs: [\n"), "config.yaml: not valid YAML"),
    ("config.yaml", lambda p: p.write_text("- 1\n"), "config.yaml: not a mapping"),
    ("spec.yaml", _delete, "spec.yaml: missing"),
    ("spec.yaml", lambda p: p.write_text(p.read_text() + "# edited\n"), "spec.yaml: changed since the CV"),
    ("cv.json", _delete, "cv.json: missing"),
    ("cv.json", lambda p: p.write_text(p.read_text()[:100]), "cv.json: cannot be read"),
    ("cv.json", lambda p: p.write_text(p.read_text().replace('"epochs": 2', '"epochs": 3')), "cv.json: damaged"),
    ("status.json", lambda p: p.write_text("{"), "no readable status.json"),
], ids=["no-env", "garbage-config", "list-config", "no-spec", "edited-spec", "no-record",
        "truncated-record", "edited-record", "garbage-status"])
def test_a_damaged_cv_folder_is_exit_2_naming_the_file(copy_of: Path, name: str, damage: object,
                                                       message: str) -> None:
    damage(copy_of / name)  # type: ignore[operator]
    result = resume(copy_of)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("recorded", [None, 1, 3])
def test_a_cv_of_an_earlier_batch_generation_is_not_resumed(copy_of: Path, recorded: object) -> None:
    """Folds trained on other batches (an earlier kexp's, or NumPy's orders of another
    backend) are not mixed with new ones."""
    record = json.loads((copy_of / "cv.json").read_text())
    if recorded is None:
        del record["batches"]  # written before kexp recorded it
    else:
        record["batches"] = recorded
    (copy_of / "cv.json").write_text(json.dumps(record))
    _delete(copy_of / "fold-02")
    result = resume(copy_of)
    assert result.exit_code == 2, result.output
    whose = "another backend (batch generation 3" if recorded == 3 else \
        "an earlier kexp (batch generation 1"
    assert f"cv.json: its finished work trained on the batches of {whose}; this kexp on " \
           "tensorflow: 2, one tf.data stream" in result.output, result.output
    assert "Traceback" not in result.output
    assert not (copy_of / "fold-02").exists()  # nothing trained


def test_changed_data_is_refused_naming_the_file(copy_of: Path, project: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    edited = tmp_path / "here"
    edited.mkdir()
    frame = pd.read_csv(project / "tiny.csv")
    frame.loc[0, "a"] += 1
    frame.to_csv(edited / "tiny.csv", index=False)
    monkeypatch.chdir(edited)  # data.path tiny.csv is found in the current folder first
    result = resume(copy_of)
    assert result.exit_code == 2, result.output
    assert f"{edited / 'tiny.csv'} (then {project / 'tiny.csv'}): the data file changed since" in result.output


def test_a_second_process_is_refused_naming_the_holder(copy_of: Path) -> None:
    import os

    from kexp.engine import lock

    with lock.hold(copy_of):
        result = resume(copy_of)
        assert result.exit_code == 2, result.output
        assert f"{copy_of}: in use by pid {os.getpid()}" in result.output
    assert resume(copy_of).exit_code == 0  # released


def test_the_record_and_the_lock_do_not_confuse_ls(in_process: Path) -> None:
    record = json.loads((in_process / "cv.json").read_text())
    assert [f["fold"] for f in record["folds"]] == [1, 2, 3]
    assert record["data"]["files"]["data"]["path"].endswith("tiny.csv")
    assert (in_process / ".lock").is_file() and (in_process / ".lock").read_text() == ""
    result = CliRunner().invoke(cli, ["ls", str(in_process.parent), "--format", "json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert row["kind"] == "cv" and row["status"] == "completed"


def test_recomputed_folds_must_be_the_recorded_ones(in_process: Path) -> None:
    from kexp.cv import fingerprint
    from kexp.errors import DataError

    record = fingerprint.read(in_process)
    folds = [(f["seed"], *(np.array(json.loads((in_process / f"fold-0{f['fold']}" / "indices.json")
                                                .read_text())[k]) for k in ("train", "test")))
             for f in record["folds"]]
    fingerprint.check_folds(record, folds, in_process)
    with pytest.raises(DataError, match=r"fold\(s\) 2 differ"):
        fingerprint.check_folds(record, [folds[0], (folds[1][0] + 1, *folds[1][1:]), folds[2]], in_process)
    with pytest.raises(DataError, match="2 folds instead of 3"):
        fingerprint.check_folds(record, folds[:2], in_process)
