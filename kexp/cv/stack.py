"""Train the K folds of a CV together as one model.

Opt-in (``kexp cv --stack``). On JAX the folds' own models train as one program on the
device (:mod:`kexp.cv.scan`: Keras's JAX training step mapped over the folds, any layers).
Elsewhere, when the folds' model allows it (a Dense network, an
elementwise optimizer: :func:`kexp.cv.vector.why_not_vectorized`), the folds train vectorized:
each layer one batched kernel for all folds (:mod:`kexp.cv.vector`). Otherwise they
train as one model of K disjoint sub-networks, as follows. Each fold keeps its own preprocessing (fitted on
its training part), its own freshly seeded sub-network, its own shuffled
batches and its own loss; the total loss is the sum of the folds' losses, so
every weight's gradient is its own fold's gradient, and Adam-like optimizers
keep per-weight state: each sub-network trains as it would alone. What is
shared is the dispatch: one training step advances all K folds, so small
models (where the per-step overhead dominates) train close to K times faster.

Limits (checked before training): a Sequential model, no validation
(``data.validation``, ``fit.validation_split`` / ``validation_data``), no
``fit.callbacks``, no ``fit.class_weight``, and every fold with the same number
of batches per epoch.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kexp import backend, experiment
from kexp.cv import scan, vector
from kexp.cv.folds import FoldOutcome, FoldTask, Job, build_fold, clear_fold, fold_parts
from kexp.data import sources as data_mod
from kexp.data.named import for_keras
from kexp.engine.output import Log
from kexp.errors import ConfigError
from kexp.model import objects
from kexp.rundir.write import RunFolder
from kexp.spec import Config, CsvData, ImagesData
from kexp.train import feed
from kexp.train.callbacks import learning_rate_log

NOTE = "trained with --stack: one model of disjoint per-fold sub-networks"


def check(cfg: Config, train_sizes: list[int]) -> None:
    """Raise ConfigError when the spec asks for something --stack cannot do."""
    if getattr(cfg.model, "type", "sequential") != "sequential":
        raise ConfigError(("model", "type"), "--stack supports sequential models only",
                          hint="Run the folds separately (without --stack)")
    if isinstance(cfg.data, CsvData) and cfg.data.stream is True:
        raise ConfigError(("data", "stream"), "--stack holds every fold's data in one array; "
                          "a streamed CSV is read chunk by chunk",
                          hint="Run the folds separately (without --stack), or set "
                               "data.stream: false to read the file whole")
    if cfg.precision != "float32":
        raise ConfigError(("precision",), f"--stack trains the folds as one float32 model; "
                          f"precision: {cfg.precision} is for one model at a time",
                          hint="Run the folds separately (without --stack), or remove precision")
    if isinstance(cfg.data, ImagesData):
        raise ConfigError(("data", "source"), "--stack holds every fold's data in one array; "
                          "images read from a folder are decoded batch by batch",
                          hint="Run the folds separately (without --stack), e.g. with --jobs")
    bad = [
        (cfg.data.validation is not None, ("data", "validation")),
        (bool(cfg.fit.validation_split), ("fit", "validation_split")),
        (cfg.fit.validation_data is not None, ("fit", "validation_data")),
        (bool(cfg.fit.callbacks), ("fit", "callbacks")),
        (cfg.fit.class_weight is not None, ("fit", "class_weight")),
    ]
    for flag, loc in bad:
        if flag:
            raise ConfigError(loc, "not supported with --stack (the folds train as one model)",
                              hint="Remove it, or run the folds separately (without --stack)")
    bs = cfg.fit.batch_size
    steps = {feed.steps(n, bs) for n in train_sizes}
    if len(steps) > 1:
        raise ConfigError(("fit", "batch_size"),
                          f"with --stack every fold needs the same number of batches per epoch; "
                          f"training parts of {sorted(set(train_sizes))} samples give "
                          f"{sorted(steps)} batches of {bs}",
                          hint="Choose a batch size for which they agree, or run without --stack")


@dataclass
class Trained:
    """Folds trained already as members of a bigger program (a vectorized sweep's,
    :mod:`kexp.sweep.stacked`): each fold's prepared part (its model trained), its
    history, and its share of the training's seconds."""

    parts: list[experiment.Prepared]
    histories: list[dict[str, list[float]]]
    seconds: float
    #: the model that records them (set to each fold's variables; traced once for the
    #: trials it records); None: the first fold's
    evaluator: Any = None


