"""Fit and evaluate one split, and Keras's class weights. No files, no printing.

Every part of a :class:`Split` is keyed by the model's input or output names;
:func:`kexp.data.named.for_keras` hands Keras what the model takes.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from kexp.data.named import Named, for_keras, rows
from kexp.data.stream_batches import NOT_FINITE
from kexp.engine import multihost
from kexp.errors import ConfigError, DataError
from kexp.spec import FitConfig
from kexp.train import device_loop, feed


@dataclass
class Split:
    """Preprocessed arrays of one split, by input / output name; val/test may be None.

    ``y_test_raw`` holds the test labels as given (label maps applied, not encoded), for
    predictions.csv; ``test_name`` is ``train`` when there is no test part.
    """

    x_train: Named
    y_train: Named
    x_val: Named | None = None
    y_val: Named | None = None
    x_test: Named | None = None
    y_test: Named | None = None
    y_test_raw: Named | None = None
    test_name: str = "test"
    #: the parts read batch by batch (a Python data set, a streamed CSV); the parts
    #: above then hold each part's first batch, for the checks and the model's shapes
    stream: Streams | None = None


@dataclass
class Streams:
    """The parts of data read batch by batch: each a :class:`kexp.data.python.Batches`
    or a :class:`kexp.data.stream_batches.CsvBatches` (``for_keras()``, ``steps``, ``batches()``)."""

    train: Any
    validation: Any = None
    test: Any = None


def class_weights(cfg: FitConfig, y_train: np.ndarray, classes: list | None,
                  whole: bool = True) -> dict[int, float] | None:
    """Keras class_weight from the spec: 'balanced' (sklearn) or {label: weight}; a label
    that is not a class of the labels is a ConfigError naming it and the classes.

    ``classes``: the label encoding's classes (None: the labels are the class indices);
    ``whole``: ``y_train`` holds every training label (not a streamed part's first batch),
    so that a class index none of them has is refused too."""
    if cfg.class_weight is None:
        return None
    labels = y_train.argmax(axis=1) if y_train.ndim == 2 and y_train.shape[1] > 1 else y_train.ravel().astype(int)
    if cfg.class_weight == "balanced":
        from sklearn.utils.class_weight import compute_class_weight

        present = np.unique(labels)
        weights = compute_class_weight("balanced", classes=present, y=labels)
        return {int(c): float(w) for c, w in zip(present, weights, strict=True)}
    if classes:
        lookup = {str(c): i for i, c in enumerate(classes)}
    elif y_train.ndim == 2 and y_train.shape[1] > 1:  # one-hot rows: a class per column
        lookup = {str(i): i for i in range(y_train.shape[1])}
    elif whole:
        lookup = {str(c): int(c) for c in np.unique(labels)}
    else:
        lookup = {}
    out = {}
    for key, weight in cfg.class_weight.items():
        if lookup and str(key) in lookup:
            out[lookup[str(key)]] = float(weight)
        elif not lookup and isinstance(key, int):
            out[key] = float(weight)
        else:
            names = list(lookup)
            shown = ", ".join(names[:20]) + (f", ... ({len(names)} classes)" if len(names) > 20 else "")
            raise ConfigError(
                ("fit", "class_weight", key),
                f"no class {key!r} in the training labels; the classes are {shown}"
                if lookup else f"expected a class index (a whole number), received {key!r}",
                hint="Give weights to the labels' classes only",
            )
    return out


def check_validation_split(cfg: FitConfig, n: int) -> None:
    """``fit.validation_split`` of ``n`` training rows leaves rows both to train on and to
    validate on, as :func:`kexp.train.feed.holdout` splits them (Keras's rule); else a
    ConfigError saying how many are left, before anything trains."""
    fraction = cfg.validation_split
    if not fraction:
        return
    train = feed.holdout_rows(n, fraction)
    counted = f"{n} training row" + ("" if n == 1 else "s")
    if train == 0:
        raise ConfigError(
            ("fit", "validation_split"),
            f"{fraction} of the {counted} leaves 0 of {n} to train on (Keras trains "
            f"on the first floor({n} * (1 - {fraction})) rows)",
            hint="Use a smaller fraction, e.g. validation_split: 0.2" if n > 1 else
                 "There is 1 training row: use more data, or remove validation_split",
        )
    if train == n:
        raise ConfigError(
            ("fit", "validation_split"),
            f"{fraction} of the {counted} holds out 0 of {n} for validation",
            hint=f"Use validation_split: {math.ceil(1000 / n) / 1000} or more, or remove it",
        )


def fit(
    model: Any,
    cfg: FitConfig,
    split: Split,
    callbacks: list[Any],
    verbose: int | str,
    class_weight: dict[int, float] | None = None,
    seed: int = 0,
    per_execution: int = 1,
    initial_epoch: int = 0,
) -> Any:
    """Train ``model`` on the split's training part, batches from :mod:`kexp.train.feed`
    (reshuffled each epoch from ``seed``, one stream over all epochs); validation on the
    split's validation part, or on the last ``validation_split`` of the training rows as
    Keras holds them out. ``steps_per_execution`` becomes the largest divisor of the
    epoch's batches up to ``per_execution``, the spec's (:func:`kexp.train.feed.per_execution`).
    ``initial_epoch``: a resumed run's epochs done; the batches go on from there."""
    if split.stream is not None:
        return _fit_stream(model, cfg, split.stream, callbacks, verbose, class_weight,
                           per_execution, initial_epoch)
    x, y = for_keras(split.x_train), for_keras(split.y_train)
    x_val, y_val = for_keras(split.x_val), for_keras(split.y_val)
    if x_val is None and cfg.validation_split:
        check_validation_split(cfg, rows(x))
        x, y, x_val, y_val = feed.holdout(x, y, cfg.validation_split)
    validation = None
    if x_val is not None:
        validation = multihost.shard(
            feed.batches(x_val, y_val, cfg.batch_size, shuffle=False, seed=seed))
    steps = feed.steps(rows(x), cfg.batch_size)
    set_per_execution(model, feed.per_execution(per_execution, steps))
    check_split(cfg.batch_size, {"training": rows(x)}
                | ({"validation": rows(x_val)} if x_val is not None else {}))
    train = feed.batches(x, y, cfg.batch_size, cfg.shuffle, seed, repeat=True,
                         skip=initial_epoch * steps)
    build_from_shapes(model, train)
    device_loop.install(model)
    try:
        history = model.fit(
            multihost.shard(train),
            epochs=cfg.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps,
            validation_data=validation,
            shuffle=False,  # the batches are shuffled already (feed.batches)
            class_weight=class_weight,
            callbacks=callbacks,
            verbose=verbose,
        )
    except Exception as exc:
        lost = multihost.lost(exc)
        if lost is None:
            raise
        raise lost from None
    multihost.localize(model)
    return history


def check_split(batch_size: int, sizes: dict[str, int]) -> None:
    """DataError unless every batch of the parts of ``sizes`` rows splits evenly between
    the devices of JAX's data parallelism (:func:`kexp.engine.multihost.split_sizes`)."""
    why = multihost.split_sizes(sizes, batch_size)
    if why is not None:
        raise DataError(f"{why}: each device trains on an equal part of every batch; choose "
                        "a fit.batch_size and a validation size whose batches split evenly")


@contextmanager
def one_pass_per_epoch() -> Iterator[None]:
    """An epoch (an evaluation) of a generator without steps is one pass, until it stops:
    what Keras warns of then as "ran out of data" is the end of each pass here. A streamed
    CSV's rows that are not finite (found as they are read) become a DataError."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        try:
            yield
        except Exception as exc:
            text = str(exc)
            if NOT_FINITE not in text:
                raise
            raise DataError(text.split(NOT_FINITE, 1)[1].splitlines()[0]) from None


def _fit_stream(model: Any, cfg: FitConfig, stream: Streams, callbacks: list[Any],
                verbose: int | str, class_weight: dict[int, float] | None,
                per_execution: int, initial_epoch: int) -> Any:
    """Keras's fit on batches read as they come (``steps`` of the training part an epoch:
    the spec's ``steps_per_epoch``, a streamed CSV's count; None: one pass). A streamed
    CSV resumed at ``initial_epoch`` shuffles that epoch's chunks as it did then (its
    order is drawn from the seed and the epoch)."""
    steps = stream.train.steps
    if initial_epoch and hasattr(stream.train, "epoch"):
        stream.train.epoch = initial_epoch
    set_per_execution(model, feed.per_execution(per_execution, steps) if steps else 1)
    val = stream.validation
    if multihost.active() is not None:
        raise DataError("a training on several workers (--workers) reads its data into memory; "
                        "a streamed CSV or a Python data set trains on one worker")
    train = stream.train.for_keras()
    build_from_shapes(model, train)
    with one_pass_per_epoch():
        return model.fit(
            train,
            epochs=cfg.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps,
            validation_data=None if val is None else val.for_keras(),
            validation_steps=None if val is None else val.steps,
            shuffle=False,  # a data set shuffles its own batches
            class_weight=class_weight,
            callbacks=callbacks,
            verbose=verbose,
        )


def build_from_shapes(model: Any, data: Any) -> None:
    """Build what ``model.fit`` would build from ``data``'s first batch, from the shapes of
    its batches instead. On JAX and PyTorch, Keras's fit of a model whose metrics or loss
    are not built yet takes one batch of a first pass over the data to build them, then
    starts the data again: a ``tf.data`` stream reshuffled at each pass (:mod:`kexp.train.feed`)
    would train on the pass after the one TensorFlow trains on, a warm or resumed model on
    another one than a fresh model, and a Python generator would be called once more.
    kexp's NumPy batches (:func:`kexp.train.feed.array_batches`) build from their first
    batch, which costs no draw. Other data (a user's PyDataset) is left to Keras."""
    from kexp import backend

    if backend.name() == "tensorflow" or not hasattr(model, "_symbolic_build"):
        return
    if isinstance(data, feed.ArrayBatches):
        model._symbolic_build(data_batch=data[0])
        return
    spec = getattr(data, "element_spec", None)
    if spec is None:
        return
    tf = backend.tensorflow()

    def zeros(s: Any) -> np.ndarray:
        return np.zeros([1 if d is None else d for d in s.shape], s.dtype.as_numpy_dtype)

    model._symbolic_build(data_batch=tf.nest.map_structure(zeros, spec))


def build_from_rows(model: Any, x: Any, y: Any) -> None:
    """Build what ``model.fit`` would build (metrics, loss, optimizer) from a batch of
    the first row of ``x`` and ``y`` (arrays, or dicts of arrays), without fitting."""
    if hasattr(model, "_symbolic_build"):
        def first(a: Any) -> Any:
            return {k: v[:1] for k, v in a.items()} if isinstance(a, dict) else a[:1]

        model._symbolic_build(data_batch=(first(x), first(y)))
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def set_per_execution(model: Any, per_execution: int) -> None:
    """``model``'s steps per execution, its train function made again if it changes (a
    warm model traced for another epoch length)."""
    if model.steps_per_execution != per_execution:
        model.steps_per_execution = per_execution
        model.train_function = None


def evaluate(model: Any, x: Named, y: Named, batch_size: int) -> dict[str, float]:
    """Test metrics, batches from :func:`kexp.train.feed.batches` in order: the element
    types of a fit's validation batches, so the test function the fit traced is reused."""
    data = feed.batches(for_keras(x), for_keras(y), batch_size, shuffle=False, seed=0)
    scores = model.evaluate(data, verbose=0, return_dict=True)
    return {k: float(v) for k, v in scores.items()}


def evaluate_test(model: Any, split: Split, batch_size: int) -> dict[str, float]:
    """The split's test metrics: :func:`evaluate`, or Keras's on the test part's batches
    (a Python data set's, a streamed CSV's)."""
    if split.stream is not None:
        test = split.stream.test
        with one_pass_per_epoch():
            scores = model.evaluate(test.for_keras(), steps=test.steps, verbose=0,
                                    return_dict=True)
        return {k: float(v) for k, v in scores.items()}
    assert split.x_test is not None and split.y_test is not None  # set by fit_transform
    return evaluate(model, split.x_test, split.y_test, batch_size)


def finite(metrics: dict[str, float]) -> bool:
    return all(math.isfinite(v) for v in metrics.values())
