"""Tables of runs: ``kexp ls`` (one row per run) and ``kexp compare`` (runs side by side).

Listing reads only small files per run (``status.json``, ``config.yaml``,
``metrics.json`` or ``summary.json``); ``history.csv`` is opened only to count
its lines when ``status.json`` has no ``epochs``. A folder of hundreds of runs
lists in well under a second.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from kexp.errors import KexpError, RunError, did_you_mean
from kexp.rundir.read import Run, higher_is_better, looks_like_run

__all__ = [
    "Comparison",
    "RunTable",
    "TABLE_FORMATS",
    "compare_runs",
    "format_comparison",
    "format_runs",
    "list_runs",
    "run_row",
]

TABLE_FORMATS = ("table", "csv", "json")
BASE_COLUMNS = [
    "id", "name", "kind", "status", "started", "duration_s", "epochs",
    "optimizer", "learning_rate", "batch_size", "max_epochs",
]


@dataclass
class RunTable:
    """The rows of ``kexp ls`` and what could not be read."""

    frame: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


def _optimizer(config: dict[str, Any]) -> tuple[str | None, float | None]:
    compile_ = c if isinstance(c := config.get("compile"), dict) else {}
    optimizer = compile_.get("optimizer")
    if isinstance(optimizer, str):
        return optimizer, None
    if isinstance(optimizer, dict) and len(optimizer) == 1:
        (name, args), = optimizer.items()
        lr = args.get("learning_rate") if isinstance(args, dict) else None
        return str(name), lr if isinstance(lr, (int, float)) else None
    return None, None


def run_row(run: Run) -> dict[str, Any]:
    """One row of ``kexp ls``: identity, status, main hyperparameters, final metrics."""
    optimizer, lr = _optimizer(run.config)
    fit = f if isinstance(f := run.config.get("fit"), dict) else {}
    row: dict[str, Any] = {
        "id": run.id,
        "name": run.name,
        "kind": run.kind,
        "status": run.state,
        "started": run.status.get("started"),
        "duration_s": run.status.get("duration_s"),
        "epochs": run.epochs(),
        "optimizer": optimizer,
        "learning_rate": lr,
        "batch_size": fit.get("batch_size"),
        "max_epochs": fit.get("epochs"),
    }
    for metric, value in run.metrics.items():
        if metric not in row:
            row[metric] = value
    return row


def _metric_order(names: Iterable[str]) -> list[str]:
    names = list(names)
    return sorted(names, key=lambda n: (0 if n == "loss" else 1 if n.endswith("loss") else 2,
                                        names.index(n)))


def _parse_filter(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise KexpError(f"--filter: expected key=value, received {text!r}")
    return key.strip(), value.strip()


def _matches(value: Any, wanted: str) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return wanted.lower() in ("", "none", "null", "-")
    if str(value) == wanted:
        return True
    try:
        return float(value) == float(wanted)
    except (TypeError, ValueError):
        return str(value).lower() == wanted.lower()


def list_runs(
    runs_dir: Path = Path("runs"),
    *,
    sort: str | None = None,
    filters: Sequence[str] = (),
) -> RunTable:
    """The runs and CV runs directly under ``runs_dir``, one row each.

    Args:
        runs_dir: the folder holding run folders.
        sort: a column or metric; accuracy-like metrics descending, loss-like
            ascending, runs lacking it last. Default: by id (start time).
        filters: ``key=value`` strings; a key is a column (``status``, ``name``)
            or a dotted config key (``fit.batch_size``). All must match.

    Raises:
        RunError: ``runs_dir`` does not exist.
        KexpError: a malformed filter, or an unknown sort or filter key.
    """
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise RunError(f"{runs_dir}: no such runs folder (train something with `kexp run` first)")
    parsed = [_parse_filter(f) for f in filters]
    runs = [Run(p) for p in sorted(runs_dir.iterdir()) if looks_like_run(p)]
    rows = [run_row(run) for run in runs]
    metrics = _metric_order(dict.fromkeys(k for row in rows for k in row if k not in BASE_COLUMNS))
    frame = pd.DataFrame(rows, columns=BASE_COLUMNS + metrics)
    warnings = [note for run in runs for note in run.notes]
    frame = frame[_kept(frame, runs, parsed)]
    if sort:
        frame = _sorted(frame, sort)
    return RunTable(frame.reset_index(drop=True), warnings)


def _kept(frame: pd.DataFrame, runs: Sequence[Run],
          filters: Sequence[tuple[str, str]]) -> pd.Series:
    """Which rows match every ``(key, value)`` filter; a key is a column or a config key."""
    keep = pd.Series(True, index=frame.index)
    for key, wanted in filters:
        if key in frame.columns:
            values = frame[key].tolist()
        elif any(key in run.flat_config for run in runs):
            values = [run.flat_config.get(key) for run in runs]
        else:
            known = list(frame.columns) + sorted({k for r in runs for k in r.flat_config})
            hint = did_you_mean(key, known)
            raise KexpError(f"--filter: unknown key {key!r}." + (f" {hint}" if hint else ""))
        keep &= pd.Series([_matches(v, wanted) for v in values], index=frame.index)
    return keep


def _sorted(frame: pd.DataFrame, sort: str) -> pd.DataFrame:
    """Rows by ``sort``: accuracy-like descending, loss-like and columns ascending, NaN last."""
    if sort not in frame.columns:
        hint = did_you_mean(sort, list(frame.columns))
        raise KexpError(
            f"--sort: unknown column or metric {sort!r}."
            + (f" {hint}" if hint else f" Choose from: {', '.join(frame.columns)}")
        )
    ascending = sort in BASE_COLUMNS or not higher_is_better(sort)
    return frame.sort_values(sort, ascending=ascending, na_position="last", kind="stable")


# ------------------------------------------------------------------------ formatting


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or math.isnan(seconds):
        return "-"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _started(value: Any) -> str:
    if not isinstance(value, str):
        return "-"
    try:
        return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return value


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _map(frame: pd.DataFrame, fn: Any) -> pd.DataFrame:
    """Elementwise ``fn`` (``DataFrame.map`` is pandas >= 2.1, ``applymap`` before)."""
    frame = frame.astype(object)
    return frame.map(fn) if hasattr(frame, "map") else frame.applymap(fn)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    return [{str(k): v for k, v in r.items()} for r in records]


def format_runs(frame: pd.DataFrame, fmt: str = "table") -> str:
    """Render a :func:`list_runs` frame as an aligned table, CSV or JSON."""
    if fmt == "csv":
        return frame.to_csv(index=False).rstrip("\n")
    if fmt == "json":
        return json.dumps(_records(frame), indent=2, default=str)
    if fmt != "table":
        raise KexpError(f"--format: expected one of {', '.join(TABLE_FORMATS)}, received {fmt!r}")
    if frame.empty:
        return "No runs."
    shown = frame.copy()
    shown["started"] = shown["started"].map(_started)
    shown["duration_s"] = shown["duration_s"].map(_duration)
    shown["epochs"] = [
        _cell(done) if pd.isna(planned) else f"{_cell(done)}/{_cell(planned)}"
        for done, planned in zip(frame["epochs"].astype(object), frame["max_epochs"], strict=True)
    ]
    shown = shown.drop(columns="max_epochs")
    if shown["learning_rate"].isna().all():
        shown = shown.drop(columns="learning_rate")
    shown = shown.rename(columns={"duration_s": "duration", "learning_rate": "lr"})
    shown = _map(shown, _cell)
    return shown.to_string(index=False)


# ---------------------------------------------------------------------------- compare


@dataclass
class Comparison:
    """Config keys that differ (rows) by run (columns); metrics with differences to the first."""

    runs: list[str]
    config: pd.DataFrame
    metrics: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


def compare_runs(run_dirs: Sequence[Path]) -> Comparison:
    """Compare runs (or CV runs, by their metric means) with the first one.

    Returns:
        A :class:`Comparison`: ``config`` has only the keys whose values differ, lists
        item by item (``model.layers[1].Dense.units``, and ``model.layers``: ``3 items``
        where the lengths differ), values over ~60 characters summarised; ``metrics`` has
        a column per run and ``Δ <id>`` columns holding ``run - first``.

    Raises:
        KexpError: fewer than two runs.
    """
    runs = [Run(Path(p)) for p in run_dirs]
    if len(runs) < 2:
        raise KexpError(f"compare: expected at least two runs, received {len(runs)}")
    ids = _unique_ids(runs)
    rows = config_differences([run.config for run in runs])
    config = pd.DataFrame([[_show_value(v) for v in values] for _, values in rows], columns=ids,
                          index=pd.Index([key for key, _ in rows], name="config"), dtype=object)
    names = _metric_order(dict.fromkeys(m for run in runs for m in run.metrics))
    metrics = pd.DataFrame(index=pd.Index(names, name="metric"))
    first = ids[0]
    for i, run in zip(ids, runs, strict=True):
        metrics[i] = pd.Series({m: run.metrics.get(m, float("nan")) for m in names}, dtype=float)
    for i in ids[1:]:
        metrics[f"Δ {i}"] = metrics[i] - metrics[first]
    warnings = [note for run in runs for note in run.notes]
    for i, run in zip(ids, runs, strict=True):
        if not run.metrics:
            source = "summary.json" if run.is_cv else "metrics.json"
            warnings.append(f"{i}: no metrics ({source} missing or empty; status {run.state})")
    return Comparison(ids, config, metrics, warnings)


def _unique_ids(runs: Sequence[Run]) -> list[str]:
    ids = [run.id for run in runs]
    if len(set(ids)) == len(ids):
        return ids
    return [str(run.path) for run in runs]


_ABSENT = object()
LONG_VALUE = 60


def config_differences(configs: Sequence[Any]) -> list[tuple[str, list[Any]]]:
    """``(key, value in each config)`` where the configs differ: mappings key by key,
    lists item by item (plus ``key: N items`` where the lengths differ) unless they are short
    lists of plain values; a key a config lacks has the value ``None``."""
    return [(k, [None if v is _ABSENT else v for v in values]) for k, values in _differences(configs, "")]


def _differences(configs: Sequence[Any], key: str) -> list[tuple[str, list[Any]]]:
    if len({json.dumps(c, sort_keys=True, default=str) if c is not _ABSENT else "" for c in configs}) == 1:
        return []
    present = [c for c in configs if c is not _ABSENT]
    if all(isinstance(c, list) for c in present) and not all(
            all(not isinstance(i, (list, dict)) for i in c) and len(json.dumps(c, default=str)) <= LONG_VALUE
            for c in present):
        lengths = [f"{len(c)} items" if c is not _ABSENT else _ABSENT for c in configs]
        rows = [(key, lengths)] if len(set(map(str, lengths))) > 1 else []
        for i in range(max(len(c) for c in present)):
            rows += _differences([c[i] if c is not _ABSENT and i < len(c) else _ABSENT
                                  for c in configs], f"{key}[{i}]")
        return rows
    nested = [c if isinstance(c, Mapping) else _ABSENT for c in configs]
    rows = []
    for name in dict.fromkeys(k for c in nested if isinstance(c, Mapping) for k in c):
        rows += _differences([c.get(name, _ABSENT) if isinstance(c, Mapping) else _ABSENT
                              for c in nested], f"{key}.{name}" if key else str(name))
    if any(n is _ABSENT and c is not _ABSENT for n, c in zip(nested, configs, strict=True)):
        rows.append((key, [_ABSENT if n is not _ABSENT else c for n, c in zip(nested, configs, strict=True)]))
    return rows


def _show_value(value: Any) -> Any:
    """A config value as a cell: lists and mappings as JSON, anything over ~60 characters
    summarised (``[12 items] [{"Dense": ...…``)."""
    if value is None:
        return "-"
    text = json.dumps(value, default=str) if isinstance(value, (list, dict)) else str(value)
    if len(text) <= LONG_VALUE:
        return text if isinstance(value, (list, dict, str)) else value
    size = f"[{len(value)} items] " if isinstance(value, list) else (
        f"{{{len(value)} keys}} " if isinstance(value, dict) else "")
    return f"{size}{text[:LONG_VALUE - len(size) - 1]}…"


def format_comparison(comparison: Comparison, fmt: str = "table") -> str:
    """Render a :class:`Comparison` as text tables or JSON."""
    if fmt == "json":
        return json.dumps(
            {
                "runs": comparison.runs,
                "config": {k: dict(zip(comparison.runs, row, strict=True))
                           for k, row in zip(comparison.config.index,
                                             comparison.config.itertuples(index=False),
                                             strict=True)},
                "metrics": {m: {k: (None if pd.isna(v) else float(v)) for k, v in row.items()}
                            for m, row in comparison.metrics.iterrows()},
            },
            indent=2,
            default=str,
        )
    if fmt != "table":
        raise KexpError(f"--format: expected one of table, json, received {fmt!r}")
    parts = ["Runs:"] + [f"  [{n}] {run}" for n, run in enumerate(comparison.runs, 1)]
    short = {run: f"[{n}]" for n, run in enumerate(comparison.runs, 1)}

    def rename(column: str) -> str:
        if column.startswith("Δ "):
            return f"Δ {short[column[2:]]}-[1]"
        return short.get(column, column)

    if comparison.config.empty:
        parts += ["", "Config: identical"]
    else:
        table = _map(comparison.config.rename(columns=rename).rename_axis(None), _cell)
        parts += ["", "Config (differences only):", table.to_string()]
    if comparison.metrics.empty:
        parts += ["", "Metrics: none"]
    else:
        table = comparison.metrics.rename(columns=rename).rename_axis(None)
        shown = _map(table, _signed_cell)
        for column in [c for c in table.columns if not c.startswith("Δ ")]:
            shown[column] = table[column].astype(object).map(_cell)
        parts += ["", "Metrics:", shown.to_string()]
    return "\n".join(parts)


def _signed_cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:+.4g}"
