"""One experiment end to end: spec -> config -> data -> preprocessing -> model ->
training -> run folder -> plots. Also ``validate`` (no training) and ``predict``.

The CLI calls these functions; they return results and report progress through
a ``log`` callable instead of printing.
"""

from __future__ import annotations

import os
import platform
import random
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kexp import backend
from kexp.data import named as multiio
from kexp.data import sources as data_mod
from kexp.data import split as splits
from kexp.data.preprocess import Preprocessor
from kexp.errors import ConfigError, DataError, KexpError, RunError
from kexp.model import build as model_mod
from kexp.model import objects, resolve
from kexp.rundir.write import RunFolder
from kexp.spec import Config, FunctionalModel, Spec, apply_overrides, load_config, resolved
from kexp.train import baseline as baseline_mod
from kexp.train import fit as train_mod

Log = Callable[[str], None]


def _silent(_: str) -> None:
    pass


@dataclass
class Options:
    """Command-line choices that are not part of the spec."""

    overrides: list[Any] = field(default_factory=list)  # "a.b=c" or ("a.b=c", "--option v")
    runs_dir: Path = Path("runs")
    verbose: int | str = "auto"
    argv: list[str] = field(default_factory=lambda: list(sys.argv))
    save_model: bool = True  # write model.keras (kexp cv: only with --save-models)
    plots: bool = True  # draw the run's PNG plots after training
    #: the model was trained already (``kexp cv --stack``): record this history, do not fit
    history: Any = None


@dataclass
class Prepared:
    """Everything ready to train: config, data split, fitted preprocessing, compiled model."""

    spec: Spec
    cfg: Config
    seed: int
    raw: data_mod.RawData
    split: train_mod.Split
    pre: Preprocessor | multiio.NamedPreprocessor
    model: Any
    notes: list[str]
    class_weight: dict[int, float] | None = None


def located(spec: Spec, exc: ConfigError) -> ConfigError:
    if exc.loc is None:
        return exc
    return exc.located(*spec.locate(exc.loc))


def prepare(spec: Spec, options: Options, log: Log = _silent, cfg: Config | None = None) -> Prepared:
    """Load, split and preprocess the data and build + compile the model.

    Raises KexpError (with YAML path and line) before anything is written.
    """
    full = apply_overrides(spec, options.overrides)
    try:
        cfg, base_dirs = setup(full, cfg)
        seed = cfg.seed
        assert seed is not None
        notes: list[str] = []
        backend.seed_everything(seed, cfg.deterministic)
        raw = data_mod.load(cfg.data, seed, base_dirs)
        for note in raw.notes:
            log(f"Warning: {note}")
        notes += raw.notes
        split, pre = make_split(cfg, raw, seed)
        model = build_model(cfg, split, pre, notes)
        weights = class_weights(cfg, split, pre)
        for i, c in enumerate(cfg.fit.callbacks):  # checked now; made again in the run folder
            objects.callback(c, ("fit", "callbacks", i), None)
    except ConfigError as exc:
        raise located(full, exc) from None
    for note in notes[len(raw.notes):]:
        log(f"Note: {note}")
    return Prepared(full, cfg, seed, raw, split, pre, model, notes, weights)


def setup(full: Spec, cfg: Config | None = None) -> tuple[Config, list[Path]]:
    """Validate the spec (overrides applied), fix its seed (drawn and recorded when
    the spec has none) and make custom code importable from the spec's folders."""
    cfg = cfg or load_config(full)
    seed = cfg.seed if cfg.seed is not None else random.SystemRandom().randrange(2**31)
    base_dirs = _base_dirs(full)
    for d in base_dirs:
        resolve.add_search_path(d)
    return cfg.model_copy(update={"seed": seed}), base_dirs


def build_model(cfg: Config, split: train_mod.Split, pre: Any, notes: list[str]) -> Any:
    """A fresh, compiled model for the split's shapes, checked against its labels."""
    if isinstance(cfg.model, FunctionalModel):
        return _build_functional(cfg, split, pre, notes)
    model_mod.check_embedding(cfg.model, split.x_train, pre.vocabulary_size)
    model = model_mod.build(cfg.model, tuple(split.x_train.shape[1:]), notes)
    model_mod.check_targets(model, split.y_train, cfg.preprocess.y, pre.classes, _last_layer_loc(cfg))
    train_mod.compile_model(model, cfg.compile, notes)
    return model


