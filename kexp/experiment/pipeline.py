"""Prepare one experiment for training: spec -> config -> data -> split ->
preprocessing -> model. Nothing is written; every mistake is a KexpError naming the
YAML path and line, raised before a run folder exists.
"""

from __future__ import annotations

import inspect
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kexp import backend
from kexp.data import named, paths, python, sources, stream
from kexp.data.preprocess import NamedPreprocessor, preprocessor_for
from kexp.data.split import holdout
from kexp.engine import multihost
from kexp.errors import ConfigError, format_path
from kexp.experiment import streamed
from kexp.experiment.options import Log, Options, silent
from kexp.model import distribute, objects, precision, resolve
from kexp.model.blueprint import Blueprint, Shape, blueprint
from kexp.model.build import build, make_layers
from kexp.model.checks import check_embeddings, check_image_inputs, check_outputs
from kexp.model.loss_labels import Output, check_loss_labels
from kexp.spec import (
    Config,
    FunctionalModel,
    ImagesData,
    Spec,
    apply_overrides,
    load_config,
)
from kexp.train import fit as fit_mod
from kexp.train.compile import check_single, compile_args, compile_model, per_output
from kexp.train.custom_check import check_custom_objectives
from kexp.train.monitors import check_callback_monitors, logged_names


@dataclass
class Prepared:
    """Everything ready to train: config, data split, fitted preprocessing, compiled model."""

    spec: Spec
    cfg: Config
    seed: int
    raw: sources.RawData
    split: fit_mod.Split
    pre: NamedPreprocessor
    model: Any
    notes: list[str]
    class_weight: dict[int, float] | None = None


def located(spec: Spec, exc: ConfigError) -> ConfigError:
    """``exc`` with the line (or ``--set`` origin) of its YAML path filled in."""
    if exc.loc is None:
        return exc
    return exc.located(*spec.locate(exc.loc))


def prepare(spec: Spec, options: Options, log: Log = silent, cfg: Config | None = None) -> Prepared:
    """Load, split and preprocess the data and build + compile the model.

    Raises KexpError (with YAML path and line) before anything is written.
    """
    full = apply_overrides(spec, options.overrides)
    try:
        cfg = cfg or load_config(full)
        backend.select(cfg.backend, cfg.deterministic, cfg.model)  # before Keras's import
        if options.cluster is not None:
            multihost.start(options.cluster)  # before JAX's first computation
        distribute.configure_devices(cfg.distribute)  # before TensorFlow's first operation
        cfg, base_dirs = setup(full, cfg)
        seed = cfg.seed
        assert seed is not None
        notes: list[str] = backend.auto_notes()
        backend.seed_everything(seed, cfg.deterministic)
        if options.cluster is not None:
            multihost.distribute(backend.keras())  # before the model is built
        raw = (sources.load_kept if options.reuse_data else sources.load)(cfg.data, seed, base_dirs)
        for note in raw.notes:
            log(f"Warning: {note}")
        notes += raw.notes
        split, pre = make_split(cfg, raw, seed)
        if isinstance(cfg.data, ImagesData):
            raw.info["parts"] = part_counts(split, pre)
        model = build_model(cfg, split, pre, notes)
        weights = class_weights(cfg, split, pre)
        if cfg.sweep is not None:
            notes.append("sweep: this trains the spec as written; `kexp sweep` runs the study")
    except ConfigError as exc:
        raise located(full, exc) from None
    for note in notes[len(raw.notes):]:
        log(f"Note: {note}")
    return Prepared(full, cfg, seed, raw, split, pre, model, notes, weights)


def setup(full: Spec, cfg: Config | None = None) -> tuple[Config, list[Path]]:
    """Validate the spec (overrides applied), fix its seed (drawn and recorded when
    the spec has none) and its backend (selected before Keras is imported), make custom
    code importable from the spec's folders and resolve every name the spec gives
    (:func:`check_names`)."""
    cfg = cfg or load_config(full)
    try:
        name = backend.select(cfg.backend, model=cfg.model)
    except ConfigError as exc:
        raise located(full, exc) from None
    seed = cfg.seed if cfg.seed is not None else random.SystemRandom().randrange(2**31)
    dirs = base_dirs(full)
    for d in dirs:
        resolve.add_search_path(d)
    check_names(cfg)
    return cfg.model_copy(update={"seed": seed, "backend": name}), dirs


