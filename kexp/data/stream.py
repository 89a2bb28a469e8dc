"""A CSV file read chunk by chunk (``data.stream``), never whole.

pandas reads :data:`CHUNK_ROWS` rows at a time. Each row's part (train, validation or
test) is chosen by a seeded hash of the row as read (``pandas.util.hash_pandas_object``),
so a row is in the same part in every pass; the fractions are ``data.test.size`` and
``data.validation.size``. The first pass checks every row (a row with the wrong number
of fields, a cell that is not a number in a column of numbers: the file's line) and
counts each part's rows and labels; preprocessing is fitted on the training rows in one
pass per step that learns from the data (:func:`kexp.data.steps.fit_stream`);
:class:`kexp.data.stream_batches.CsvBatches` then feeds Keras one part batch by batch,
rows shuffled within each chunk, a new order every epoch.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kexp.data.csvfile import (
    drop_missing,
    has_header,
    mark_missing,
    ragged_line,
    select_columns,
    separator,
    undecodable,
)
from kexp.data.named import rows_at
from kexp.errors import ConfigError, DataError
from kexp.spec import CsvData

#: rows read at a time (and the block within which a streamed part is shuffled)
CHUNK_ROWS = 65_536
#: the rows of a pass's first chunk: a few, so that training starts without waiting for a
#: whole chunk to be read and preprocessed (the next chunks are read while it trains)
FIRST_CHUNK_ROWS = 4_096
#: a CSV file larger than this is streamed when ``data.stream`` is ``auto``
STREAM_BYTES = 512 * 2**20
#: part codes (HELD: a row no part of a fold takes, kept for a sweep's refit)
TRAIN, VALIDATION, TEST, HELD = 0, 1, 2, 3
PARTS = {"train": TRAIN, "validation": VALIDATION, "test": TEST}
#: distinct labels counted per part at most (a target with more is not counted: a
#: regression's values)
MAX_COUNTED = 10_000


def streams(cfg: CsvData, path: Path) -> bool:
    """Whether ``path`` is read chunk by chunk: ``stream: true``, or ``auto`` and the file
    is larger than :data:`STREAM_BYTES`."""
    return cfg.stream is True or (cfg.stream == "auto" and path.stat().st_size > STREAM_BYTES)


def fractions(cfg: CsvData, own_test: bool) -> tuple[float, float]:
    """The test and validation fractions of a streamed file's rows; ConfigError for what a
    hash of each row cannot do (a number of rows, stratifying, no shuffling)."""
    out = []
    for name, holdout in (("test", None if own_test else cfg.test), ("validation", cfg.validation)):
        if holdout is None:
            out.append(0.0)
            continue
        key = ("data", name)
        if not isinstance(holdout.size, float):
            raise ConfigError(key + ("size",), f"a streamed CSV holds out a fraction of its rows, "
                              f"received {holdout.size} rows", hint="Give a fraction, e.g. size: 0.2")
        if holdout.stratify is True:
            raise ConfigError(key + ("stratify",), "a streamed CSV holds rows out by a hash of "
                              "each row, which cannot keep the class proportions exactly",
                              hint="Set stratify: auto (or false); with many rows the "
                                   "proportions stay close")
        if not holdout.shuffle:
            raise ConfigError(key + ("shuffle",), "a streamed CSV holds rows out by a hash of each "
                              "row, not the last rows of the file", hint="Remove shuffle: false")
        out.append(float(holdout.size))
    test, val = out
    return test, val * (1.0 - test)  # the validation part is a fraction of what the test leaves


@dataclass
class Table:
    """One CSV file read in chunks, its rows assigned to parts by a seeded hash."""

    path: Path
    cfg: CsvData
    seed: int
    test: float = 0.0
    validation: float = 0.0
    only: int | None = None  # every row is this part (a test_path file: TEST)
    folds: int = 0  # k-fold CV: each row's fold by the hash (0: parts by fractions)
    fold: int = 0  # ... and the fold (0-based) whose rows are the test part
    held: float = 0.0  # ... after the rows a run with data.test holds out (a sweep's refit)
    held_seed: int = 0  # ... by the hash with this seed, are left out of every fold
    header: bool = True
    numeric: set[Any] | None = None  # the columns of numbers (from the first chunk)
    rows: dict[str, int] = field(default_factory=dict)
    labels: dict[str, dict[Any, int]] = field(default_factory=dict)
    scanned: bool = False
    codes: dict[int, np.ndarray] = field(default_factory=dict, repr=False)  # by chunk's line

    def __post_init__(self) -> None:
        c = self.cfg
        self.header = has_header(self.path, c.delimiter, c.encoding) if c.header == "auto" else c.header

    # ---------------------------------------------------------------- reading

    def _reader(self) -> Any:
        c = self.cfg
        try:
            return pd.read_csv(self.path, header=0 if self.header else None, **separator(c.delimiter),
                               encoding=c.encoding, chunksize=CHUNK_ROWS)
        except UnicodeDecodeError:
            raise DataError(undecodable(self.path, c.encoding)) from None
        except OSError as exc:
            raise DataError(f"{self.path}: cannot read the file ({exc.strerror or exc})") from None

    def frames(self) -> Iterator[tuple[int, pd.DataFrame]]:
        """``(line of the chunk's first row, chunk)`` for every chunk of the file, each
        checked: the wrong number of fields, a cell that is not a number in a column of
        numbers, or text not in the encoding is a DataError naming the file's line."""
        first_line = 2 if self.header else 1
        reader = self._reader()
        ragged_checked = False
        size = min(FIRST_CHUNK_ROWS, CHUNK_ROWS)
        while True:
            try:
                chunk = reader.get_chunk(size)
            except StopIteration:
                return
            except UnicodeDecodeError:
                raise DataError(undecodable(self.path, self.cfg.encoding)) from None
            except (pd.errors.ParserError, ValueError) as exc:
                raise DataError(self._parser_error(exc)) from None
            if not self.header:
                chunk.columns = list(range(chunk.shape[1]))
            if not ragged_checked and chunk.isna().to_numpy().any():  # short rows read as NaN
                ragged_checked = True
                ragged = ragged_line(self.path, self.cfg.delimiter, self.cfg.encoding)
                if ragged:
                    raise DataError(ragged)
            self._check_numbers(chunk, first_line)
            yield first_line, chunk
            first_line += len(chunk)
            size = CHUNK_ROWS

    def _parser_error(self, exc: Exception) -> str:
        text = str(exc)
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
        if found:
            want, line, got = found.groups()
            return (f"{self.path}: line {line} has {got} field(s), expected {want} as on the first "
                    "line. Fix or remove that line")
        return f"{self.path}: cannot read as CSV ({text.splitlines()[0] if text else exc})"

    def _check_numbers(self, chunk: pd.DataFrame, first_line: int) -> None:
        """A column of numbers (in the first chunk) holding a cell that is not one."""
        if self.numeric is None:
            self.numeric = {c for c in chunk.columns if pd.api.types.is_numeric_dtype(chunk[c])}
            for c in chunk.columns:  # a column of numbers with a few stray cells
                if c not in self.numeric and _mostly_numbers(chunk[c]):
                    self.numeric.add(c)
        for c in self.numeric:
            if c in chunk.columns and not pd.api.types.is_numeric_dtype(chunk[c]):
                cells = chunk[c]
                bad = cells.notna() & pd.to_numeric(cells, errors="coerce").isna()
                i = int(np.argmax(bad.to_numpy()))
                raise DataError(
                    f"{self.path}: line {first_line + i}, column {c!r}: {cells.iloc[i]!r} is not a "
                    "number, but the column holds numbers. Fix the cell, or mark such values "
                    "missing with data.missing_values")

    def parts_of(self, chunk: pd.DataFrame, first_line: int = 0) -> np.ndarray:
        """Each row's part code, from a seeded hash of the row as read (kept after the
        first pass: one byte a row)."""
        if self.only is not None:
            return np.full(len(chunk), self.only, dtype=np.int8)
        known = self.codes.get(first_line)
        if known is not None and len(known) == len(chunk):
            return known
        self.codes[first_line] = codes = self._hashed_parts(chunk)
        return codes

    def _uniform(self, chunk: pd.DataFrame, seed: int | None = None) -> np.ndarray:
        """Each row's hash seeded with ``seed`` (default: the table's) as a number in [0, 1)."""
        key = f"{(self.seed if seed is None else seed) % 10**16:016d}"
        hashed = pd.util.hash_pandas_object(chunk, index=False, hash_key=key).to_numpy()
        return np.asarray((hashed >> np.uint64(11)).astype(np.float64) / float(2**53))

    def _hashed_parts(self, chunk: pd.DataFrame) -> np.ndarray:
        u = self._uniform(chunk)
        out = np.full(len(chunk), TRAIN, dtype=np.int8)
        if self.folds:  # the fold's rows are the test part; the validation part the same
            bucket, within = fold_of(u, self.folds)  # rows in every fold they train in
            out[within < self.validation] = VALIDATION
            out[bucket == self.fold] = TEST
            if self.held:
                out[self._uniform(chunk, self.held_seed) < self.held] = HELD
            return out
        out[u < self.test + self.validation] = VALIDATION
        out[u < self.test] = TEST
        return out

    # ----------------------------------------------------------------- passes

    def chunks(self, part: str) -> Iterator[tuple[Any, Any, int]]:
        """``(x, y, first line)`` of each chunk's rows of ``part``: columns selected as the
        spec says, missing values marked, ``dropna`` and ``limit`` applied. The first
        complete pass also counts every part's rows and labels (:meth:`scan`)."""
        code = PARTS[part]
        counting = not self.scanned
        rows: Counter[int] = Counter()
        labels: dict[int, Counter[Any]] = {k: Counter() for k in PARTS.values()}
        kept = 0
        for first_line, chunk in self.frames():
            codes = self.parts_of(chunk, first_line)
            c = self.cfg
            frame = mark_missing(chunk, c.missing_values) if c.missing_values is not None else chunk
            x, y = select_columns(frame, c)
            if c.dropna is not False:
                x, y, _ = drop_missing(x, y, c)
                codes = codes[frame.index.get_indexer(x.index)]
            if counting:
                for k in PARTS.values():
                    mask = codes == k
                    rows[k] += int(mask.sum())
                    if y is not None and not isinstance(y, dict) and len(labels[k]) <= MAX_COUNTED:
                        labels[k].update(_series(y)[mask].tolist())
            mask = codes == code
            if c.limit is not None:
                room = max(0, c.limit - kept)
                mask &= np.cumsum(mask) <= room
            kept += int(mask.sum())
            if mask.any():
                yield rows_at(x, mask), rows_at(y, mask), first_line
        if counting:
            self.rows = {p: rows[k] for p, k in PARTS.items()}
            if c.limit is not None:
                self.rows = {p: min(n, c.limit) for p, n in self.rows.items()}
            self.labels = {p: dict(labels[k]) for p, k in PARTS.items()
                           if len(labels[k]) <= MAX_COUNTED}
            self.scanned = True

    def fold_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """One pass over the file (every row checked): the rows of each of the ``folds``
        folds the hash gives, and of those the rows that are validation rows when their
        fold trains (``dropna`` applied; ``limit`` is applied per part by each fold)."""
        assert self.folds
        per_fold = np.zeros(self.folds, dtype=np.int64)
        held = np.zeros(self.folds, dtype=np.int64)
        c = self.cfg
        for _, chunk in self.frames():
            frame = mark_missing(chunk, c.missing_values) if c.missing_values is not None else chunk
            if c.dropna is not False:
                x, y = select_columns(frame, c)
                x, y, _ = drop_missing(x, y, c)
                frame = frame.loc[x.index]
            rows = chunk.loc[frame.index]
            if self.held:
                rows = rows[self._uniform(rows, self.held_seed) >= self.held]
            bucket, within = fold_of(self._uniform(rows), self.folds)
            per_fold += np.bincount(bucket, minlength=self.folds)
            held += np.bincount(bucket[within < self.validation], minlength=self.folds)
        return per_fold, held

    def scan(self) -> None:
        """One pass over the file (unless one went through it already): every row checked,
        every part's rows and labels counted."""
        if not self.scanned:
            for _ in self.chunks("train"):
                pass


def fold_of(u: np.ndarray, folds: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's fold (of ``folds``) from its hash ``u`` in [0, 1), and its place within
    the fold, again uniform in [0, 1) (what holds the validation rows out)."""
    scaled = u * folds
    bucket = np.minimum(scaled.astype(np.int64), folds - 1)
    return bucket, scaled - bucket


def label_set(tables: list[Table], part: str = "train") -> np.ndarray | None:
    """The distinct labels of a part over ``tables`` (after :meth:`Table.scan`); None when
    there were too many to count."""
    found: dict[Any, int] = {}
    for t in tables:
        counted = t.labels.get(part)
        if counted is None:
            return None
        found.update(counted)
    if len(found) > MAX_COUNTED:
        return None
    return np.asarray(list(found), dtype=object if any(isinstance(v, str) for v in found) else None)


def _mostly_numbers(cells: pd.Series) -> bool:
    present = cells.dropna()
    if present.empty:
        return False
    bad = int(pd.to_numeric(present, errors="coerce").isna().sum())
    return 0 < bad <= max(1, len(present) // 1000)


def _series(y: Any) -> pd.Series:
    return y.iloc[:, 0] if isinstance(y, pd.DataFrame) else y
