"""Load a spec's data into arrays (or a DataFrame for CSV files).

Sources: a CSV file, an ``.npz`` file, ``keras.datasets`` loaders (which
download on first use; offline, ``mnist`` falls back to the shipped 10,000-digit
sample with a visible note), and random data for smoke tests.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kexp.errors import ConfigError, DataError, did_you_mean
from kexp.spec import CsvData, KerasData, NpzData, RandomData, SequenceData

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


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def find_file(value: str, key: tuple, base_dirs: list[Path]) -> Path:
    """Resolve a data path: as given (absolute or from the current folder), then
    relative to the spec's folder and its parent."""
    p = Path(value).expanduser()
    tried = [p] if p.is_absolute() else [p, *(d / p for d in base_dirs)]
    for cand in tried:
        if cand.is_file():
            return cand
    raise ConfigError(
        key,
        f"data file not found: {value} (looked in: {', '.join(str(t) for t in tried)})",
        hint="Check the path; relative paths are read from the current folder or the spec's folder",
    )


def load(cfg: Any, seed: int, base_dirs: list[Path]) -> RawData:
    """Load the data named by ``cfg`` (a DataConfig)."""
    if isinstance(cfg, CsvData):
        raw = load_csv(cfg, base_dirs)
    elif isinstance(cfg, NpzData):
        raw = _load_npz(cfg, base_dirs)
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


def _head(a: Any, n: int) -> Any:
    if a is None:
        return None
    if isinstance(a, dict):  # per model input/output
        return {k: _head(v, n) for k, v in a.items()}
    return a.iloc[:n] if isinstance(a, (pd.DataFrame, pd.Series)) else a[:n]


# ------------------------------------------------------------------------------- csv


def _has_header(path: Path, delimiter: str) -> bool:
    """A first row with any non-numeric cell is a header."""
    with open(path, newline="", encoding="utf-8") as fh:
        row = next(csv.reader(fh, delimiter=delimiter), [])
    for cell in row:
        try:
            float(cell)
        except ValueError:
            return True
    return False


def read_csv(path: Path, cfg: CsvData, key: tuple) -> pd.DataFrame:
    header = _has_header(path, cfg.delimiter) if cfg.header == "auto" else cfg.header
    try:
        df = pd.read_csv(path, header=0 if header else None, sep=cfg.delimiter)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: cannot read as CSV ({str(exc).splitlines()[0]})") from None
    if df.empty:
        raise DataError(f"{path}: the CSV file has no data rows")
    if not header:
        df.columns = list(range(df.shape[1]))
    if cfg.missing_values is not None:
        df = mark_missing(df, cfg.missing_values)
    return df


def mark_missing(df: pd.DataFrame, spec: list[Any] | dict[Any, list[Any]]) -> pd.DataFrame:
    """Turn the values that mean "missing" into NaN (``data.missing_values``)."""
    if isinstance(spec, list):
        targets = {c: spec for c in df.columns}
    else:
        targets = {
            column(df, col, ("data", "missing_values", col)): values for col, values in spec.items()
        }
    df = df.copy()
    for col, values in targets.items():
        df[col] = df[col].mask(df[col].isin(values))
    return df


def drop_missing(x: pd.DataFrame, y: Any, cfg: CsvData) -> tuple[pd.DataFrame, Any, int]:
    """Drop rows with a missing feature (``data.dropna``); returns x, y, rows dropped."""
    if cfg.dropna is False:
        return x, y, 0
    if cfg.dropna is True:
        cols = list(x.columns)
    else:
        cols = [column(x, c, ("data", "dropna", i)) for i, c in enumerate(cfg.dropna)]
    keep = ~x[cols].isna().any(axis=1)
    if y is not None:
        keep &= ~(y.isna().any(axis=1) if isinstance(y, pd.DataFrame) else y.isna())
    if not keep.any():
        raise DataError(
            f"data.dropna: every row has a missing value in {', '.join(map(str, cols[:10]))}; "
            "nothing is left to train on. Drop fewer columns or use an impute step"
        )
    return x[keep], (y[keep] if y is not None else None), int((~keep).sum())