def check_names(cfg: Config) -> None:
    """Resolve every name the spec gives, with no data: the model's graph and layers
    (their initializers, regularizers, constraints and activations too), the
    preprocessing, losses, metrics, loss weights, optimizer and callbacks. A misspelling
    is reported before any data is loaded, with the message the model's build gives."""
    notes: list[str] = []  # noted again when the model is built
    bp = blueprint(cfg.model, notes)
    make_layers(bp)
    check_class_weight(cfg, bp)
    preprocessor_for(cfg)
    per_name = isinstance(cfg.model, FunctionalModel)
    if not per_name:
        check_single(cfg.compile)
    args = compile_args(cfg.compile, bp.outputs, notes, per_name=per_name)
    objects.optimizer(cfg.compile.optimizer, ("compile", "optimizer"), notes)
    for i, c in enumerate(cfg.fit.callbacks):  # made again in the run folder
        objects.callback(c, ("fit", "callbacks", i), None)
    check_callback_monitors(cfg.fit.callbacks, logged_names(args["metrics"], bp.outputs))
    _fresh_names()


def logged_metrics(cfg: Config) -> list[str]:
    """The names the spec's compiled model logs, without ``val_`` (``loss``, ``accuracy``,
    ``out1_loss``, ...): what a ``monitor`` or a sweep's ``metric`` may name."""
    notes: list[str] = []
    bp = blueprint(cfg.model, notes)
    per_name = isinstance(cfg.model, FunctionalModel)
    args = compile_args(cfg.compile, bp.outputs, notes, per_name=per_name)
    _fresh_names()
    return logged_names(args["metrics"], bp.outputs)


def _fresh_names() -> None:
    """Forget the layer names the check gave out, so that the model built next has
    Keras's first names (``dense``, not ``dense_2``); without the slow garbage collection
    where this Keras can skip it."""
    clear = backend.keras().backend.clear_session
    if "free_memory" in inspect.signature(clear).parameters:
        clear(free_memory=False)
    else:  # pragma: no cover - an older Keras 3
        clear()


def base_dirs(spec: Spec) -> list[Path]:
    """Where relative data paths and custom code are looked up: the current folder,
    the spec's folder and its parent (:func:`kexp.data.paths.base_dirs`)."""
    return paths.base_dirs(spec.path)


def build_model(cfg: Config, split: fit_mod.Split, pre: NamedPreprocessor, notes: list[str]) -> Any:
    """A fresh, compiled model for the split's shapes, checked against its labels."""
    bp = blueprint(cfg.model, notes)
    check_embeddings(bp, split.x_train, pre.vocabulary_sizes)
    check_image_inputs(bp, split.x_train)
    with precision.policy(cfg.precision), distribute.scope(cfg.distribute):  # the model keeps both
        return _build_and_compile(cfg, bp, split, pre, notes)


def _build_and_compile(cfg: Config, bp: Blueprint, split: fit_mod.Split, pre: NamedPreprocessor,
                       notes: list[str]) -> Any:
    model, out_shapes = build(bp, named.sample_shapes(split.x_train), notes)
    check_class_weight(cfg, bp)
    check_loss_labels(bp, outputs_of(cfg, bp, out_shapes, split, pre),
                      format_path(named.data_key(cfg, "y")))
    check_outputs(bp, out_shapes, split.y_train, pre.y_modes, pre.classes)
    check_custom_objectives(cfg.compile, bp.outputs, out_shapes, split.y_train)
    compile_model(model, cfg.compile, bp.outputs, notes,
                  per_name=isinstance(cfg.model, FunctionalModel))
    return model


def check_class_weight(cfg: Config, bp: Blueprint) -> None:
    """Keras applies ``class_weight`` to single-output models only."""
    if len(bp.outputs) > 1 and cfg.fit.class_weight is not None:
        raise ConfigError(
            ("fit", "class_weight"),
            f"Keras applies class_weight to single-output models only; this model has "
            f"outputs {', '.join(bp.outputs)}",
            hint="Remove it, or weigh the outputs with compile.loss_weights",
        )