def train(job: Job, tasks: list[FoldTask], log: Log,
          trained: Trained | None = None) -> Iterator[FoldOutcome]:
    """Train every task's fold in one stacked model; yield a FoldOutcome per fold: on JAX
    as one program on the device (:mod:`kexp.cv.scan`), else vectorized
    (:mod:`kexp.cv.vector`) when the folds' model allows it, else as K sub-networks of
    one model. ``trained``: the folds trained already, only recorded."""
    keras = backend.keras()
    t0 = time.monotonic()
    cfg = job.cfg
    check(cfg, [len(t.train) for t in tasks])
    if trained is not None:
        yield from _on_evaluator(job, tasks, trained.parts, trained.histories, trained.seconds,
                                 trained.evaluator)
        return
    keras.backend.clear_session()
    if backend.name() == "jax":
        parts = scan_parts(job, tasks)
        reason = scan.why_not([p.model for p, _ in parts], [o for _, o in parts],
                              cfg.fit.batch_size)
        if reason is None:
            log(f"--stack: training {len(parts)} folds as one program on the device")
            yield from _scanned(job, tasks, parts, t0)
            return
        keras.backend.clear_session()
    first = _parts(job, tasks[:1], vector.NOTE, rename=False)
    reason = vector.why_not_vectorized(cfg, [p.model for p, _ in first])
    if reason is None:
        parts = first + _parts(job, tasks[1:], vector.NOTE, rename=False)
        reason = vector.why_not_vectorized(cfg, [p.model for p, _ in parts])
        if reason is None:
            log(f"--stack: training {len(parts)} folds vectorized")
            yield from _vectorized(job, tasks, parts, t0)
            return
    log(f"--stack: training the folds as sub-networks of one model ({reason})")
    keras.backend.clear_session()
    parts = _parts(job, tasks, f"{NOTE} (not vectorized: {reason})", rename=True)
    inputs = [keras.Input(tuple(for_keras(p.split.x_train).shape[1:]), name=f"x_{p.cfg.model.name}")
              for p, _ in parts]
    outputs = [p.model(i) for (p, _), i in zip(parts, inputs, strict=True)]
    stacked = keras.Model(inputs, outputs, name="stacked_folds")
    steps = feed.steps(len(parts[0][1][0]), cfg.fit.batch_size)
    _compile(stacked, cfg, len(parts), feed.per_execution(cfg.compile.steps_per_execution, steps))
    log(f"training {len(parts)} folds as one stacked model ({stacked.count_params()} weights)")
    history = stacked.fit(_steps([p for p, _ in parts], [o for _, o in parts],
                                 cfg.fit.batch_size, steps),
                          epochs=cfg.fit.epochs, steps_per_epoch=steps, verbose=0,
                          shuffle=False, callbacks=[learning_rate_log()]).history
    per_fold_s = (time.monotonic() - t0) / len(parts)
    for task, (p, _) in zip(tasks, parts, strict=True):
        yield _record(job, task, p, _fold_history(history, _name(task)), per_fold_s)


def _vectorized(job: Job, tasks: list[FoldTask],
                parts: list[tuple[experiment.Prepared, Any]], t0: float) -> Iterator[FoldOutcome]:
    """Train the folds as one vectorized model; record each fold on one evaluation model
    (the first fold's fresh model) set to the fold's trained weights."""
    cfg = job.cfg
    models = [p.model for p, _ in parts]
    ys = [for_keras(p.split.y_train) for p, _ in parts]
    model = vector.build(models, cfg, tuple(ys[0].shape[1:]))
    orders = [o for _, o in parts]
    steps = feed.steps(len(orders[0][0]), cfg.fit.batch_size)
    vector.compile_vectorized(model, cfg, feed.per_execution(cfg.compile.steps_per_execution, steps))
    data = vector.stream([for_keras(p.split.x_train) for p, _ in parts], ys, orders,
                         cfg.fit.batch_size, steps)
    history = model.fit(data, epochs=cfg.fit.epochs, steps_per_epoch=steps, verbose=0,
                        shuffle=False, callbacks=[learning_rate_log()]).history
    per_fold_s = (time.monotonic() - t0) / len(parts)
    evaluator = models[0]
    for k, (task, (p, _)) in enumerate(zip(tasks, parts, strict=True)):
        evaluator.set_weights(vector.fold_weights(model, k))
        p.model = evaluator
        cols = {**vector.fold_history(model, history, k), "learning_rate": history["learning_rate"]}
        yield _record(job, task, p, _frame(cols), per_fold_s)


