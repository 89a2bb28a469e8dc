"""The split of data read batch by batch: a Python data set's parts
(:func:`python_split`) and a streamed CSV's (:func:`csv_split`). Each part of the split
holds a first batch (a few rows), for the checks and the model's shapes; the batches
themselves are :class:`kexp.train.fit.Streams`.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np

from kexp.data import named, python, sources, stream, stream_batches
from kexp.data.preprocess import NamedPreprocessor, preprocessor_for
from kexp.errors import ConfigError, DataError
from kexp.spec import Config, PythonData
from kexp.train import fit as fit_mod


def python_split(cfg: Config, raw: sources.RawData) -> tuple[fit_mod.Split, NamedPreprocessor]:
    """A Python data set's parts, each part of the split holding its first batch (by the
    model's input and output names) for the checks and shapes; the batches are used as
    the data set gives them, so ``preprocess`` must be empty."""
    p = cfg.preprocess
    if p.x_steps() or p.y != "none" or p.labels is not None or p.num_classes is not None:
        raise ConfigError(("preprocess",), "a Python data set's batches are trained on as it "
                          "gives them; preprocess applies to data kexp reads itself",
                          hint="Do the preprocessing in the data set (or in the model's layers) "
                               "and remove preprocess")
    if cfg.fit.class_weight == "balanced":
        raise ConfigError(("fit", "class_weight"), "balanced weights need every training label, "
                          "and a Python data set gives them only batch by batch",
                          hint="Give the weights: {0: 1.0, 1: 3.0}")
    ins, outs = named.names_of(cfg)
    lone = (len(ins) == 1, len(outs) == 1)
    train, val, test = (None if b is None else replace(b, unwrap=lone)
                        for b in (raw.x_train, raw.x_val, raw.x_test))
    assert train is not None
    if val is None and cfg.fit.validation_data == "test":
        val = test

    def first(b: python.Batches, part: str) -> tuple[Any, Any]:
        x, y = named.name_data(cfg, b.first[0], b.first[1], part)
        return x, y

    x0, y0 = first(train, "train")
    pre = preprocessor_for(cfg).fit(x0, y0)
    split = fit_mod.Split(x0, y0, stream=fit_mod.Streams(train, val, test))
    if val is not None:
        split.x_val, split.y_val = first(val, "validation")
    if test is None:  # evaluate on the training batches, and say so
        assert isinstance(cfg.data, PythonData) and split.stream is not None
        split.stream.test = replace(train, steps=cfg.data.test_steps)
        split.test_name = "train"
        test = train
    split.x_test, split.y_test = first(test, "test")
    split.y_test_raw = split.y_test
    for part in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        named.check_finite(getattr(split, part), part + " (first batch)")
    return split, pre


#: the rows of the first chunk a streamed CSV's checks and shapes are taken from
SAMPLE_ROWS = 256


def csv_split(cfg: Config, raw: sources.RawData, seed: int
              ) -> tuple[fit_mod.Split, NamedPreprocessor]:
    """A CSV read in chunks (:mod:`kexp.data.stream`): preprocessing fitted on the training
    rows chunk by chunk (every row checked in the first pass), each part's batches made as
    Keras reads them; the split's parts hold a few rows each, for the checks and shapes."""
    if cfg.fit.validation_split:
        raise ConfigError(("fit", "validation_split"), "a streamed CSV holds its validation "
                          "rows out by a hash of each row", hint="Use data.validation: {size: 0.2}")
    if cfg.fit.class_weight == "balanced":
        raise ConfigError(("fit", "class_weight"), "balanced weights need every training label "
                          "at once", hint="Give the weights: {0: 1.0, 1: 3.0}")
    tables: list[stream.Table] = [raw.x_train, *([raw.x_test] if raw.x_test is not None else [])]

    def named_chunk(x: Any, y: Any) -> tuple[Any, Any]:
        return named.name_data(cfg, x, y, "train")

    pre = fit_streamed(cfg, tables, named_chunk)
    rows = {p: sum(t.rows[p] for t in tables) for p in stream.PARTS}
    raw.info["parts"] = rows
    counted: dict[str, dict[str, int]] = {}
    for p in stream.PARTS:
        if all(p in t.labels for t in tables):
            counted[p] = {}
            for t in tables:
                for k, v in t.labels[p].items():
                    counted[p][str(k)] = counted[p].get(str(k), 0) + v
    raw.info["labels"] = counted
    folded = tables[0].folds > 0
    for name in ("train", "test") if cfg.data.test is not None or len(tables) > 1 or folded \
            else ("train",):
        if rows[name] == 0:
            raise DataError(f"{tables[0].path}: no row of the file fell in the {name} part; it "
                            "needs more rows, or a larger fraction held out")

    def part(name: str, shuffle: bool = False, repeat: bool = False) -> stream_batches.CsvBatches:
        return stream_batches.CsvBatches([t for t in tables if t.rows[name]], name, pre, named_chunk,
                                 cfg.fit.batch_size, rows[name], shuffle=shuffle, seed=seed,
                                 repeat=repeat)

    parts = {"train": part("train", cfg.fit.shuffle, repeat=True)}
    if rows.get("validation"):
        parts["validation"] = part("validation")
    has_test = rows.get("test", 0) > 0
    parts["test"] = part("test") if has_test else part("train")
    val = parts.get("validation") or (parts["test"] if cfg.fit.validation_data == "test" else None)
    return first_rows(tables, named_chunk, pre, parts, val, has_test), pre