def outputs_of(cfg: Config, bp: Blueprint, shapes: dict[str, Shape], split: fit_mod.Split,
               pre: NamedPreprocessor) -> list[Output]:
    """Each output's shape, training targets, label encoding and loss, for the checks."""
    names = bp.outputs if isinstance(cfg.model, FunctionalModel) else []
    losses = per_output(cfg.compile.loss, names, ("compile", "loss"))
    per_y = isinstance(cfg.preprocess.y, dict)
    return [
        Output(o, shapes[o], split.y_train[o], pre.y_modes[o], pre.classes.get(o),
               losses[o] if losses else cfg.compile.loss,
               ("compile", "loss", o) if losses else ("compile", "loss"),
               ("preprocess", "y", o) if per_y else ("preprocess", "y"))
        for o in bp.outputs
    ]


def part_counts(split: fit_mod.Split, pre: NamedPreprocessor) -> dict[str, dict[str, int]]:
    """The samples of each class in each part (train, validation, test) of the first
    output, for the record (``env.json``'s data)."""
    out, classes = next(iter(pre.classes.items()))
    parts = {"train": split.y_train, "validation": split.y_val,
             "test": split.y_test if split.test_name == "test" else None}
    counts = {}
    for part, y in parts.items():
        if y is None or classes is None:
            continue
        arr = np.asarray(y[out])
        idx = arr.argmax(axis=1) if arr.ndim == 2 and arr.shape[1] > 1 else arr.ravel().astype(int)
        per = np.bincount(idx, minlength=len(classes))
        counts[part] = {str(c): int(n) for c, n in zip(classes, per, strict=True)}
    return counts


def class_weights(cfg: Config, split: fit_mod.Split, pre: NamedPreprocessor) -> dict[int, float] | None:
    """Keras's ``class_weight`` for a single-output model (several: refused in build_model)."""
    if cfg.fit.class_weight is None or len(split.y_train) > 1:
        return None
    out, y = next(iter(split.y_train.items()))
    return fit_mod.class_weights(cfg.fit, y, pre.classes[out], whole=split.stream is None)


def make_split(cfg: Config, raw: sources.RawData, seed: int) -> tuple[fit_mod.Split, NamedPreprocessor]:
    """Hold out the test part as the spec says (when the source has none), then
    :func:`fit_transform`."""
    if isinstance(raw.x_train, python.Batches):
        return streamed.python_split(cfg, raw)
    if isinstance(raw.x_train, stream.Table):
        return streamed.csv_split(cfg, raw, seed)
    x_train, y_train = named.name_data(cfg, raw.x_train, raw.y_train, "train")
    assert y_train is not None  # the training part has targets
    x_test = y_test = None
    if raw.x_test is not None:
        x_test, y_test = named.name_data(cfg, raw.x_test, raw.y_test, "test")
    elif cfg.data.test is not None:
        x_train, x_test, y_train, y_test = holdout(x_train, y_train, cfg.data.test, seed, ("data", "test"))
    return fit_transform(cfg, x_train, y_train, x_test, y_test, seed)


def fit_transform(
    cfg: Config, x_train: Any, y_train: Any, x_test: Any, y_test: Any, seed: int
) -> tuple[fit_mod.Split, NamedPreprocessor]:
    """Hold out the validation part, fit preprocessing on what is left of the training
    part, and transform every part (``x_test`` may be None). Data as loaded or named."""
    x_train, y_train = named.name_data(cfg, x_train, y_train, "train")
    if x_test is not None:
        x_test, y_test = named.name_data(cfg, x_test, y_test, "test")
    x_val = y_val = None
    if cfg.data.validation is not None:
        x_train, x_val, y_train, y_val = holdout(
            x_train, y_train, cfg.data.validation, seed + 1, ("data", "validation")
        )
    pre = preprocessor_for(cfg).fit(x_train, y_train)
    split = fit_mod.Split(pre.transform_x(x_train, "x_train"), pre.transform_y(y_train, "y_train"))
    if x_val is not None:
        assert y_val is not None  # held out with x_val
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
    if split.x_val is None:  # fit holds out the last validation_split of the training rows
        fit_mod.check_validation_split(cfg.fit, named.n_rows(split.x_train))
    for part in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        named.check_finite(getattr(split, part), part)
    return split, pre
