"""Train the K folds of a CV together as one model of K disjoint sub-networks.

Opt-in (``kexp cv --stack``). Each fold keeps its own preprocessing (fitted on
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

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from kexp import backend, experiment
from kexp.cv.folds import FoldOutcome, FoldTask, Job, build_fold, clear_fold, fold_parts
from kexp.data import sources as data_mod
from kexp.data.named import for_keras
from kexp.errors import ConfigError
from kexp.model import objects
from kexp.rundir.write import RunFolder
from kexp.spec import Config
from kexp.train import feed

Log = Callable[[str], None]

NOTE = "trained with --stack: one model of disjoint per-fold sub-networks"


def check(cfg: Config, train_sizes: list[int]) -> None:
    """Raise ConfigError when the spec asks for something --stack cannot do."""
    if getattr(cfg.model, "type", "sequential") != "sequential":
        raise ConfigError(("model", "type"), "--stack supports sequential models only",
                          hint="Run the folds separately (without --stack)")
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


def train(job: Job, tasks: list[FoldTask], log: Log) -> Iterator[FoldOutcome]:
    """Train every task's fold in one stacked model; yield a FoldOutcome per fold."""
    keras = backend.keras()
    t0 = time.monotonic()
    cfg = job.cfg
    check(cfg, [len(t.train) for t in tasks])
    keras.backend.clear_session()
    parts, orders = [], []
    for task in tasks:  # each fold's batches drawn under its own seed, as a lone fold's are
        parts.append(_part(job, task))
        rows = len(for_keras(parts[-1].split.x_train))
        orders.append(feed.epoch_orders(rows, cfg.fit.shuffle, parts[-1].seed, cfg.fit.epochs))
    inputs = [keras.Input(tuple(for_keras(p.split.x_train).shape[1:]), name=f"x_{p.cfg.model.name}")
              for p in parts]
    outputs = [p.model(i) for p, i in zip(parts, inputs, strict=True)]
    stacked = keras.Model(inputs, outputs, name="stacked_folds")
    steps = feed.steps(len(orders[0][0]), cfg.fit.batch_size)
    _compile(stacked, cfg, len(parts), feed.per_execution(cfg.compile.steps_per_execution, steps))
    log(f"training {len(parts)} folds as one stacked model ({stacked.count_params()} weights)")
    history = stacked.fit(_steps(parts, orders, cfg.fit.batch_size, steps),
                          epochs=cfg.fit.epochs, steps_per_epoch=steps, verbose=0,
                          shuffle=False).history
    per_fold_s = (time.monotonic() - t0) / len(parts)
    for task, p in zip(tasks, parts, strict=True):
        yield _record(job, task, p, history, per_fold_s)


def _part(job: Job, task: FoldTask) -> experiment.Prepared:
    """One fold's preprocessing and freshly seeded sub-network (the init of a lone fold)."""
    cfg = job.cfg
    fcfg = cfg.model_copy(update={
        "seed": task.seed,
        "model": cfg.model.model_copy(update={"name": f"fold_{task.fold:02d}"}),
    })
    x_tr, y_tr, x_te, y_te = fold_parts(job, task)
    notes = [*job.notes, NOTE]
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
    import tensorflow as tf

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


def _record(job: Job, task: FoldTask, p: experiment.Prepared, history: dict[str, list[float]],
            per_fold_s: float) -> FoldOutcome:
    """Write the fold's run folder from its part of the stacked history."""
    t1 = time.monotonic()
    frame = _fold_history(history, str(p.cfg.model.name))
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
    cols: dict[str, list[float]] = {}
    for key, values in history.items():
        if key.startswith(f"{name}_"):
            cols[key[len(name) + 1:]] = values
    return pd.DataFrame({"epoch": range(len(next(iter(history.values())))),
                         **dict(sorted(cols.items()))})
