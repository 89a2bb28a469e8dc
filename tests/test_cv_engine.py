"""The CV engine's claims of identical math: a fold trained on a worker's warm model
(kexp.train.warm) has the history of a fold trained on a fresh model; a stacked fold
(--stack) sees the batches of an unstacked one; kexp's batches (kexp.train.feed) are
reshuffled every epoch, the same for the same seed, whichever pipeline builds them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from kexp import backend
from kexp.cli import cli
from kexp.cv import scan, stack, vector
from tests.conftest import write_tiny_classes
from tests.helpers import only_folder

SPEC = """\
name: engine
seed: 3
deterministic: true
data:
  source: csv
  path: tiny.csv
  features: [a, b, c]
  target: label
preprocess:
  x: [standardize]
model:
  layers:
    - Dense: {units: 6, activation: relu, input_dim: 3}
    - Dropout: {rate: 0.3}
    - Dense: {units: 1, activation: sigmoid}
compile:
  loss: binary_crossentropy
  optimizer: {Adam: {learning_rate: 0.02}}
  metrics: [accuracy]
fit:
  epochs: 3
  batch_size: 8
  validation_split: 0.25
  callbacks:
    - ReduceLROnPlateau: {monitor: loss, factor: 0.5, patience: 1}
"""


#: the module's ``project`` (conftest.py)
PROJECT = {"specs": {"engine.yaml": SPEC}, "rows": 45, "seed": 1, "c_high": 9}


def cv(project: Path, runs: Path, *args: str, spec: str = "engine.yaml") -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(project)
        result = CliRunner().invoke(cli, ["cv", spec, "--folds", "3", "--runs-dir",
                                          str(runs), "--no-plots", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return only_folder(runs)


def histories(cv_dir: Path) -> list[pd.DataFrame]:
    return [pd.read_csv(cv_dir / f"fold-0{k}" / "history.csv") for k in (1, 2, 3)]


@pytest.fixture(scope="module")
def fresh(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cv(project, tmp_path_factory.mktemp("fresh"), "--fresh-models")


def test_a_warm_model_trains_the_numbers_of_a_fresh_one(project: Path, fresh: Path,
                                                        tmp_path: Path) -> None:
    warm = cv(project, tmp_path)
    for a, b in zip(histories(warm), histories(fresh), strict=True):
        assert len(a) == 3 and "val_loss" in a.columns and "learning_rate" in a.columns
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    cols = ["fold", "status", "loss", "accuracy", "epochs"]
    pd.testing.assert_frame_equal(pd.read_csv(warm / "folds.csv")[cols],
                                  pd.read_csv(fresh / "folds.csv")[cols], check_exact=True)
    for name in ("fold-02/predictions.csv", "fold-03/summary.txt"):
        assert (warm / name).read_text() == (fresh / name).read_text(), name


@pytest.mark.slow  # two worker processes import TensorFlow
@pytest.mark.usefixtures("every_worker")
def test_warm_workers_train_the_numbers_of_fresh_models(project: Path, fresh: Path,
                                                        tmp_path: Path) -> None:
    warm = cv(project, tmp_path, "--jobs", "2")
    for a, b in zip(histories(warm), histories(fresh), strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_stacked_folds_train_the_numbers_of_unstacked_ones(project: Path, tmp_path: Path) -> None:
    plain = ["--set", "fit.validation_split=0", "--set", "fit.callbacks=[]",
             "--set", "model.layers.1.Dropout.rate=0"]
    alone = cv(project, tmp_path / "alone", *plain)
    stacked = cv(project, tmp_path / "stacked", *plain, "--stack")
    # the same weights after training: the same test metrics and predictions
    cols = ["fold", "status", "loss", "accuracy"]
    pd.testing.assert_frame_equal(pd.read_csv(alone / "folds.csv")[cols],
                                  pd.read_csv(stacked / "folds.csv")[cols], rtol=1e-6)
    for k in (1, 2, 3):
        a, b = (pd.read_csv(d / f"fold-0{k}" / "predictions.csv") for d in (alone, stacked))
        pd.testing.assert_frame_equal(a, b, rtol=1e-5)
    for a, b in zip(histories(alone), histories(stacked), strict=True):
        pd.testing.assert_series_equal(a["accuracy"], b["accuracy"])
        # Keras logs a stacked output's training loss as the plain mean of its batches'
        # losses (the last, smaller batch weighs as much as a full one): close, not equal
        pd.testing.assert_series_equal(a["loss"], b["loss"], rtol=0.05)
    if backend.name() == "jax":  # the folds' own models as one program on the device
        assert scan.NOTE in notes(stacked / "fold-01")
        return
    # a Dropout layer: not vectorized, the folds train as sub-networks of one model
    assert any(n.startswith(f"{stack.NOTE} (not vectorized: layer ") and "is a Dropout" in n
               for n in notes(stacked / "fold-01"))
    assert vector.NOTE not in notes(stacked / "fold-01")


VECTOR = SPEC.split("model:")[0].replace("tiny.csv", "tiny46.csv") + """\
model:
  layers:
    - Dense: {units: 6, activation: relu, input_dim: 3, kernel_regularizer: {L2: {l2: 0.01}}}
    - Dense: {units: 1, activation: sigmoid}