def column(df: pd.DataFrame, col: Any, key: tuple) -> Any:
    cols = list(df.columns)
    if isinstance(col, int) and not isinstance(col, bool):
        if col in cols and not isinstance(cols[0], str):
            return col
        if -len(cols) <= col < len(cols):
            return cols[col]
        raise ConfigError(
            key, f"column index {col} is out of range: the file has {len(cols)} columns (0..{len(cols) - 1})"
        )
    if col in cols:
        return col
    names = [str(c) for c in cols]
    hint = did_you_mean(str(col), names)
    if not isinstance(cols[0], str):
        hint = "The file has no header row: name columns by index (0, 1, ...)"
    raise ConfigError(key, f"no column '{col}' in the data (columns: {', '.join(names[:20])})", hint=hint)


def select_columns(df: pd.DataFrame, cfg: CsvData, *, need_target: bool = True) -> tuple[Any, Any]:
    """Split a frame into feature columns and target column(s) as the spec says.

    ``features`` / ``target`` given per model input / output name give dicts
    ``{name: frame or series}``.
    """
    if isinstance(cfg.target, dict):
        y_named: dict[str, Any] = {}
        for name, spec in cfg.target.items():
            cols = _target_columns(df, spec, ("data", "target", name), need_target)
            if cols:
                y_named[name] = df[cols] if isinstance(spec, list) else df[cols[0]]
        target_cols = [c for v in y_named.values() for c in (v.columns if isinstance(v, pd.DataFrame) else [v.name])]
        y: Any = y_named or None
    else:
        target_cols = _target_columns(df, cfg.target, ("data", "target"), need_target)
        y = None
        if target_cols:
            y = df[target_cols] if isinstance(cfg.target, list) else df[target_cols[0]]
    if cfg.features is None:
        feature_cols = [c for c in df.columns if c not in target_cols]
        return df[feature_cols], y
    if isinstance(cfg.features, dict):
        x_named = {}
        for name, spec in cfg.features.items():
            cols = _feature_columns(df, spec, ("data", "features", name))
            _no_overlap(cols, target_cols, ("data", "features", name))
            x_named[name] = df[cols]
        return x_named, y
    feature_cols = _feature_columns(df, cfg.features, ("data", "features"))
    _no_overlap(feature_cols, target_cols, ("data", "features"))
    return df[feature_cols], y


def _target_columns(df: pd.DataFrame, spec: Any, key: tuple, need_target: bool) -> list[Any]:
    targets = spec if isinstance(spec, list) else [spec]
    try:
        return [column(df, t, key + ((i,) if isinstance(spec, list) else ())) for i, t in enumerate(targets)]
    except ConfigError:
        if need_target:
            raise
        return []


def _feature_columns(df: pd.DataFrame, spec: Any, key: tuple) -> list[Any]:
    if isinstance(spec, str):
        return _slice_columns(df, spec, key)
    return [column(df, f, key + (i,)) for i, f in enumerate(spec)]


def _no_overlap(feature_cols: list[Any], target_cols: list[Any], key: tuple) -> None:
    overlap = set(feature_cols) & set(target_cols)
    if overlap:
        raise ConfigError(key, f"column(s) {sorted(map(str, overlap))} are both features and target")


def _slice_columns(df: pd.DataFrame, text: str, key: tuple = ("data", "features")) -> list[Any]:
    if ":" in text and all(p.strip().lstrip("-").isdigit() or not p.strip() for p in text.split(":")):
        start, _, stop = text.partition(":")
        sl = slice(int(start) if start.strip() else None, int(stop) if stop.strip() else None)
        cols = list(df.columns)[sl]
        if not cols:
            raise ConfigError(key, f"the column range '{text}' selects no columns (the file has {df.shape[1]})")
        return cols
    return [column(df, text, key)]


