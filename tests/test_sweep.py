"""kexp sweep: parameter sets, every trial checked up front, trials as run folders, resume."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from kexp.cli import cli
from kexp.spec import parse_spec
from kexp.spec.sweep import SweepConfig
from kexp.sweep.plan import folder_name, label, make_plan, shorthand
from kexp.sweep.space import parameter_sets
from tests.conftest import TINY
from tests.helpers import ctrl_c_at_second_trial, only_folder

# ------------------------------------------------------------------ parameter sets


def test_grid_is_every_combination_in_the_spec_order() -> None:
    cfg = SweepConfig(parameters={"fit.batch_size": [16, 32, 64], "fit.epochs": [1, 2]})
    sets = parameter_sets(cfg, seed=0)
    assert len(sets) == 6
    assert {(s["fit.batch_size"], s["fit.epochs"]) for s in sets} == {
        (b, e) for b in (16, 32, 64) for e in (1, 2)}
    assert all(list(s) == ["fit.batch_size", "fit.epochs"] for s in sets)


def test_random_draws_are_reproducible_plain_numbers_within_bounds() -> None:
    cfg = SweepConfig(method="random", trials=12, parameters={
        "compile.optimizer.Adam.learning_rate": {"loguniform": [1e-4, 1e-2]},
        "fit.batch_size": {"randint": [8, 65]},
        "model.layers.0.Dense.activation": ["relu", "tanh"],
    })
    a, b = parameter_sets(cfg, seed=5), parameter_sets(cfg, seed=5)
    assert a == b and len(a) == 12
    for s in a:
        assert 1e-4 <= s["compile.optimizer.Adam.learning_rate"] <= 1e-2
        assert type(s["fit.batch_size"]) is int and 8 <= s["fit.batch_size"] < 65
        assert s["model.layers.0.Dense.activation"] in ("relu", "tanh")
    assert parameter_sets(cfg, seed=6) != a


@pytest.mark.parametrize("section, match", [
    ({"parameters": {}}, "at least 1"),
    ({"parameters": {"fit.epochs": []}}, "at least 1"),
    ({"parameters": {"fit.epochs": {"uniform": [1, 2]}}}, "method grid needs a list"),
    ({"method": "random", "parameters": {"fit.epochs": [1, 2]}}, "needs trials"),
    ({"method": "random", "trials": 2, "parameters": {"x": {"uniform": [2, 1]}}}, "low < high"),
    ({"method": "random", "trials": 2, "parameters": {"x": {"loguniform": [0, 1]}}}, "low > 0"),
])
def test_bad_sweep_sections(section: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SweepConfig.model_validate(section)


def test_labels_and_folder_names() -> None:
    params = {"compile.optimizer.Adam.learning_rate": 0.00123456, "fit.batch_size": 64}
    assert label(params) == "learning_rate=0.00123, batch_size=64"
    assert folder_name(7, params) == "007-learning_rate=0.00123,batch_size=64"
    assert len(folder_name(1, {f"a.k{i}": "x" * 20 for i in range(5)})) <= 60


def test_shorthand_parses_yaml_values_and_refuses_malformed() -> None:
    cfg = shorthand(["fit.batch_size=32,64", "compile.optimizer=adam,{SGD: {momentum: 0.9}}"])
    assert cfg.parameters["fit.batch_size"] == [32, 64]
    assert cfg.parameters["compile.optimizer"] == ["adam", {"SGD": {"momentum": 0.9}}]
    from kexp.errors import UsageError

    with pytest.raises(UsageError, match="PATH=V1,V2"):
        shorthand(["fit.batch_size"])


# ----------------------------------------------------------- every trial checked first


def test_every_trial_is_checked_before_any_trains(tmp_path: Path) -> None:
    spec = parse_spec(TINY)
    with pytest.raises(Exception, match=r"fit\.batch_size \(from --param: fit\.batch_size=-1\): "
                                        r"trial 2: .*greater than 0"):
        make_plan(spec, shorthand(["fit.batch_size=8,-1"]))
    with pytest.raises(Exception, match=r"fit\.epocs .*unknown key 'epocs'.*Did you mean 'epochs'"):
        make_plan(spec, shorthand(["fit.epocs=1,2"]))
    with pytest.raises(Exception, match=r"model\.layers\[5\] .*no list item 5"):
        make_plan(spec, shorthand(["model.layers.5.Dense.units=1,2"]))


def test_a_spec_without_a_seed_gets_one_seed_for_every_trial() -> None:
    data = yaml.safe_load(TINY)
    del data["seed"]
    plan = make_plan(parse_spec(yaml.safe_dump(data)), shorthand(["fit.batch_size=8,16"]))
    seeds = {yaml.safe_load(yaml.safe_dump(t.spec.data))["seed"] for t in plan.trials}
    assert len(seeds) == 1 and plan.cfg.seed in seeds


# ------------------------------------------------------------------- end to end




def test_sweep_writes_trials_best_and_summary(tiny: Path) -> None:
    result = CliRunner().invoke(cli, ["sweep", str(tiny), "--param", "fit.batch_size=16,64",
                                      "--runs-dir", "runs", "--no-plots", "--no-save-models"])
    assert result.exit_code == 0, result.output
    folder = only_folder(Path("runs"))
    trials = pd.read_csv(folder / "trials.csv")
    assert trials["trial"].tolist() == [1, 2] and trials["fit.batch_size"].tolist() == [16, 64]
    assert (trials["status"] == "completed").all()
    summary = json.loads((folder / "summary.json").read_text())
    best = min(trials["loss"])
    assert math.isclose(summary["best"]["value"], best) and summary["goal"] == "min"
    for row in trials.itertuples():
        run = folder / row.folder
        assert json.loads((run / "status.json").read_text())["status"] == "completed"
        assert yaml.safe_load((run / "config.yaml").read_text())["fit"]["batch_size"] == row[2]
    best_spec = yaml.safe_load((folder / "best.yaml").read_text())
    assert best_spec["fit"]["batch_size"] == summary["best"]["params"]["fit.batch_size"]
    assert "sweep" not in best_spec
    status = json.loads((folder / "status.json").read_text())
    assert status["kind"] == "sweep" and status["status"] == "completed"
    assert "Best: trial" in result.output


def test_a_failed_trial_does_not_stop_the_sweep(tiny: Path) -> None:
    # 3 output units for 2 classes: a combination only the data can refute; the others go on
    result = CliRunner().invoke(cli, [
        "sweep", str(tiny), "--param", "model.layers.1.Dense.units=3,2",
        "--runs-dir", "runs", "--no-plots", "--no-save-models"])
    assert result.exit_code == 0, result.output
    trials = pd.read_csv(only_folder(Path("runs")) / "trials.csv")
    assert trials["status"].tolist() == ["failed", "completed"]
    assert "the output layer has 3 unit(s) but the labels have 2 classes" in trials["error"][0]
    assert "trial(s) 1 failed" in result.output


def test_interrupted_sweep_resumes_to_the_same_trials(tiny: Path, monkeypatch) -> None:
    from kexp.sweep import executors

    real = executors.run_trial
    monkeypatch.setattr(executors, "run_trial", ctrl_c_at_second_trial(real))
    args = ["sweep", str(tiny), "--param", "fit.batch_size=16,32,64", "--runs-dir", "runs",
            "--no-plots", "--no-save-models", "--set", "deterministic=true"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 130, first.output
    folder = only_folder(Path("runs"))
    assert json.loads((folder / "status.json").read_text())["status"] == "interrupted"
    assert pd.read_csv(folder / "trials.csv")["trial"].tolist() == [1]
    monkeypatch.setattr(executors, "run_trial", real)
    again = CliRunner().invoke(cli, ["sweep", "--resume", str(folder)])
    assert again.exit_code == 0, again.output
    assert "1 of 3 trials completed, training 2" in again.output
    resumed = pd.read_csv(folder / "trials.csv")
    assert resumed["trial"].tolist() == [1, 2, 3] and (resumed["status"] == "completed").all()
    fresh = CliRunner().invoke(cli, [*args[:5], "fresh", *args[6:]])
    assert fresh.exit_code == 0, fresh.output
    clean = pd.read_csv(only_folder(Path("fresh")) / "trials.csv")
    pd.testing.assert_series_equal(resumed["loss"], clean["loss"])


def test_resume_refuses_a_changed_config(tiny: Path) -> None:
    args = ["sweep", str(tiny), "--param", "fit.batch_size=16", "--runs-dir", "runs", "--no-plots",
            "--no-save-models"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    folder = only_folder(Path("runs"))
    config = folder / "config.yaml"
    config.write_text(config.read_text().replace("epochs: 1", "epochs: 2"))
    result = CliRunner().invoke(cli, ["sweep", "--resume", str(folder)])
    assert result.exit_code == 2 and "changed since the sweep started" in result.output


def test_resume_refuses_a_sweep_of_an_earlier_batch_generation(tiny: Path) -> None:
    args = ["sweep", str(tiny), "--param", "fit.batch_size=16", "--runs-dir", "runs", "--no-plots",
            "--no-save-models"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    meta_path = only_folder(Path("runs")) / "sweep.json"
    meta = json.loads(meta_path.read_text())
    del meta["batches"]  # a sweep folder of a kexp that trained on Keras's batches
    meta_path.write_text(json.dumps(meta))
    result = CliRunner().invoke(cli, ["sweep", "--resume", str(meta_path.parent)])
    assert result.exit_code == 2, result.output
    assert "sweep.json: its finished work trained on the batches of an earlier kexp" in result.output


def test_resume_refuses_settings(tiny: Path) -> None:
    result = CliRunner().invoke(cli, ["sweep", "--resume", str(tiny.parent), "--param", "fit.epochs=1"])
    assert result.exit_code == 2 and "remove --param" in result.output


def test_trials_on_one_warm_model_train_the_numbers_of_lone_runs(tiny: Path) -> None:
    """Trials that share a model and compile section train on this process's warm model
    (kexp.train.warm): each trial's history equals a lone ``kexp run`` of its parameters,
    and its summary.txt names the layers as a lone run's."""
    from kexp.train import warm

    sets = ["--set", "deterministic=true", "--set", "fit.epochs=2"]
    reused = warm.PROCESS.reused
    result = CliRunner().invoke(cli, ["sweep", str(tiny), "--param", "fit.batch_size=8,16",
                                      "--runs-dir", "sweep", "--no-plots", "--no-save-models", *sets])
    assert result.exit_code == 0, result.output
    assert warm.PROCESS.reused >= reused + 1  # (at least) the second trial reused a model
    trials = only_folder(Path("sweep")) / "trials"
    for batch, folder in zip((8, 16), sorted(trials.iterdir()), strict=True):
        runs = Path(f"lone-{batch}")
        lone = CliRunner().invoke(cli, ["run", str(tiny), "--runs-dir", str(runs), *sets,
                                        "--set", f"fit.batch_size={batch}"])
        assert lone.exit_code == 0, lone.output
        alone = only_folder(runs)
        pd.testing.assert_frame_equal(pd.read_csv(folder / "history.csv"),
                                      pd.read_csv(alone / "history.csv"), check_exact=True)
        assert (folder / "summary.txt").read_text() == (alone / "summary.txt").read_text()
        assert (folder / "predictions.csv").read_text() == (alone / "predictions.csv").read_text()