compile:
  loss: binary_crossentropy
  optimizer: {Adam: {learning_rate: 0.02}}
  metrics: [accuracy]
  steps_per_execution: 2
fit:
  epochs: 3
  batch_size: 8
"""


def notes(fold: Path) -> list[str]:
    return list(json.loads((fold / "status.json").read_text())["notes"])


def test_vectorized_stacked_folds_train_the_numbers_of_unstacked_ones(
        project: Path, tmp_path: Path) -> None:
    """Dense layers only: the folds train as one vectorized network, folds of 31, 31 and
    30 rows (last batches of 7, 7 and 6 rows of 8)."""
    write_tiny_classes(project / "tiny46.csv", n=46, seed=1, c_high=9)
    (project / "vector.yaml").write_text(VECTOR)
    alone = cv(project, tmp_path / "alone", spec="vector.yaml")
    stacked = cv(project, tmp_path / "stacked", "--stack", spec="vector.yaml")
    folds = [pd.read_csv(d / "folds.csv") for d in (alone, stacked)]
    assert sorted(folds[0]["train_size"]) == [30, 31, 31]
    cols = ["fold", "status", "loss", "accuracy", "epochs"]
    pd.testing.assert_frame_equal(folds[0][cols], folds[1][cols], rtol=1e-5)
    for k in (1, 2, 3):
        a, b = (pd.read_csv(d / f"fold-0{k}" / "predictions.csv") for d in (alone, stacked))
        pd.testing.assert_frame_equal(a, b, rtol=1e-5)
        assert (scan.NOTE if backend.name() == "jax" else vector.NOTE) in \
            notes(stacked / f"fold-0{k}")
        assert (alone / f"fold-0{k}" / "summary.txt").read_text() == \
            (stacked / f"fold-0{k}" / "summary.txt").read_text()
    for a, b in zip(histories(alone), histories(stacked), strict=True):
        assert len(a) == len(b) == 3
        pd.testing.assert_series_equal(a["accuracy"], b["accuracy"])
        # the loss logged with its L2 penalty and weighted by batch size, as Keras logs it
        pd.testing.assert_series_equal(a["loss"], b["loss"], rtol=1e-5)


SCANNED = VECTOR.replace("""    - Dense: {units: 1, activation: sigmoid}""", """\
    - Dropout: {rate: 0.3, seed: 5}
    - Dense: {units: 1, activation: sigmoid}""").replace(
    "optimizer: {Adam: {learning_rate: 0.02}}",
    "optimizer: {Adam: {learning_rate: {ExponentialDecay: {initial_learning_rate: 0.05, "
    "decay_steps: 3, decay_rate: 0.8}}, clipnorm: 0.5}}")


@pytest.mark.skipif("backend.name() != 'jax'", reason="the device-side loop is JAX's")
def test_on_jax_stacked_folds_train_as_one_program_the_numbers_of_unstacked_ones(
        project: Path, tmp_path: Path) -> None:
    """Keras's own JAX training step mapped over the folds, every epoch in one scan: a
    Dropout layer (its seed state per fold), a learning-rate schedule and clipping by norm
    (per fold, as alone), last batches of 7, 7 and 6 rows (one step per size)."""
    write_tiny_classes(project / "tiny46.csv", n=46, seed=1, c_high=9)
    (project / "scanned.yaml").write_text(SCANNED)
    alone = cv(project, tmp_path / "alone", spec="scanned.yaml")
    stacked = cv(project, tmp_path / "stacked", "--stack", spec="scanned.yaml")
    folds = [pd.read_csv(d / "folds.csv") for d in (alone, stacked)]
    cols = ["fold", "status", "loss", "accuracy", "epochs"]
    pd.testing.assert_frame_equal(folds[0][cols], folds[1][cols], rtol=1e-5)
    for k in (1, 2, 3):
        assert scan.NOTE in notes(stacked / f"fold-0{k}")
        a, b = (pd.read_csv(d / f"fold-0{k}" / "predictions.csv") for d in (alone, stacked))
        pd.testing.assert_frame_equal(a, b, rtol=1e-5)
    for a, b in zip(histories(alone), histories(stacked), strict=True):
        assert list(a.columns) == list(b.columns) and len(a) == 3
        pd.testing.assert_frame_equal(a, b, rtol=1e-5)


def test_only_dense_networks_with_elementwise_updates_are_vectorized() -> None:
    from kexp import backend
    from kexp.spec import Config

    keras = backend.keras()
    cfg = Config.model_validate({"data": {"source": "mnist"}, "model": {"layers": [{"Dense": {"units": 2}}]},
                                 "compile": {"loss": "mse"}})

    def model(*layers: object, **opt: object) -> object:
        m = keras.Sequential([keras.Input((3,)), *layers])
        m.compile(loss="mse", optimizer=keras.optimizers.Adam(**opt))
        return m

    def dense(**kw: object) -> object:
        return keras.layers.Dense(2, **kw)

    assert vector.why_not_vectorized(cfg, [model(dense(), dense()), model(dense(), dense())]) is None
    assert "shapes" in str(vector.why_not_vectorized(cfg, [model(dense()), model(keras.layers.Dense(4))]))
    for bad in (model(dense(), keras.layers.Dropout(0.1)), model(dense(), clipnorm=1.0),
                model(dense(kernel_constraint="non_neg")),
                model(dense(activity_regularizer="l2")),
                model(dense(kernel_regularizer=keras.regularizers.OrthogonalRegularizer()))):
        assert vector.why_not_vectorized(cfg, [bad]) is not None
    auc = cfg.model_copy(update={"compile": cfg.compile.model_copy(update={"metrics": ["AUC"]})})
    assert "AUC" in str(vector.why_not_vectorized(auc, [model(dense())]))  # not a per-sample mean


def test_the_warm_model_is_kept_only_for_the_same_layers() -> None:
    from kexp import backend
    from kexp.train.warm import Warm

    keras = backend.keras()

    def model(units: int) -> object:
        keras.backend.clear_session(free_memory=False)  # as the engine builds a fold's model
        m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(units)])
        m.compile(loss="mse", optimizer="adam")
        return m

    warm = Warm()
    first = model(4)
    warm.keep(first, "k")
    assert warm.matches("k") and not warm.matches("other") and not warm.matches(None)
    second = model(4)
    assert warm.reuse(second) is first
    np.testing.assert_array_equal(first.get_weights()[0], second.get_weights()[0])
    assert warm.reuse(model(5)) is None  # other shapes: the fresh model trains
    warm.keep(model(5), None)  # None: never kept (custom code)
    assert not warm.matches(None) and warm.model is None


def test_custom_code_is_never_reused() -> None:
    from kexp.spec import Config
    from kexp.train.warm import key

    base = {"data": {"source": "mnist"}, "model": {"layers": [{"Dense": {"units": 2}}]},
            "compile": {"loss": "mse"}}
    assert key(Config.model_validate(base)) is not None
    custom = {**base, "compile": {"loss": "examples.inventory:inventory_cost"}}
    assert key(Config.model_validate(custom)) is None


def order(ds: object) -> list[float]:
    return [float(v) for _, y in ds for v in np.asarray(y).ravel()]


def test_batches_are_reshuffled_every_epoch_the_same_for_the_same_seed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from kexp import backend
    from kexp.train import feed

    backend.seed_everything(5, False)
    x, y = np.arange(60, dtype="float64").reshape(30, 2), np.arange(30, dtype="float64")
    ds = feed.batches(x, y, 8, shuffle=True, seed=9)
    first, second = order(ds), order(ds)
    assert sorted(first) == list(range(30)) and first != second
    assert [len(np.asarray(b)) for _, b in ds] == [8, 8, 8, 6]
    assert next(iter(ds))[0].dtype.name == "float32"  # Keras's float type, as its adapters cast
    again = feed.batches(x, y, 8, shuffle=True, seed=9)
    assert [order(again), order(again)] == [first, second]
    monkeypatch.setattr(feed, "GATHER_BYTES", 0)  # the pipeline for large data: same orders
    gathered = feed.batches(x, y, 8, shuffle=True, seed=9)
    assert [order(gathered), order(gathered)] == [first, second]
    assert order(feed.batches(x, y, 8, shuffle=False, seed=9)) == list(range(30))


def test_holdout_is_kerass_validation_split() -> None:
    from kexp.train import feed

    x, y = {"a": np.arange(10), "b": np.arange(10) * 2}, np.arange(10)
    xt, yt, xv, yv = feed.holdout(x, y, 0.25)  # floor(10 * 0.75) = 7 rows train
    assert xt["a"].tolist() == list(range(7)) and xv["b"].tolist() == [14, 16, 18]
    assert yt.tolist() == list(range(7)) and yv.tolist() == [7, 8, 9]


def test_a_fit_trains_on_the_epoch_orders_one_stream_after_another() -> None:
    """What kexp's fit feeds, epoch by epoch, is ``feed.epoch_orders`` (the orders a
    stacked CV gathers its folds' batches by)."""
    from kexp import backend
    from kexp.spec import FitConfig
    from kexp.train import feed
    from kexp.train.fit import Split, fit

    keras = backend.keras()
    seen: list[float] = []

    class Spy(keras.layers.Layer):
        def call(self, x, training=None):  # noqa: ANN001, ANN202
            if training:
                seen.extend(np.asarray(x[:, 0]).tolist())
            return x

    x, y = np.arange(30, dtype="float32").reshape(30, 1), np.zeros(30, "float32")
    backend.seed_everything(11, False)
    model = keras.Sequential([keras.Input((1,)), Spy(), keras.layers.Dense(1)])
    model.compile(loss="mse", optimizer="sgd", run_eagerly=True, steps_per_execution=3)
    fit(model, FitConfig(epochs=3, batch_size=8), Split({"x": x}, {"y": y}), [], 0, seed=11,
        per_execution=3)
    backend.seed_everything(11, False)
    orders = feed.epoch_orders(30, True, 11, 3)
    np.testing.assert_array_equal(np.array(seen).reshape(3, 30), orders)
    assert model.steps_per_execution == 2  # 4 batches an epoch: the largest divisor up to 3


