"""Load a spec's data into arrays (or a DataFrame for CSV files).

Sources: a CSV file, an ``.npz`` file, a folder of images (:mod:`kexp.data.images`:
its files, decoded only when a batch is formed), ``keras.datasets`` loaders (which
download on first use; offline, ``mnist`` falls back to the shipped 10,000-digit
sample with a visible note), and random data for smoke tests. Reading a CSV file and
picking its columns is :mod:`kexp.data.csvfile`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kexp.data import images, keras_cache, python, stream
from kexp.data.csvfile import column as column
from kexp.data.csvfile import drop_missing, read_csv, select_columns
from kexp.data.paths import find_file as find_file
from kexp.data.paths import find_folder as find_folder
from kexp.errors import ConfigError, DataError, did_you_mean, exception_line
from kexp.hashes import file_sha256
from kexp.spec import (
    CsvData,
    ImagesData,
    KerasData,
    NpzData,
    PythonData,
    RandomData,
    SequenceData,
)

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
#: Offline stand-ins for keras.datasets, shipped in datasets/ (see datasets/README.md).
OFFLINE_SAMPLES = {"mnist": "mnist-sample.npz"}


@dataclass
class RawData:
    """Data as loaded: test parts are None when the source has no test set."""

    x_train: Any
    y_train: Any
    x_test: Any = None
    y_test: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: a source's own validation part (a Python data set's; others hold it out)
    x_val: Any = None


def load(cfg: Any, seed: int, base_dirs: list[Path]) -> RawData:
    """Load the data named by ``cfg`` (a DataConfig)."""
    if isinstance(cfg, CsvData):
        raw = load_csv(cfg, base_dirs, seed)
        if isinstance(raw.x_train, stream.Table):
            return raw  # data.limit: each part's first rows, as they are read
    elif isinstance(cfg, NpzData):
        raw = _load_npz(cfg, base_dirs)
    elif isinstance(cfg, ImagesData):
        return load_images(cfg, base_dirs)  # data.limit: taken from the classes in turn
    elif isinstance(cfg, PythonData):
        return load_python(cfg)
    elif isinstance(cfg, RandomData):
        raw = _load_random(cfg, seed)
    elif isinstance(cfg, KerasData):
        raw = _load_keras(cfg)
    elif isinstance(cfg, SequenceData):
        raw = load_sequences(cfg)
    else:  # pragma: no cover - the schema admits nothing else
        raise DataError(f"unsupported data source {cfg!r}")
    if cfg.limit is not None:
        raw.x_train, raw.y_train = _head(raw.x_train, cfg.limit), _head(raw.y_train, cfg.limit)
        if raw.x_test is not None:
            raw.x_test, raw.y_test = _head(raw.x_test, cfg.limit), _head(raw.y_test, cfg.limit)
        raw.info["limit"] = cfg.limit
    return raw


_kept: tuple[str, RawData] | None = None  # load_kept's data set: (its key, its data)


def load_kept(cfg: Any, seed: int, base_dirs: list[Path]) -> RawData:
    """:func:`load`'s data, read once per process for the same data section, seed and
    folders (the last such data set is kept): the trials of a sweep read their shared data
    once, and all of them train on the data the sweep's record hashed at its start. Each
    call gets its own deep copy, so nothing a trial does to its data reaches another."""
    import copy
    import json

    global _kept
    key = json.dumps([cfg.model_dump(mode="json"), seed, [str(d) for d in base_dirs],
                      os.getcwd()], sort_keys=True, default=str)
    if _kept is None or _kept[0] != key:
        _kept = None  # the earlier data set goes before the next is read
        _kept = (key, load(cfg, seed, base_dirs))
    return copy.deepcopy(_kept[1])


def _head(a: Any, n: int) -> Any:
    if a is None:
        return None
    if isinstance(a, dict):  # per model input/output
        return {k: _head(v, n) for k, v in a.items()}
    return a.iloc[:n] if isinstance(a, (pd.DataFrame, pd.Series)) else a[:n]


# ------------------------------------------------------------------------------- csv


def load_csv(cfg: CsvData, base_dirs: list[Path], seed: int = 0) -> RawData:
    path = find_file(cfg.path, ("data", "path"), base_dirs)
    if stream.streams(cfg, path):
        return load_stream(cfg, path, base_dirs, seed)
    df = read_csv(path, cfg, ("data", "path"))
    x, y = select_columns(df, cfg)
    x, y, dropped = drop_missing(x, y, cfg)
    raw = RawData(x, y, info={"source": "csv", "path": str(path), "sha256": file_sha256(path),
                              "rows": len(df), "columns": df.shape[1]})
    if dropped:
        raw.info["dropped_rows"] = dropped
        raw.notes.append(f"data.dropna: dropped {dropped} of {len(df)} rows with missing values")
    if cfg.test_path:
        tpath = find_file(cfg.test_path, ("data", "test_path"), base_dirs)
        tdf = read_csv(tpath, cfg, ("data", "test_path"))
        raw.x_test, raw.y_test, tdropped = drop_missing(*select_columns(tdf, cfg), cfg)
        if tdropped:
            raw.notes.append(f"data.dropna: dropped {tdropped} rows of {tpath.name} with missing values")
        raw.info.update(test_path=str(tpath), test_sha256=file_sha256(tpath))
    return raw


def load_stream(cfg: CsvData, path: Path, base_dirs: list[Path], seed: int) -> RawData:
    """A CSV file (and ``test_path``) to read in chunks (:mod:`kexp.data.stream`): its
    tables, each row's part chosen by a seeded hash; nothing is read yet but the header."""
    if isinstance(cfg.target, dict):
        raise ConfigError(("data", "target"), "a streamed CSV takes one target (a column or a "
                          "list of columns), not targets per output name",
                          hint="Set data.stream: false to read the file whole")
    tpath = find_file(cfg.test_path, ("data", "test_path"), base_dirs) if cfg.test_path else None
    test, validation = stream.fractions(cfg, own_test=tpath is not None)
    train = stream.Table(path, cfg, seed, test, validation)
    info: dict[str, Any] = {"source": "csv", "path": str(path), "sha256": file_sha256(path),
                            "stream": True, "chunk_rows": stream.CHUNK_ROWS,
                            "held_out": {"test": test, "validation": validation, "by": "row hash",
                                         "seed": seed}}
    tables = None
    if tpath is not None:
        tables = stream.Table(tpath, cfg, seed, only=stream.TEST)
        info.update(test_path=str(tpath), test_sha256=file_sha256(tpath))
    return RawData(train, None, tables, None, info=info)