def _build_functional(cfg: Config, split: train_mod.Split, pre: Any, notes: list[str]) -> Any:
    from kexp.model import functional

    assert isinstance(cfg.model, FunctionalModel)
    named_y = isinstance(split.y_train, dict)
    model, out_shapes = functional.build(
        cfg.model,
        multiio.sample_shape(split.x_train),
        notes,
        named_inputs=isinstance(split.x_train, dict),
        named_outputs=named_y,
    )
    outs = cfg.model.outputs
    if named_y and len(outs) > 1 and cfg.fit.class_weight is not None:
        raise ConfigError(
            ("fit", "class_weight"),
            f"Keras applies class_weight to single-output models only; this model has "
            f"outputs {', '.join(outs)}",
            hint="Remove it, or weigh the outputs with compile.loss_weights",
        )
    if named_y:
        modes = {o: pre.outputs[o].cfg.y for o in outs}
        classes = {o: pre.outputs[o].classes for o in outs}
    else:
        modes, classes = {outs[0]: cfg.preprocess.y}, {outs[0]: pre.classes}
    functional.check_outputs(model, out_shapes, split.y_train, modes, classes)
    train_mod.compile_model(model, cfg.compile, notes, outputs=outs, named=named_y)
    return model


def _base_dirs(spec: Spec) -> list[Path]:
    if spec.path is None:
        return [Path.cwd()]
    here = spec.path.resolve().parent
    return [Path.cwd(), here, here.parent]


def _last_layer_loc(cfg: Config) -> tuple:
    layers = getattr(cfg.model, "layers", None)
    if layers:
        name = layers[-1] if isinstance(layers[-1], str) else next(iter(layers[-1]))
        return ("model", "layers", len(layers) - 1, name)
    return ("model",)


def make_split(cfg: Config, raw: data_mod.RawData, seed: int) -> tuple[train_mod.Split, Preprocessor | multiio.NamedPreprocessor]:
    """Hold out the test part as the spec says (when the source has none), then
    :func:`fit_transform`."""
    x_train, y_train = multiio.name_data(cfg, raw.x_train, raw.y_train, "train")
    x_test, y_test = multiio.name_data(cfg, raw.x_test, raw.y_test, "test") if raw.x_test is not None else (None, None)
    if x_test is None and cfg.data.test is not None:
        x_train, x_test, y_train, y_test = splits.holdout(x_train, y_train, cfg.data.test, seed, ("data", "test"))
    return fit_transform(cfg, x_train, y_train, x_test, y_test, seed)


def fit_transform(
    cfg: Config, x_train: Any, y_train: Any, x_test: Any, y_test: Any, seed: int
) -> tuple[train_mod.Split, Preprocessor | multiio.NamedPreprocessor]:
    """Hold out the validation part, fit preprocessing on what is left of the
    training part, and transform every part (``x_test`` may be None)."""
    x_train, y_train = multiio.name_data(cfg, x_train, y_train, "train")
    if x_test is not None:
        x_test, y_test = multiio.name_data(cfg, x_test, y_test, "test")
    x_val = y_val = None
    if cfg.data.validation is not None:
        x_train, x_val, y_train, y_val = splits.holdout(
            x_train, y_train, cfg.data.validation, seed + 1, ("data", "validation")
        )
    pre = multiio.make_preprocessor(cfg, x_train, y_train).fit(x_train, y_train)
    split = train_mod.Split(
        x_train=pre.transform_x(x_train, "x_train"),
        y_train=pre.transform_y(y_train, "y_train"),
    )
    if x_val is not None:
        split.x_val, split.y_val = pre.transform_x(x_val, "x_val"), pre.transform_y(y_val, "y_val")
    if x_test is not None:
        split.x_test, split.y_test = pre.transform_x(x_test, "x_test"), pre.transform_y(y_test, "y_test")
        split.y_test_raw = pre.map_labels(y_test, "y_test")
    else:  # no test set: evaluate on the training data, and say so
        split.x_test, split.y_test = split.x_train, split.y_train
        split.y_test_raw = pre.map_labels(y_train, "y_train")
        split.test_name = "train"
    if cfg.fit.validation_data == "test":
        split.x_val, split.y_val = split.x_test, split.y_test
    for part in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        check_finite(getattr(split, part), part)
    return split, pre