def fit_streamed(cfg: Config, tables: list[stream.Table], named_chunk: Any) -> NamedPreprocessor:
    """The preprocessing fitted on the training rows of ``tables`` chunk by chunk: each
    input's steps, then (the rows all checked and counted by then) each output's encoding."""
    pre = preprocessor_for(cfg)

    def inputs(name: str) -> Any:
        return (named_chunk(x, y)[0][name] for t in tables for x, y, _ in t.chunks("train"))

    for name, unit in pre.inputs.items():
        unit.fit_x_stream(partial(inputs, name), named.label("x_train", name, pre.inputs))
    for t in tables:
        t.scan()  # every row checked, the parts counted (by the first pass, if there was one)
    labels = stream.label_set(tables)
    if labels is None and any(m != "none" for m in pre.y_modes.values()):
        raise ConfigError(("preprocess", "y"), f"the target has more than {stream.MAX_COUNTED} "
                          "distinct values in the streamed rows; too many classes to encode",
                          hint="Set preprocess.y: none for a regression target")
    for name, unit in pre.outputs.items():
        unit.fit_y_labels(labels if labels is not None else np.zeros(0),
                          named.label("y_train", name, pre.outputs))
    return pre


def first_rows(tables: list[stream.Table], named_chunk: Any, pre: NamedPreprocessor,
               parts: dict[str, stream_batches.CsvBatches], val: stream_batches.CsvBatches | None,
               has_test: bool) -> fit_mod.Split:
    """The split of a streamed CSV: its first training rows in every part (the checks and
    shapes), its batches in ``stream``."""
    x, y, _ = next(c for t in tables if t.rows["train"] for c in t.chunks("train"))
    x0, y0 = named_chunk(named.rows_at(x, slice(0, SAMPLE_ROWS)),
                         named.rows_at(y, slice(0, SAMPLE_ROWS)))
    xs, ys = pre.transform_x(x0, "x_train"), pre.transform_y(y0, "y_train")
    for b in parts.values():
        b.sample = (named.for_keras(xs), named.for_keras(ys))
    split = fit_mod.Split(xs, ys, xs if val else None, ys if val else None, xs, ys,
                          pre.map_labels(y0), "test" if has_test else "train",
                          stream=fit_mod.Streams(parts["train"], val, parts["test"]))
    for p in ("x_train", "y_train"):
        named.check_finite(getattr(split, p), p + " (first rows)")
    return split
