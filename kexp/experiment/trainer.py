"""Train a prepared experiment and record it in its run folder; ``validate`` without training.

The run folder gets the spec, the resolved config, the environment, the model summary,
the fitted preprocessing, the history, test metrics with a baseline, predictions, the
model and its plots. The CLI calls these functions; progress goes to a ``log`` callable.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from kexp import backend, report
from kexp.data import named, sources
from kexp.errors import KexpError, RunError
from kexp.experiment.options import Log, Options, silent
from kexp.experiment.pipeline import Prepared, prepare
from kexp.hashes import text_sha256
from kexp.model import distribute, draw, keep, objects
from kexp.rundir.write import RunFolder
from kexp.spec import Config, Spec, resolved
from kexp.track import live
from kexp.track.folder import test_metrics
from kexp.train import baseline as baseline_mod
from kexp.train import checkpoint
from kexp.train import fit as fit_mod
from kexp.train.callbacks import epoch_status, learning_rate_log, stop_on_signal
from kexp.train.compile import loss_of
from kexp.train.predictions import is_binary, predictions, write_stream_predictions


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict[str, float]
    evaluated_on: str
    notes: list[str]


def run(spec: Spec, options: Options, log: Log = silent) -> RunResult:
    """Train, evaluate and record one experiment in a new run folder."""
    prepared = prepare(spec, options, log)
    live.check(prepared.cfg)  # MLflow installed, when tracking is on
    return train_in_folder(prepared, RunFolder.create(options.runs_dir, prepared.cfg.name), options, log)


def train_in_folder(p: Prepared, rf: RunFolder, options: Options, log: Log = silent,
                    resume: checkpoint.Checkpoint | None = None) -> RunResult:
    """Train a prepared experiment, writing everything into ``rf``; with ``resume``, go on
    from that checkpoint of the run in ``rf`` (its inputs are written already)."""
    cfg = p.cfg
    rf.set_status("running", name=cfg.name, notes=p.notes,
                  **({"epochs": resume.epoch} if resume is not None else {}))
    log(f"Run folder: {rf.path}")
    with rf.guard():
        if resume is None:
            _write_inputs(p, rf, options, log)
        with live.begin(cfg, rf, live.warner(rf, p.notes, log)) as tracking:  # MLflow, if asked
            epochs = _train(p, rf, replace(options, callbacks=[*options.callbacks,
                                                               *tracking.callbacks()]), resume)
            # fit_transform sets the test part (the training data when there is none)
            metrics = fit_mod.evaluate_test(p.model, p.split, cfg.fit.batch_size)
            _write_results(p, rf, metrics, log)
            if options.save_model:
                with rf.replacing("model.keras") as tmp:
                    p.model.save(tmp)
            if options.plots:
                _plots(rf, p.notes, log)
            if not fit_mod.finite(metrics):
                rf.set_status("failed", epochs=epochs, error="loss or a metric is NaN/inf",
                              notes=p.notes)
                raise RunError(
                    f"training diverged: a final metric is NaN or infinite ({metrics}); "
                    f"see {rf.file('history.csv')}. Lower the learning rate or scale the inputs"
                )
            rf.set_status("completed", epochs=epochs, notes=p.notes)
            checkpoint.remove(rf.path)  # model.keras is the finished model
            tracking.finish(test_metrics(metrics, p.split.test_name),
                            p.model if options.save_model else None)
    return RunResult(rf.path, metrics, p.split.test_name, p.notes)


def _write_inputs(p: Prepared, rf: RunFolder, options: Options, log: Log) -> None:
    """What the run starts from: spec, config, environment, model, preprocessing."""
    rf.write_text("spec.yaml", p.spec.text if p.spec.text else "")
    config = objects.as_used(resolved(p.cfg))
    rf.write_yaml("config.yaml", config)
    devices = distribute.used(p.model) if p.cfg.distribute else None
    rf.write_json("env.json", {**environment(p.cfg, p.seed, p.raw, options.argv),
                               "custom_code": keep.keep(config, rf.path),
                               **({"devices_used": devices} if devices is not None else {}),
                               **({"workers": list(options.cluster.addresses)}
                                  if options.cluster is not None else {})})
    rf.write_text("summary.txt", summary_text(p.model))
    if options.plots:
        notice = draw.save(p.model, rf.file("model.png"))
        if notice:
            p.notes.append(notice)
            log(f"Note: {notice}")
    rf.write_json("preprocess.json", p.pre.state())


def _train(p: Prepared, rf: RunFolder, options: Options,
           resume: checkpoint.Checkpoint | None) -> int:
    """Fit with history.csv logged per epoch and checkpoints taken (or record a history
    trained elsewhere: ``kexp cv --stack``); the number of epochs done. ``resume``: the
    model, optimizer, callbacks and history.csv as that checkpoint saved them first, and
    the batches from where it stopped."""
    if options.history is not None:
        rf.write_text("history.csv", options.history.to_csv(index=False))
        return len(options.history)
    keras = backend.keras()
    own = [objects.callback(c, ("fit", "callbacks", i), rf.path)
           for i, c in enumerate(p.cfg.fit.callbacks)]
    fit_cfg, start = p.cfg.fit, 0
    if resume is not None:
        rf.write_text("history.csv", resume.history)  # the epochs the checkpoint has seen
        checkpoint.restore(p.model, resume)
        start = resume.epoch
        if resume.stopped:  # a callback ended the training there: no more epochs
            fit_cfg = fit_cfg.model_copy(update={"epochs": start})
    saving = p.cfg.fit.checkpoint
    callbacks = [
        learning_rate_log(),  # before CSVLogger, which writes the logs it is given
        keras.callbacks.CSVLogger(str(rf.file("history.csv")), append=resume is not None),
        epoch_status(rf),
        *own,
        *options.callbacks,
        *([checkpoint.saver(checkpoint.folder_of(rf.path), saving, own, rf.file("history.csv"),
                            resume.meta["record"] if resume else _record(p, rf), start)]
          if saving is not False else []),
        stop_on_signal(),  # an epoch is logged and saved before a SIGTERM/Ctrl-C stops the fit
        *([checkpoint.restorer(resume, own)] if resume is not None else []),  # after resets
    ]
    verbose = _verbosity(p.cfg.fit.verbose if options.verbose == "auto" else options.verbose)
    history = fit_mod.fit(p.model, fit_cfg, p.split, callbacks, verbose, p.class_weight,
                          p.seed, p.cfg.compile.steps_per_execution, start)
    return start + len(history.epoch)


def _record(p: Prepared, rf: RunFolder) -> dict[str, Any]:
    """What a checkpoint says the run started from: its config and spec as written, and
    where the spec was (its relative paths)."""
    config = rf.file("config.yaml").read_text(encoding="utf-8")
    spec = rf.file("spec.yaml").read_text(encoding="utf-8")
    return {"config_sha256": text_sha256(config), "config": yaml.safe_load(config),
            "spec_sha256": text_sha256(spec),
            "spec_path": str(Path(p.spec.path).absolute()) if p.spec.path else None}


def _write_results(p: Prepared, rf: RunFolder, metrics: dict[str, float], log: Log) -> None:
    """metrics.json (with the baseline of a single-output model) and predictions.csv."""
    cfg, split = p.cfg, p.split
    assert split.x_test is not None and split.y_test is not None  # set by fit_transform
    base = None
    frame = None
    if split.stream is not None:  # read batch by batch: predicted and written batch by batch
        with rf.replacing("predictions.csv") as tmp:
            samples = write_stream_predictions(p.model, cfg.compile, p.pre.classes,
                                               split.stream.test, tmp)
    else:
        frame = predictions(p.model, cfg.compile, p.pre.classes, split.x_test, split.y_test_raw,
                            cfg.fit.batch_size)
        samples = named.n_rows(split.x_test)
    labels = p.raw.info.get("labels")
    if split.stream is not None and labels and p.pre.classes[next(iter(p.pre.classes))] \
            and cfg.preprocess.labels is None:  # a streamed CSV's labels, counted as read
        base = baseline_mod.from_counts(labels.get("train", {}),
                                        labels.get(split.test_name, {}))
    if len(split.y_train) == 1 and split.stream is None:  # one output: majority class / mean
        out = next(iter(split.y_train))
        base = baseline_mod.baseline(
            split.y_train[out], split.y_test[out], p.pre.classes[out],
            is_binary(loss_of(cfg.compile, out, [out])),
        )
    rf.write_json("metrics.json", {
        "evaluated_on": split.test_name,
        "samples": samples,
        "metrics": metrics,
        **({"baseline": base} if base else {}),
    })
    if base:
        log(f"{split.test_name} {baseline_mod.describe(base)}")
    if frame is not None:
        rf.write_text("predictions.csv", frame.to_csv(index=False))


def _plots(rf: RunFolder, notes: list[str], log: Log) -> None:
    for fn in (report.plot_history, report.plot_predictions):
        try:
            fn(rf.path)
        except KexpError as exc:
            notes.append(f"plot: {exc}")
            log(f"Note: {exc}")


def _verbosity(value: int | str) -> int | str:
    if value == "auto":
        return 1 if sys.stdout.isatty() else 2
    return value


def summary_text(model: Any) -> str:
    """Keras's summary as text; wide enough for a functional model's "Connected to"."""
    lines: list[str] = []
    width = 100 if model.__class__.__name__ == "Sequential" else 120
    # rich (which Keras prints the table with) cuts lines at $COLUMNS, 80 when not a terminal
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width + 4)
    # the model as built: a warm model (kexp.train.warm) has an optimizer built already,
    # whose variables Keras would add to the counts
    optimizer: Any = getattr(model, "optimizer", None)
    built = bool(getattr(optimizer, "built", False))
    try:
        if built:
            optimizer.built = False
        model.summary(print_fn=lambda line, **_: lines.append(line), line_length=width)
    finally:
        if built:
            optimizer.built = True
        if saved is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved
    return "\n".join(lines) + "\n"


def environment(cfg: Config, seed: int, raw: sources.RawData, argv: list[str]) -> dict[str, Any]:
    """env.json: versions, machine, command line, seed, git commit, the data's source and hash."""
    return {
        "python": platform.python_version(),
        **backend.versions(),
        **({"backend_auto": backend.auto_choice()} if backend.auto_choice() else {}),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        **backend.devices(),
        "command": argv,
        "cwd": str(Path.cwd()),
        "seed": seed,
        "deterministic": cfg.deterministic,
        "determinism": backend.determinism(cfg.deterministic),
        "precision": cfg.precision,
        "git_commit": _git_commit(),
        "data": raw.info,
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


# -------------------------------------------------------------------------- validate


@dataclass
class Validation:
    """What ``kexp validate`` found: the prepared experiment and its report."""

    prepared: Prepared
    text: str  # the model summary and a line describing the data

    def draw(self, path: Path) -> str | None:
        """Draw the model's graph to ``path``; a notice when it cannot be drawn."""
        return draw.save(self.prepared.model, path)


def describe_data(split: fit_mod.Split) -> str:
    """``Data: 240 train, 60 validation, 100 test samples; input shape (784,)``."""
    shapes = named.sample_shapes(split.x_train)
    if len(shapes) == 1:
        text = f"input shape {next(iter(shapes.values()))}"
    else:
        text = "input shapes " + ", ".join(f"{k} {v}" for k, v in shapes.items())
    if split.stream is not None:
        s = split.stream
        parts = [f"{name} batches{'' if b.steps is None else f' ({b.steps} a pass)'}"
                 for name, b in (("train", s.train), ("validation", s.validation),
                                 ("test", s.test if split.test_name == "test" else None))
                 if b is not None]
        return f"Data: {', '.join(parts)} from {s.train.name}; {text}"
    val = 0 if split.x_val is None else named.n_rows(split.x_val)
    test = named.n_rows(split.x_test) if split.test_name == "test" and split.x_test else 0
    return f"Data: {named.n_rows(split.x_train)} train, {val} validation, {test} test samples; {text}"


def validate(spec: Spec, options: Options, log: Log = silent) -> Validation:
    """Check the spec, load the data and build the model; no training."""
    p = prepare(spec, options, log)
    return Validation(p, summary_text(p.model) + describe_data(p.split) + "\n")