def check_finite(arr: Any, part: str) -> None:
    if isinstance(arr, dict):
        for name, value in arr.items():
            check_finite(value, f"{part}.{name}")
        return
    if arr is None or arr.dtype.kind != "f":
        return
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise DataError(
            f"{part}: {int(bad.sum())} missing or infinite value(s) (NaN/inf) in {len(rows)} row(s), "
            f"first rows: {rows[:5].tolist()}. Remove those rows or fill them before training"
        )


# ------------------------------------------------------------------------------- env


def environment(cfg: Config, seed: int, raw: data_mod.RawData, argv: list[str]) -> dict[str, Any]:
    env: dict[str, Any] = {
        "python": platform.python_version(),
        **backend.versions(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        **backend.devices(),
        "command": argv,
        "cwd": str(Path.cwd()),
        "seed": seed,
        "deterministic": cfg.deterministic,
        "git_commit": _git_commit(),
        "data": raw.info,
    }
    return env


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


# ------------------------------------------------------------------------------- run


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict[str, float]
    evaluated_on: str
    notes: list[str]


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
    try:
        model.summary(print_fn=lambda line, **_: lines.append(line), line_length=width)
    finally:
        if saved is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved
    return "\n".join(lines) + "\n"


def run(spec: Spec, options: Options, log: Log = _silent) -> RunResult:
    """Train, evaluate and record one experiment in a new run folder."""
    prepared = prepare(spec, options, log)
    return train_in_folder(prepared, RunFolder.create(options.runs_dir, prepared.cfg.name), options, log)


def train_in_folder(p: Prepared, rf: RunFolder, options: Options, log: Log = _silent) -> RunResult:
    """Train a prepared experiment, writing everything into ``rf``."""
    keras = backend.keras()
    cfg = p.cfg
    rf.set_status("running", name=cfg.name, notes=p.notes)
    log(f"Run folder: {rf.path}")
    with rf.guard():
        rf.write_text("spec.yaml", p.spec.text if p.spec.text else "")
        rf.write_yaml("config.yaml", resolved(cfg))
        rf.write_json("env.json", environment(cfg, p.seed, p.raw, options.argv))
        rf.write_text("summary.txt", summary_text(p.model))
        if options.plots:
            _model_png(p.model, rf, p.notes, log)
        rf.write_json("preprocess.json", p.pre.state())
        if options.history is not None:  # trained already (kexp cv --stack): record only
            rf.write_text("history.csv", options.history.to_csv(index=False))
            epochs = len(options.history)
        else:
            callbacks = [
                keras.callbacks.CSVLogger(str(rf.file("history.csv"))),
                _epoch_status(rf),
                *(
                    objects.callback(c, ("fit", "callbacks", i), rf.path)
                    for i, c in enumerate(cfg.fit.callbacks)
                ),
            ]
            verbose = _verbosity(cfg.fit.verbose if options.verbose == "auto" else options.verbose)
            history = train_mod.fit(p.model, cfg.fit, p.split, callbacks, verbose, p.class_weight)
            epochs = len(history.epoch)
        metrics = train_mod.evaluate(p.model, p.split.x_test, p.split.y_test, cfg.fit.batch_size)
        base = None
        if not isinstance(p.split.y_train, dict):  # one output: majority class / training mean
            base = baseline_mod.baseline(
                p.split.y_train, p.split.y_test, getattr(p.pre, "classes", None),
                train_mod.is_binary(cfg.compile.loss),
            )
        rf.write_json(
            "metrics.json",
            {
                "evaluated_on": p.split.test_name,
                "samples": multiio.n_rows(p.split.x_test),
                "metrics": metrics,
                **({"baseline": base} if base else {}),
            },
        )
        if base:
            log(f"{p.split.test_name} {baseline_mod.describe(base)}")
        preds = predictions(p.model, cfg, p.pre, p.split.x_test, p.split.y_test_raw)
        rf.write_text("predictions.csv", preds.to_csv(index=False))
        if options.save_model:
            tmp = rf.file(".model.tmp.keras")
            p.model.save(tmp)
            os.replace(tmp, rf.file("model.keras"))
        if options.plots:
            _plots(rf, p.notes, log)
        if not train_mod.finite(metrics):
            rf.set_status("failed", epochs=epochs, error="loss or a metric is NaN/inf", notes=p.notes)
            raise RunError(
                f"training diverged: a final metric is NaN or infinite ({metrics}); "
                f"see {rf.file('history.csv')}. Lower the learning rate or scale the inputs"
            )
        rf.set_status("completed", epochs=epochs, notes=p.notes)
    return RunResult(rf.path, metrics, p.split.test_name, p.notes)


def class_weights(cfg: Config, split: train_mod.Split, pre: Any) -> dict[int, float] | None:
    y = split.y_train
    if isinstance(y, dict):
        if cfg.fit.class_weight is None or len(y) > 1:  # several: refused in build_model
            return None
        out = next(iter(y))
        return train_mod.class_weights(cfg.fit, y[out], pre.classes[out])
    return train_mod.class_weights(cfg.fit, y, pre.classes)


def predictions(model: Any, cfg: Config, pre: Any, x: Any, y_raw: Any) -> Any:
    """The predictions frame: ``y_true,y_pred,prob_<c>...``, or with several outputs
    ``<output>.y_true,<output>.y_pred,<output>.prob_<c>...``."""
    from kexp.train import outputs as outputs_mod

    if isinstance(pre, multiio.NamedPreprocessor) and pre.output_names is not None:
        outs = pre.output_names
        proba = model.predict(x, batch_size=cfg.fit.batch_size, verbose=0)
        classes = pre.classes
        binary = {
            o: classes[o] is None and train_mod.is_binary(outputs_mod.loss_of(cfg.compile, o, outs))
            for o in outs
        }
        return outputs_mod.predictions_frame(proba, y_raw, classes, binary, train_mod.frame_of)
    loss = cfg.compile.loss
    if isinstance(cfg.model, FunctionalModel):
        loss = outputs_mod.loss_of(cfg.compile, cfg.model.outputs[0], cfg.model.outputs)
    return train_mod.predictions_frame(
        model, x, y_raw, pre.classes, pre.classes is None and train_mod.is_binary(loss),
        cfg.fit.batch_size,
    )


def _model_png(model: Any, rf: RunFolder, notes: list[str], log: Log) -> None:
    from kexp.model import draw as modelplot

    notice = modelplot.save(model, rf.file("model.png"))
    if notice:
        notes.append(notice)
        log(f"Note: {notice}")


def _plots(rf: RunFolder, notes: list[str], log: Log) -> None:
    from kexp import report

    for fn in (report.plot_history, report.plot_predictions):
        try:
            fn(rf.path)
        except KexpError as exc:
            notes.append(f"plot: {exc}")
            log(f"Note: {exc}")


def _epoch_status(rf: RunFolder) -> Any:
    """A callback keeping status.json's epoch count current (for ``kexp ls`` on running runs)."""
    keras = backend.keras()

    class EpochStatus(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            rf.set_status(epochs=epoch + 1)

    return EpochStatus()


# -------------------------------------------------------------------------- validate


@dataclass
class Validation:
    """What ``kexp validate`` found: the prepared experiment and its report."""

    prepared: Prepared
    text: str  # the model summary and a line describing the data

    def draw(self, path: Path) -> str | None:
        """Draw the model's graph to ``path``; a notice when it cannot be drawn."""
        from kexp.model import draw

        return draw.save(self.prepared.model, path)


def describe_data(split: train_mod.Split) -> str:
    """``Data: 240 train, 60 validation, 100 test samples; input shape (784,)``."""
    shape = multiio.sample_shape(split.x_train)
    shapes = (
        "input shapes " + ", ".join(f"{k} {v}" for k, v in shape.items())
        if isinstance(shape, dict) else f"input shape {shape}"
    )
    val = 0 if split.x_val is None else multiio.n_rows(split.x_val)
    test = multiio.n_rows(split.x_test) if split.test_name == "test" else 0
    return f"Data: {multiio.n_rows(split.x_train)} train, {val} validation, {test} test samples; {shapes}"


def validate(spec: Spec, options: Options, log: Log = _silent) -> Validation:
    """Check the spec, load the data and build the model; no training."""
    p = prepare(spec, options, log)
    return Validation(p, summary_text(p.model) + describe_data(p.split) + "\n")