def _scanned(job: Job, tasks: list[FoldTask],
             parts: list[tuple[experiment.Prepared, Any]], t0: float) -> Iterator[FoldOutcome]:
    """Train the folds' own models as one program on the device (:mod:`kexp.cv.scan`);
    record each fold on one evaluation model (the first fold's) set to the fold's
    variables, so that nothing is traced again per fold."""
    models, xs, ys = fold_arrays(parts)
    histories = scan.train(models, xs, ys, [o for _, o in parts], job.cfg.fit.batch_size)
    yield from _on_evaluator(job, tasks, [p for p, _ in parts], histories,
                             (time.monotonic() - t0) / len(parts))


def _on_evaluator(job: Job, tasks: list[FoldTask], parts: list[experiment.Prepared],
                  histories: list[dict[str, list[float]]], per_fold_s: float,
                  evaluator: Any = None) -> Iterator[FoldOutcome]:
    """Record each trained fold on one evaluation model (``evaluator``, else the first
    fold's) set to the fold's variables: its evaluation and predictions are traced once
    for all folds."""
    evaluator = evaluator if evaluator is not None else parts[0].model
    evaluator.make_predict_function()  # traced once for all folds (kexp.train.predictions)
    for task, p, history in zip(tasks, parts, histories, strict=True):
        scan.copy_state(p.model, evaluator)
        p.model = evaluator
        yield _record(job, task, p, _frame(history), per_fold_s)


def fold_arrays(parts: list[tuple[experiment.Prepared, Any]]
                ) -> tuple[list[Any], list[Any], list[Any]]:
    """The folds' models and their training parts (as Keras takes them)."""
    return ([p.model for p, _ in parts], [for_keras(p.split.x_train) for p, _ in parts],
            [for_keras(p.split.y_train) for p, _ in parts])


def _name(task: FoldTask) -> str:
    """The fold's output (and, unvectorized, sub-network) name: its history's prefix."""
    return f"fold_{task.fold:02d}"


def scan_parts(job: Job, tasks: list[FoldTask]) -> list[tuple[experiment.Prepared, Any]]:
    """Each task's prepared fold (its model compiled and built) and its epochs' row
    orders, for training on the device (:mod:`kexp.cv.scan`)."""
    parts = _parts(job, tasks, scan.NOTE, rename=False)
    scan.build(*fold_arrays(parts))
    return parts


def _parts(job: Job, tasks: list[FoldTask], note: str,
           rename: bool) -> list[tuple[experiment.Prepared, Any]]:
    """Each task's prepared fold and its epochs' row orders (drawn under the fold's own
    seed, as a lone fold's are)."""
    out = []
    for task in tasks:
        p = _part(job, task, note, rename)
        rows = len(for_keras(p.split.x_train))
        out.append((p, _orders(rows, job.cfg.fit.shuffle, p.seed, job.cfg.fit.epochs)))
    return out


@functools.lru_cache(maxsize=64)
def _orders(rows: int, shuffle: bool, seed: int, epochs: int) -> np.ndarray:
    """:func:`kexp.train.feed.epoch_orders` of a fold, drawn once per process: it is
    called right after :func:`kexp.cv.folds.build_fold` seeded everything with the
    fold's ``seed``, so the same arguments give the same orders (the trials of a
    vectorized sweep share their folds'). Read-only."""
    out = feed.epoch_orders(rows, shuffle, seed, epochs)
    out.setflags(write=False)
    return out


