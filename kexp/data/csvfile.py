"""Read a CSV file and pick its columns as the spec says (``data.features``,
``data.target``, ``data.missing_values``, ``data.dropna``).

Every way a file cannot be read is a DataError naming the file, and the line where a
line is the cause (text not in ``data.encoding``, a row with the wrong number of fields).

``data.delimiter`` is one character, or, as pandas reads a ``sep`` of several characters,
a regular expression (``::``, ``\\s+``) that pandas' Python parser splits each line on
(quotes are then not special).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pandas as pd

from kexp.errors import ConfigError, DataError, did_you_mean
from kexp.spec import CsvData


def separator(delimiter: str) -> dict[str, str]:
    """``pd.read_csv``'s arguments for ``data.delimiter``: several characters are a regular
    expression, which only pandas' Python parser takes."""
    return {"sep": delimiter, "engine": "python"} if len(delimiter) > 1 else {"sep": delimiter}


def split_lines(fh: IO[str], delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` of each row of an open file, split as pandas splits them
    (:func:`separator`): the csv module's rules for one character, the regular expression
    on each line for several."""
    if len(delimiter) == 1:
        reader = csv.reader(fh, delimiter=delimiter)
        for row in reader:
            yield reader.line_num, row
        return
    pattern = re.compile(delimiter)
    for number, line in enumerate(fh, 1):
        text = line.rstrip("\r\n")
        yield number, pattern.split(text) if text else []


def has_header(path: Path, delimiter: str, encoding: str = "utf-8") -> bool:
    """A first row with any non-numeric cell is a header."""
    with open(path, newline="", encoding=encoding) as fh:
        row = next((r for _, r in split_lines(fh, delimiter)), [])
    for cell in row:
        try:
            float(cell)
        except ValueError:
            return True
    return False


def read_csv(path: Path, cfg: CsvData, key: tuple) -> pd.DataFrame:
    """The CSV file as a frame; every way it cannot be read is a DataError naming the
    file (and the line, for text that is not in the encoding or a row of the wrong length)."""
    encoding = cfg.encoding
    try:
        header = has_header(path, cfg.delimiter, encoding) if cfg.header == "auto" else cfg.header
        df = pd.read_csv(path, header=0 if header else None, encoding=encoding,
                         **separator(cfg.delimiter))
    except UnicodeDecodeError:
        raise DataError(undecodable(path, encoding)) from None
    except LookupError:
        raise ConfigError(("data", "encoding"), f"unknown encoding {encoding!r}",
                          hint="e.g. utf-8, latin-1, cp1252") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc.strerror or exc}). Check that it is "
                        "readable by this user (its permissions)") from None
    except (pd.errors.ParserError, ValueError, csv.Error) as exc:
        ragged = ragged_line(path, cfg.delimiter, encoding)
        raise DataError(ragged or f"{path}: cannot read as CSV ({str(exc).splitlines()[0]})") from None
    if df.empty:
        raise DataError(f"{path}: the CSV file has no data rows")
    if df.isna().to_numpy().any():  # a short row is read as missing values
        ragged = ragged_line(path, cfg.delimiter, encoding)
        if ragged:
            raise DataError(ragged)
    if not header:
        df.columns = list(range(df.shape[1]))
    if cfg.missing_values is not None:
        df = mark_missing(df, cfg.missing_values)
    return df


def undecodable(path: Path, encoding: str) -> str:
    """Which line of ``path`` is not ``encoding`` text, and how to say the right one."""
    where = "the file"
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, 1):
            try:
                line.decode(encoding)
            except UnicodeDecodeError as exc:
                where = f"line {number} (byte 0x{line[exc.start:exc.start + 1].hex()} at column {exc.start + 1})"
                break
    return (f"{path}: {where} is not {encoding} text. Set data.encoding to the file's encoding, "
            "e.g. encoding: latin-1 (Windows/Excel files are often cp1252)")


def ragged_line(path: Path, delimiter: str, encoding: str) -> str | None:
    """The first line of ``path`` whose number of fields differs from the first line's
    (or the line that is not ``encoding`` text)."""
    try:
        with open(path, newline="", encoding=encoding) as fh:
            width = None
            for number, row in split_lines(fh, delimiter):
                if not row:
                    continue
                if width is None:
                    width = len(row)
                elif len(row) != width:
                    return (f"{path}: line {number} has {len(row)} field(s), expected {width} "
                            "as on the first line. Fix or remove that line")
    except UnicodeDecodeError:
        return undecodable(path, encoding)
    except csv.Error:
        return None
    return None


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
        n = df.shape[1]
        if (sl.stop is not None and sl.stop > n) or (sl.start is not None and not -n <= sl.start < n):
            raise ConfigError(
                key,
                f"the column range '{text}' goes past the last column: the file has {n} columns "
                f"(0..{n - 1})",
                hint=f"A range stops before its end: '0:{n - 1}' is columns 0..{n - 2}, every "
                "column but the last",
            )
        cols = list(df.columns)[sl]
        if not cols:
            raise ConfigError(key, f"the column range '{text}' selects no columns (the file has {df.shape[1]})")
        return cols
    return [column(df, text, key)]