# ---------------------------------------------------------------------------- images


def load_images(cfg: ImagesData, base_dirs: list[Path]) -> RawData:
    """The image files of a folder of class subfolders (and of ``test_path``), listed and
    checked; labels are the class names."""
    decoding = images.Decoding.of(cfg)
    train = images.list_folder(find_folder(cfg.path, ("data", "path"), base_dirs),
                               ("data", "path"), cfg.follow_links)
    parts = {"train": train}
    if cfg.test_path:
        parts["test"] = images.list_folder(
            find_folder(cfg.test_path, ("data", "test_path"), base_dirs), ("data", "test_path"),
            cfg.follow_links, classes=train.class_names)
    notes = [n for n in (p.note() for p in parts.values()) if n]
    arrays: list[Any] = []
    for folder in parts.values():
        keep = (np.arange(len(folder.paths)) if cfg.limit is None
                else images.interleaved(folder.labels, cfg.limit))
        arrays += [images.image_files([folder.paths[i] for i in keep], decoding),
                   np.asarray([folder.labels[i] for i in keep], dtype=object)]
    info: dict[str, Any] = {
        "source": "images", "path": str(train.root), "sha256": train.fingerprint,
        "class_names": train.class_names, "files": train.counts(),
        "image_shape": list(decoding.shape),
    }
    if "test" in parts:
        info.update(test_path=str(parts["test"].root), test_sha256=parts["test"].fingerprint,
                    test_files=parts["test"].counts())
    if cfg.limit is not None:
        info["limit"] = cfg.limit
    skipped = sum(len(p.skipped) for p in parts.values())
    if skipped:
        info["skipped_files"] = skipped
    x_test, y_test = arrays[2:] if len(arrays) == 4 else (None, None)
    return RawData(arrays[0], arrays[1], x_test, y_test, info=info, notes=notes)


# ---------------------------------------------------------------------------- python


def load_python(cfg: PythonData) -> RawData:
    """A Python data set's parts, checked, each with its first batch
    (:mod:`kexp.data.python`); the targets come in its batches."""
    parts = python.parts(cfg)
    info: dict[str, Any] = {"source": "python", "object": cfg.object, "args": cfg.args,
                            "kind": "PyDataset" if parts["train"].is_class else "generator"}
    for part in ("validation", "test"):
        if part in parts:
            info[f"{part}_args"] = parts[part].args
    return RawData(parts["train"], None, parts.get("test"), None, info=info,
                   x_val=parts.get("validation"))


# ------------------------------------------------------------------------------- npz