def test_trials_read_their_shared_data_once(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sweep's trials (and each trial's own copy of it) come from one read of the data."""
    from kexp.data import sources

    reads: list[int] = []
    real = sources.load
    monkeypatch.setattr(sources, "load", lambda *a, **k: reads.append(1) or real(*a, **k))
    result = CliRunner().invoke(cli, ["sweep", str(tiny), "--param", "fit.batch_size=8,16,32",
                                      "--runs-dir", "runs", "--no-plots", "--no-save-models",
                                      "--set", "data.samples=121"])  # not read by an earlier test
    assert result.exit_code == 0, result.output
    assert len(reads) == 1
    trials = pd.read_csv(only_folder(Path("runs")) / "trials.csv")
    assert (trials["status"] == "completed").all()


def test_kept_data_is_a_copy_per_call(tiny: Path) -> None:
    from kexp import experiment
    from kexp.data import sources
    from kexp.spec import load_spec

    cfg, dirs = experiment.setup(load_spec(tiny))
    first = sources.load_kept(cfg.data, 3, dirs)
    first.x_train[:] = 0.0
    first.info["changed"] = True
    second = sources.load_kept(cfg.data, 3, dirs)
    assert second.x_train.any() and "changed" not in second.info
    assert second.x_train is not first.x_train


def test_no_sweep_section_and_no_param_is_a_usage_error(tiny: Path) -> None:
    result = CliRunner().invoke(cli, ["sweep", str(tiny)])
    assert result.exit_code == 2 and "no sweep: section" in result.output


@pytest.mark.slow
@pytest.mark.usefixtures("every_worker")
def test_jobs_2_gives_the_same_trials_as_jobs_1(tiny: Path) -> None:
    base = ["sweep", str(tiny), "--param", "fit.batch_size=16,32,64", "--no-plots",
            "--no-save-models", "--set", "deterministic=true"]
    one = CliRunner().invoke(cli, [*base, "--runs-dir", "one"])
    two = CliRunner().invoke(cli, [*base, "--runs-dir", "two", "--jobs", "2"])
    assert one.exit_code == 0 and two.exit_code == 0, one.output + two.output
    a = pd.read_csv(only_folder(Path("one")) / "trials.csv")
    b = pd.read_csv(only_folder(Path("two")) / "trials.csv")
    pd.testing.assert_series_equal(a["loss"], b["loss"])


# ------------------------------------------------------------------------- repeat

DEPTH = """\
data: {source: random, samples: 40, shape: [16], classes: 3}
model:
  layers:
    - Dense: {units: 8, activation: relu, input_dim: 16}
    - Dense: {units: 8, activation: relu}
      repeat: %s
    - Dense: {units: 3, activation: softmax}