def test_steps_per_execution_divides_the_epoch() -> None:
    from kexp.train import feed

    assert [feed.per_execution(70, 62), feed.per_execution(50, 62), feed.per_execution(1, 62),
            feed.per_execution(8, 8), feed.per_execution(5, 7)] == [62, 31, 1, 8, 1]
    assert feed.steps(30, 8) == 4 and feed.steps(32, 8) == 4


NAMED = """\
name: named
seed: 3
data:
  source: csv
  path: tiny.csv
  features: {left: [b], right: [c]}
  target: {label: label, size: a}
preprocess:
  x: {left: [standardize], right: [standardize]}
  y: {label: none, size: none}
model:
  type: functional
  inputs: {left: {shape: [1]}, right: {shape: [1]}}
  nodes:
    merged: {Concatenate: {}, inputs: [left, right]}
    hidden: {Dense: {units: 4, activation: relu}, inputs: merged}
    label: {Dense: {units: 1, activation: sigmoid}, inputs: hidden}
    size: {Dense: {units: 1}, inputs: hidden}
  outputs: [label, size]
compile:
  loss: {label: binary_crossentropy, size: mse}
  optimizer: adam
  metrics: {label: [accuracy], size: [mae]}
fit: {epochs: 1, batch_size: 8}
"""