def _npz_arrays(path: Path, names: dict[str, Any]) -> dict[str, Any]:
    """Arrays by field; a field given per input/output name gives ``{name: array}``."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = list(npz.files)
            out: dict[str, Any] = {}
            for field_name, key in names.items():
                if isinstance(key, dict):
                    parts = {n: _npz_array(npz, keys, path, field_name, k, (n,)) for n, k in key.items()}
                    out[field_name] = None if any(v is None for v in parts.values()) else parts
                else:
                    out[field_name] = _npz_array(npz, keys, path, field_name, key, ())
            return out
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read as .npz ({exc})") from None


def _npz_array(npz: Any, keys: list[str], path: Path, field_name: str, key: str | None, sub: tuple) -> Any:
    if key is None:
        return None
    if key in keys:
        return npz[key]
    if field_name in ("x_test", "y_test"):
        return None
    raise ConfigError(
        ("data", field_name, *sub),
        f"no array '{key}' in {path.name} (arrays: {', '.join(keys)})",
        hint=did_you_mean(key, keys),
    )


def _load_npz(cfg: NpzData, base_dirs: list[Path]) -> RawData:
    path = find_file(cfg.path, ("data", "path"), base_dirs)
    a = _npz_arrays(path, {"x_train": cfg.x_train, "y_train": cfg.y_train, "x_test": cfg.x_test, "y_test": cfg.y_test})
    if (a["x_test"] is None) != (a["y_test"] is None):
        raise ConfigError(("data",), f"{path.name} has only one of x_test / y_test")
    return RawData(
        a["x_train"], a["y_train"], a["x_test"], a["y_test"],
        info={"source": "npz", "path": str(path), "sha256": file_sha256(path)},
    )


# ---------------------------------------------------------------------------- random


def _load_random(cfg: RandomData, seed: int) -> RawData:
    rng = np.random.default_rng(seed)
    x = rng.random((cfg.samples, *cfg.shape), dtype=np.float32)
    y = rng.integers(0, cfg.classes, size=(cfg.samples, 1))
    return RawData(x, y, info={"source": "random", "samples": cfg.samples, "shape": cfg.shape, "classes": cfg.classes, "seed": seed})


# ----------------------------------------------------------------------------- keras


def offline_sample(name: str) -> Path | None:
    fname = OFFLINE_SAMPLES.get(name)
    if fname is None:
        return None
    for base in (Path.cwd() / "datasets", PACKAGE_ROOT / "datasets"):
        if (base / fname).is_file():
            return base / fname
    return None


def _load_keras(cfg: KerasData) -> RawData:
    """A ``keras.datasets`` loader's arrays; offline without Keras's cache, the shipped
    sample (``data.offline_fallback``) with one note, the loader not even tried."""
    name = cfg.source
    why = keras_cache.unavailable(name)
    if why is not None:
        return _offline(cfg, why)
    from kexp.backend import keras as import_keras

    loader = getattr(import_keras().datasets, name)
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as exc:  # the host answered, but the download failed (HTTP errors of many kinds)
        return _offline(cfg, exception_line(exc, "no detail"))
    info: dict[str, Any] = {"source": name, "loader": f"keras.datasets.{name}.load_data"}
    cache = keras_cache.cache_dir()
    cached = [p for p in cache.glob(f"{name}*") if p.is_file()] if cache.is_dir() else []
    if len(cached) == 1:
        info.update(path=str(cached[0]), sha256=file_sha256(cached[0]))
    return RawData(x_train, y_train, x_test, y_test, info=info)


def _offline(cfg: KerasData, why: str) -> RawData:
    """The shipped sample of ``cfg.source`` in place of the full data set, or a DataError
    saying why the data set could not be loaded and how to get it."""
    name = cfg.source
    sample = offline_sample(name) if cfg.offline_fallback else None
    if sample is None:
        raise DataError(
            f"data.source: keras.datasets.{name} could not be loaded ({why}). It downloads on "
            f"first use; connect to the internet once, or put the file in "
            f"{keras_cache.cache_dir()}")
    with np.load(sample, allow_pickle=False) as npz:
        x_train, y_train, x_test, y_test = (npz[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    note = (f"keras.datasets.{name} could not be loaded ({why}); used the shipped sample "
            f"{sample} ({len(x_train)} train / {len(x_test)} test) instead of the full data set")
    return RawData(
        x_train, y_train, x_test, y_test,
        info={"source": name, "path": str(sample), "sha256": file_sha256(sample), "fallback": True},
        notes=[note],
    )


def load_sequences(cfg: SequenceData) -> RawData:
    """imdb / reuters: object arrays of integer lists (different lengths)."""
    from kexp.backend import keras as import_keras

    name = cfg.source
    args = {"num_words": cfg.num_words, "skip_top": cfg.skip_top, "maxlen": cfg.maxlen}
    why = keras_cache.unavailable(name)  # offline without the cache: not even tried
    if why is None:
        try:
            loader = getattr(import_keras().datasets, name)
            (x_train, y_train), (x_test, y_test) = loader.load_data(**args)
        except Exception as exc:  # the download failed
            why = exception_line(exc, "no detail")
    if why is not None:
        raise DataError(
            f"data.source: keras.datasets.{name} could not be loaded ({why}). It downloads on "
            f"first use and kexp ships no offline copy of it; connect to the internet once, or "
            f"put {name}.npz in {keras_cache.cache_dir()}"
        ) from None
    info: dict[str, Any] = {"source": name, "loader": f"keras.datasets.{name}.load_data", **args}
    notes = []
    if cfg.maxlen is not None:
        notes.append(
            f"data.maxlen: keras.datasets.{name} drops sequences longer than {cfg.maxlen} "
            "(use the pad step's maxlen to truncate instead)"
        )
    return RawData(x_train, y_train, x_test, y_test, info=info, notes=notes)
