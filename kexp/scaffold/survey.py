"""Look at a CSV file for ``kexp init``: is the first line a header, what each column
holds (numbers, a few categories, free text, an identifier) and what the target asks
for (classification or regression, its classes).

Every way the file or the ``--target`` cannot be used is a :class:`KexpError` naming
the option and the fix. pandas is imported here, so import this module only from the
library function that needs it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from kexp.errors import KexpError

#: the most distinct strings a column may hold to be one-hot encoded (get_dummies)
MAX_CATEGORIES = 20
#: the fewest words a string column's cells hold on average to be read as text
TEXT_MIN_WORDS = 3.0
#: the most distinct integer values a target may hold to be read as class labels
MAX_CLASSES = 20

Kind = Literal["numeric", "category", "text", "dropped"]
Task = Literal["classification", "regression"]


@dataclass
class ColumnInfo:
    """One feature column: how the spec names it, what it holds, why."""

    key: str | int
    kind: Kind
    distinct: int
    missing: int
    why: str
    words: float = 0.0


@dataclass
class TargetInfo:
    """The target column and the task it asks for."""

    key: str | int
    task: Task
    distinct: int
    missing: int
    #: class labels (sorted) with their counts; empty for regression
    classes: list[tuple[Any, int]] = field(default_factory=list)


@dataclass
class Survey:
    """What ``kexp init`` learned about a CSV file."""

    path: str
    header: bool
    rows: int
    columns: list[ColumnInfo]
    target: TargetInfo
    #: the words of the text column's cells (all rows), for the vocabulary and length
    text_lengths: list[int] = field(default_factory=list)
    text_vocabulary: int = 0
    #: the file is streamed (larger than kexp.data.stream.STREAM_BYTES): the survey read
    #: only its first SAMPLE_ROWS rows
    sampled: bool = False

    def of_kind(self, kind: Kind) -> list[ColumnInfo]:
        return [c for c in self.columns if c.kind == kind]


def is_number(cell: Any) -> bool:
    try:
        float(cell)
    except (TypeError, ValueError):
        return False
    return True


def sniff_header(raw: pd.DataFrame) -> bool:
    """Whether the first row of ``raw`` (every cell read as text) names the columns.

    A first row of numbers is data. Otherwise it is a header unless every non-numeric
    cell of it appears again below in its column (then it looks like data).
    """
    first = raw.iloc[0].tolist()
    words = [j for j, cell in enumerate(first) if not is_number(cell)]
    if not words:
        return False
    if len(raw) == 1:
        return True
    rest = raw.iloc[1:]
    return any(first[j] not in set(rest.iloc[:, j].tolist()) for j in words)


#: the rows kexp init reads of a file too large to read whole
SAMPLE_ROWS = 100_000


def sampled(path: Path) -> bool:
    """Whether ``path`` is a CSV file kexp streams (``data.stream: auto``), so that kexp
    init reads a sample of it."""
    from kexp.data.stream import STREAM_BYTES

    return path.is_file() and path.stat().st_size > STREAM_BYTES


def read_frame(path: Path) -> tuple[pd.DataFrame, bool]:
    """The CSV file as a frame and whether it has a header row; KexpError when it is
    not a readable CSV file."""
    if not path.is_file():
        where = "is a folder" if path.is_dir() else "does not exist"
        raise KexpError(f"DATA: {path} {where}; expected a CSV file. Check the path")
    rows = SAMPLE_ROWS if sampled(path) else None
    try:
        raw = pd.read_csv(path, header=None, dtype=str, keep_default_na=False, nrows=rows)
        header = sniff_header(raw)
        df = pd.read_csv(path, header=0 if header else None, nrows=rows)
    except UnicodeDecodeError:
        raise KexpError(f"DATA: {path} is not UTF-8 text; expected a CSV file (save it as "
                        "UTF-8 CSV, or write the spec by hand with data.encoding)") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise KexpError(f"DATA: {path} cannot be read as CSV ({reason}); expected "
                        "comma-separated rows of the same length") from None
    if df.empty:
        raise KexpError(f"DATA: {path} has no data rows; expected a header and rows, or rows")
    if df.shape[1] < 2:
        other = next((d for d in (";", "\t", "|") if d in str(raw.iloc[0, 0])), None)
        hint = f" It seems to use {other!r} between values: save it comma-separated" if other else ""
        raise KexpError(f"DATA: {path} has one column; expected a target and at least one "
                        f"feature column, separated by commas.{hint}")
    if not header:
        df.columns = list(range(df.shape[1]))
    return df, header


def find_target(df: pd.DataFrame, target: str, header: bool) -> str | int:
    """The column ``--target`` names: a column name, or a 0-based column index."""
    columns = list(df.columns)
    if header and target in columns:
        return target
    if target.lstrip("-").isdigit() and -len(columns) <= int(target) < len(columns):
        return columns[int(target)]
    names = [str(c) for c in columns]
    shown = ", ".join(names[:30]) + (", ..." if len(names) > 30 else "")
    close = difflib.get_close_matches(target, names, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    if not header:
        hint += f" The file has no header row: give the column's index (0 to {len(columns) - 1})."
    raise KexpError(f"--target: no column '{target}' in the data; expected one of: {shown}.{hint}")


def _row_number(values: pd.Series) -> bool:
    """An integer column counting rows (0, 1, 2, ... or 1, 2, 3, ...)."""
    if not pd.api.types.is_integer_dtype(values) or len(values) < 3:
        return False
    diffs = values.diff().dropna()
    return bool((diffs == 1).all())


def describe_column(key: str | int, s: pd.Series) -> ColumnInfo:
    """What one feature column holds, and what kexp init does with it."""
    values = s.dropna()
    missing, distinct = int(s.isna().sum()), int(values.nunique())
    gaps = f"; {missing} missing" if missing else ""
    if distinct == 0:
        return ColumnInfo(key, "dropped", 0, missing, "every value missing, dropped")
    if distinct == 1:
        return ColumnInfo(key, "dropped", 1, missing,
                          f"one value only ({_plain(values.iloc[0])!r}), dropped")
    if pd.api.types.is_bool_dtype(values):
        return ColumnInfo(key, "category", distinct, missing, f"true/false, one-hot{gaps}")
    if pd.api.types.is_numeric_dtype(values):
        if missing == 0 and _row_number(values):
            return ColumnInfo(key, "dropped", distinct, missing,
                              "counts the rows (1, 2, 3, ...): a row number, dropped")
        fill = f"; {missing} missing, filled with the training median" if missing else ""
        return ColumnInfo(key, "numeric", distinct, missing, f"numeric, standardized{fill}")
    text = values.astype(str)
    words = float(text.str.split().str.len().mean())
    if distinct <= MAX_CATEGORIES:
        zero = f"; {missing} missing -> all-zero row" if missing else ""
        return ColumnInfo(key, "category", distinct, missing,
                          f"{distinct} categories, one-hot (get_dummies){zero}", words)
    if words >= TEXT_MIN_WORDS:
        return ColumnInfo(key, "text", distinct, missing,
                          f"text ({distinct} distinct, {words:.0f} words on average), "
                          "tokenized and padded", words)
    return ColumnInfo(key, "dropped", distinct, missing,
                      f"{distinct} distinct strings (an identifier or free labels), dropped", words)


def describe_target(key: str | int, s: pd.Series, task: Task | None) -> TargetInfo:
    """The target's task: classification for text, true/false or a few whole numbers
    (at most :data:`MAX_CLASSES`), regression otherwise; ``task`` overrides."""
    values = s.dropna()
    distinct = int(values.nunique())
    if distinct < 2:
        shown = f"only the value {_plain(values.iloc[0])!r}" if distinct else "no values"
        raise KexpError(f"--target: column '{key}' holds {shown}; expected a column with at "
                        "least two different values to predict. Choose another --target")
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    whole = numeric and bool((values == values.round()).all())
    if task is None:
        task = "regression" if numeric and not (whole and distinct <= MAX_CLASSES) else "classification"
    if task == "regression" and not numeric:
        raise KexpError(f"--task regression: column '{key}' holds text (e.g. {_plain(values.iloc[0])!r}); "
                        "expected numbers. Use --task classification or another --target")
    classes: list[tuple[Any, int]] = []
    if task == "classification":
        counts = values.value_counts()
        classes = sorted(((_plain(v), int(n)) for v, n in counts.items()), key=lambda c: c[0])
    return TargetInfo(key, task, distinct, int(s.isna().sum()), classes)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def survey(path: str, target: str, task: Task | None = None) -> Survey:
    """Read ``path`` and decide, column by column, what kexp init writes."""
    df, header = read_frame(Path(path))
    key = find_target(df, target, header)
    info = describe_target(key, df[key], task)
    columns = [describe_column(c, df[c]) for c in df.columns if c != key]
    result = Survey(path, header, len(df), columns, info, sampled=sampled(Path(path)))
    texts = result.of_kind("text")
    if texts:
        main = max(texts, key=lambda c: c.words)
        for other in result.columns:
            if other is not main and other.kind != "dropped":
                other.kind = "dropped"
                other.why = (f"{other.why.split(',')[0]}, not used: the spec reads only the "
                             f"text column '{main.key}' (a text + table model needs a "
                             "functional model; write it by hand)")
        cells = df[main.key].dropna().astype(str).str.lower()
        result.text_lengths = cells.str.split().str.len().tolist()
        result.text_vocabulary = len({w for cell in cells for w in cell.split()})
    if not [c for c in result.columns if c.kind != "dropped"]:
        kept = ", ".join(f"'{c.key}': {c.why}" for c in result.columns) or "none"
        raise KexpError(f"--target: no feature column is left besides '{key}' (other columns: "
                        f"{kept}); expected at least one column of numbers, categories or text")
    return result