def test_data_per_named_input_and_output_is_cross_validated(project: Path, tmp_path: Path) -> None:
    (project / "named.yaml").write_text(NAMED)
    cv_dir = cv(project, tmp_path, spec="named.yaml")
    folds = pd.read_csv(cv_dir / "folds.csv")
    assert folds["status"].tolist() == ["completed"] * 3
    assert (folds["train_size"] + folds["test_size"] == 45).all()  # rows, not names
    assert {"label_accuracy", "size_mae"} <= set(folds.columns)
    summary = (cv_dir / "summary.json").read_text()
    assert '"splitter": "StratifiedKFold"' in summary  # by the first output's classes


def _no_setup() -> None:
    """A worker initializer that imports nothing (these workers need no TensorFlow)."""


@pytest.mark.parametrize("main_trains", [False, True])
def test_every_task_runs_once_in_the_workers_or_this_process(main_trains: bool) -> None:
    from kexp.engine.workers import Workers

    done_here: list[int] = []

    def here(task: int) -> int:
        done_here.append(task)
        return task

    with Workers(1, _no_setup, ()).start() as pool:
        got = list(pool.run(abs, [-1, -2, -3, -4], key=abs, unit="tasks",
                            local=here if main_trains else None))
    assert sorted(abs(t) for t in got) == [1, 2, 3, 4]
    if not main_trains:
        assert got and not done_here and all(t > 0 for t in got)  # all by the worker (abs)
    assert pool.pool is None  # closed: the worker is gone