def load_csv(cfg: CsvData, base_dirs: list[Path]) -> RawData:
    path = find_file(cfg.path, ("data", "path"), base_dirs)
    df = read_csv(path, cfg, ("data", "path"))
    x, y = select_columns(df, cfg)
    x, y, dropped = drop_missing(x, y, cfg)
    raw = RawData(x, y, info={"source": "csv", "path": str(path), "sha256": sha256_of(path), "rows": len(df)})
    if dropped:
        raw.info["dropped_rows"] = dropped
        raw.notes.append(f"data.dropna: dropped {dropped} of {len(df)} rows with missing values")
    if cfg.test_path:
        tpath = find_file(cfg.test_path, ("data", "test_path"), base_dirs)
        tdf = read_csv(tpath, cfg, ("data", "test_path"))
        raw.x_test, raw.y_test, tdropped = drop_missing(*select_columns(tdf, cfg), cfg)
        if tdropped:
            raw.notes.append(f"data.dropna: dropped {tdropped} rows of {tpath.name} with missing values")
        raw.info.update(test_path=str(tpath), test_sha256=sha256_of(tpath))
    return raw


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
        info={"source": "npz", "path": str(path), "sha256": sha256_of(path)},
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
    from kexp.backend import keras as import_keras

    keras = import_keras()
    name = cfg.source
    loader = getattr(keras.datasets, name)
    cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as exc:  # no network, no cache: urllib/HTTP errors of many kinds
        sample = offline_sample(name) if cfg.offline_fallback else None
        if sample is None:
            raise DataError(
                f"data.source: keras.datasets.{name} could not be loaded ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}). It downloads on first use; "
                f"connect to the internet once, or put the file in {cache}"
            ) from None
        with np.load(sample, allow_pickle=False) as npz:
            x_train, y_train, x_test, y_test = (npz[k] for k in ("x_train", "y_train", "x_test", "y_test"))
        note = (
            f"keras.datasets.{name} is not reachable offline and not cached; used the shipped "
            f"sample {sample} ({len(x_train)} train / {len(x_test)} test) instead of the full data set"
        )
        return RawData(
            x_train, y_train, x_test, y_test,
            info={"source": name, "path": str(sample), "sha256": sha256_of(sample), "fallback": True},
            notes=[note],
        )
    info: dict[str, Any] = {"source": name, "loader": f"keras.datasets.{name}.load_data"}
    cached = [p for p in cache.glob(f"{name}*") if p.is_file()] if cache.is_dir() else []
    if len(cached) == 1:
        info.update(path=str(cached[0]), sha256=sha256_of(cached[0]))
    return RawData(x_train, y_train, x_test, y_test, info=info)


def load_sequences(cfg: SequenceData) -> RawData:
    """imdb / reuters: object arrays of integer lists (different lengths)."""
    from kexp.backend import keras as import_keras

    keras = import_keras()
    name = cfg.source
    loader = getattr(keras.datasets, name)
    args = {"num_words": cfg.num_words, "skip_top": cfg.skip_top, "maxlen": cfg.maxlen}
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data(**args)
    except Exception as exc:  # no network and no cache
        cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"
        raise DataError(
            f"data.source: keras.datasets.{name} could not be loaded ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}). It downloads on first use "
            f"and kexp ships no offline copy of it; connect to the internet once, or put "
            f"{name}.npz in {cache}"
        ) from None
    info: dict[str, Any] = {"source": name, "loader": f"keras.datasets.{name}.load_data", **args}
    notes = []
    if cfg.maxlen is not None:
        notes.append(
            f"data.maxlen: keras.datasets.{name} drops sequences longer than {cfg.maxlen} "
            "(use the pad step's maxlen to truncate instead)"
        )
    return RawData(x_train, y_train, x_test, y_test, info=info, notes=notes)