def _part(job: Job, task: FoldTask, note: str, rename: bool) -> experiment.Prepared:
    """One fold's preprocessing and freshly seeded model (the init of a lone fold); with
    ``rename``, the model is named as the fold's sub-network of the stacked model."""
    cfg = job.cfg
    update: dict[str, Any] = {"seed": task.seed}
    if rename:
        update["model"] = cfg.model.model_copy(update={"name": _name(task)})
    fcfg = cfg.model_copy(update=update)
    x_tr, y_tr, x_te, y_te = fold_parts(job, task)
    notes = [*job.notes, note]
    split, pre, model = build_fold(fcfg, task.seed, (x_tr, y_tr, x_te, y_te), notes)
    raw = data_mod.RawData(x_tr, y_tr, x_te, y_te, info={**job.raw_info, "fold": task.fold})
    return experiment.Prepared(job.spec, fcfg, task.seed, raw, split, pre, model, notes)


def _compile(stacked: Any, cfg: Config, n: int, per_execution: int) -> None:
    """The spec's loss and metrics once per fold, one optimizer for the stacked model."""
    notes: list[str] = []
    cc = cfg.compile
    stacked.compile(
        loss=[objects.loss(cc.loss, ("compile", "loss"), notes) for _ in range(n)],
        optimizer=objects.optimizer(cc.optimizer, ("compile", "optimizer"), notes),
        metrics=[[objects.metric(m, ("compile", "metrics", i), notes)
                  for i, m in enumerate(cc.metrics)] for _ in range(n)],
        steps_per_execution=per_execution,
        jit_compile=cc.jit_compile,
    )


def _steps(parts: list[experiment.Prepared], orders: list[Any], batch: int, steps: int) -> Any:
    """One stream of the stacked model's steps over all epochs: step ``t`` of epoch ``e``
    gathers each fold's batch ``t`` of its epoch-``e`` order, the batch it would train on
    alone (:func:`kexp.train.feed.batches`); one small graph per step, however many folds."""
    tf = backend.tensorflow()

    data = []
    for p, order in zip(parts, orders, strict=True):
        x, y = feed.floatx(for_keras(p.split.x_train)), feed.floatx(for_keras(p.split.y_train))
        data.append((tf.constant(x), tf.constant(y), tf.constant(order.reshape(-1)), len(x)))

    def step(t: Any) -> Any:
        epoch, s = t // steps, t % steps
        xs, ys = [], []
        for x, y, flat, n in data:
            start = epoch * n + s * batch
            idx = tf.slice(flat, [start], [tf.minimum(tf.constant(batch, tf.int64), n - s * batch)])
            xs.append(tf.gather(x, idx))
            ys.append(tf.gather(y, idx))
        return tuple(xs), tuple(ys)

    total = len(orders[0]) * steps
    return tf.data.Dataset.range(total).map(step).prefetch(2)


def _record(job: Job, task: FoldTask, p: experiment.Prepared, frame: pd.DataFrame,
            per_fold_s: float) -> FoldOutcome:
    """Write the fold's run folder from its part of the stacked history (``frame``)."""
    t1 = time.monotonic()
    options = experiment.Options(verbose=0, argv=job.argv, save_model=job.save_model,
                                 plots=job.plots, history=frame)
    out = FoldOutcome(task.fold, "failed", len(task.train), len(task.test), repeat=task.repeat)
    rf = RunFolder(Path(task.path))
    clear_fold(rf.path)
    try:
        result = experiment.train_in_folder(p, rf, options)
        out.status, out.metrics = "completed", result.metrics
    except Exception as exc:  # noqa: BLE001 - recorded per fold, like the unstacked path
        out.error = str(exc)
    out.epochs = len(frame)
    out.duration_s = round(per_fold_s + time.monotonic() - t1, 3)
    return out


def _fold_history(history: dict[str, list[float]], name: str) -> pd.DataFrame:
    """This fold's columns of the stacked history, named as a lone fold's (CSVLogger layout)."""
    return _frame({"learning_rate": history["learning_rate"],
                   **{key[len(name) + 1:]: values for key, values in history.items()
                      if key.startswith(f"{name}_")}})


def _frame(cols: dict[str, list[float]]) -> pd.DataFrame:
    """A fold's history columns as CSVLogger writes them: ``epoch``, then by name, then
    (no validation) ``val_`` of each name, ``NA``."""
    names = sorted(cols)
    return pd.DataFrame({"epoch": range(len(cols[names[0]])), **{n: cols[n] for n in names},
                         **{f"val_{n}": "NA" for n in names}})