def test_stopping_idle_workers_does_not_wait_out_the_grace_period() -> None:
    """An error before any fold (bad spec, Ctrl-C) stops the workers started first
    thing; once they are gone, nothing is left to wait for."""
    import time

    from kexp.engine.workers import STOP_GRACE_S, Workers

    pool = Workers(1, _no_setup, ()).start()
    list(pool.run(abs, [-1], key=abs, unit="tasks"))  # the worker is up
    t0 = time.monotonic()
    pool.close(finished=False)
    assert time.monotonic() - t0 < STOP_GRACE_S * 0.9  # not the grace period (also when busy)
    for proc in pool.procs:  # exited (a zombie until the pool's thread reaps it) or reaped
        # its sentinel pipe closes as the kernel tears it down, a moment before it is a zombie
        deadline, state = time.monotonic() + 2, "?"
        while time.monotonic() < deadline:
            try:
                state = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (FileNotFoundError, ProcessLookupError):  # reaped, also mid-read
                state = "reaped"
            if state in ("Z", "reaped"):
                break
            time.sleep(0.01)
        assert state in ("Z", "reaped"), state


def test_jobs_fit_the_cores_other_programs_leave(monkeypatch: pytest.MonkeyPatch) -> None:
    """--jobs N uses no more processes than the cores other programs leave idle (at least
    this one), takes N as asked on an idle machine, and says when it uses fewer."""
    from kexp.engine.cores import BUSY_CHECK_ENV, fitting_jobs

    monkeypatch.delenv(BUSY_CHECK_ENV, raising=False)
    assert fitting_jobs(2, 0, 2) == (2, None)
    assert fitting_jobs(3, 0, 2) == (3, None)  # an idle machine: as asked
    assert fitting_jobs(2, None, 2) == (2, None)  # not known: as asked
    jobs, note = fitting_jobs(2, 1, 2)
    assert jobs == 1 and note is not None and "other programs keep 1 of the 2 cores" in note
    assert fitting_jobs(4, 3, 2)[0] == 1
    assert fitting_jobs(8, 3, 16)[0] == 8
    assert fitting_jobs(8, 12, 16)[0] == 4
    monkeypatch.setenv(BUSY_CHECK_ENV, "0")
    assert fitting_jobs(2, 1, 2) == (2, None)


@pytest.mark.slow  # three busy-loop processes
def test_busy_cores_counts_other_programs(busy_cpu: None) -> None:
    from kexp.engine.cores import busy_cores

    busy = busy_cores()
    assert busy is not None and busy >= 3