compile: {loss: categorical_crossentropy}
"""


@pytest.mark.parametrize("repeat, params", [(0, 163), (1, 235), (3, 379)])
def test_repeat_stacks_a_layer_n_times(repeat: int, params: int) -> None:
    from kexp.model.build import build
    from kexp.spec import load_config, resolved

    cfg = load_config(parse_spec(DEPTH % repeat))
    model, outs = build(cfg.model, {"x": (16,)}, [])
    assert model.count_params() == params  # (16*8+8) + repeat*(8*8+8) + (8*3+3)
    assert len(model.layers) == 2 + repeat and outs == {"y": (None, 3)}
    again = load_config(parse_spec(yaml.safe_dump(resolved(cfg))))  # config.yaml round trip
    assert [i for i, _ in again.model.stacked()] == [i for i, _ in cfg.model.stacked()]


@pytest.mark.parametrize("spec, match", [
    (DEPTH % -1, r"model\.layers\[1\]\.repeat \(line 6\): expected a whole number of copies"),
    (DEPTH % "two", r"model\.layers\[1\]\.repeat \(line 6\): .*received 'two'"),
    (DEPTH.replace("softmax}", "softmax}\n      repeat: 2") % 1,
     r"model\.layers\[2\]\.repeat .*the last layer is the model's output"),
])
def test_bad_repeat(spec: str, match: str) -> None:
    from kexp.spec import load_config

    with pytest.raises(Exception, match=match):
        load_config(parse_spec(spec))


def test_a_swept_repeat_on_the_last_layer_names_the_parameter() -> None:
    spec = parse_spec(TINY + "sweep: {parameters: {model.layers.1.repeat: [1, 2]}}\n")
    with pytest.raises(Exception, match=r"model\.layers\[1\]\.repeat \(from sweep\.parameters: "
                                        r"model\.layers\.1\.repeat=2\): trial 2: the last layer"):
        make_plan(spec)


@pytest.mark.slow
def test_shipped_depth_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import ROOT

    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(cli, [
        "sweep", "configs/depth_sweep.yaml", "--epochs", "1", "--set", "data.limit=600",
        "--runs-dir", str(tmp_path), "--no-save-models"])
    assert result.exit_code == 0, result.output
    folder = only_folder(tmp_path)
    trials = pd.read_csv(folder / "trials.csv")
    assert trials["model.layers.1.repeat"].tolist() == [0, 1, 2, 3]
    assert (trials["status"] == "completed").all() and trials["val_accuracy"].between(0, 1).all()
    params = [int(next(line.split(":")[1].split("(")[0].replace(",", "").strip()
                       for line in (folder / f / "summary.txt").read_text().splitlines()
                       if "Total params" in line)) for f in trials["folder"]]
    assert [b - a for a, b in zip(params[:-1], params[1:], strict=True)] == [64 * 64 + 64] * 3
    for name in ("best-so-far.png", "by-model_layers_1_repeat.png", "top-accuracy.png"):
        assert (folder / name).is_file()


def test_figures_with_a_failed_trial_and_with_one_trial(tiny: Path) -> None:
    failed = CliRunner().invoke(cli, ["sweep", str(tiny), "--param", "model.layers.1.Dense.units=3,2",
                                      "--runs-dir", "two", "--no-save-models"])
    assert failed.exit_code == 0, failed.output
    folder = only_folder(Path("two"))
    for name in ("best-so-far.png", "by-model_layers_1_Dense_units.png", "top-loss.png"):
        assert (folder / name).is_file(), sorted(p.name for p in folder.iterdir())
    one = CliRunner().invoke(cli, ["sweep", str(tiny), "--param", "fit.batch_size=16",
                                   "--runs-dir", "one", "--no-save-models"])
    assert one.exit_code == 0, one.output
    assert (only_folder(Path("one")) / "best-so-far.png").is_file()
    replot = CliRunner().invoke(cli, ["plot", str(only_folder(Path("one")))])
    assert replot.exit_code == 0 and "best-so-far.png" in replot.output, replot.output


def test_ls_lists_a_sweep_with_its_best_trial(tiny: Path) -> None:
    assert CliRunner().invoke(cli, ["sweep", str(tiny), "--param", "fit.batch_size=16,64",
                                    "--runs-dir", "runs", "--no-plots", "--no-save-models"]).exit_code == 0
    listed = CliRunner().invoke(cli, ["ls", "runs", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.output)
    summary = json.loads((only_folder(Path("runs")) / "summary.json").read_text())
    assert row["kind"] == "sweep" and row["best_trial"] == summary["best"]["trial"]
    assert math.isclose(row["loss"], summary["best"]["value"])


def test_a_second_resume_of_a_held_sweep_is_refused(tiny: Path) -> None:
    from kexp.engine import lock

    args = ["sweep", str(tiny), "--param", "fit.batch_size=16", "--runs-dir", "runs", "--no-plots",
            "--no-save-models"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    folder = only_folder(Path("runs"))
    with lock.hold(folder, "kexp sweep"):  # as another kexp sweep --resume would
        result = CliRunner().invoke(cli, ["sweep", "--resume", str(folder)])
    assert result.exit_code == 2, result.output
    assert "in use by pid" in result.output and "must not train the same trials" in result.output
    assert "kexp sweep --resume" in result.output


def test_a_misspelled_sweep_metric_is_refused_before_any_trial(tiny: Path) -> None:
    text = tiny.read_text() + "sweep: {metric: val_acuracy, parameters: {fit.batch_size: [8, 16]}}\n"
    tiny.write_text(text.replace("epochs: 1,", "epochs: 1, validation_split: 0.25,", 1))
    result = CliRunner().invoke(cli, ["sweep", str(tiny), "--runs-dir", "runs"])
    assert result.exit_code == 2, result.output
    assert "sweep.metric (line" in result.output and "Did you mean 'val_accuracy'?" in result.output
    assert not Path("runs").exists() or not any(Path("runs").iterdir())
