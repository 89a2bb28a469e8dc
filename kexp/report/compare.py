"""``kexp compare``: runs side by side, the config keys that differ and each metric with its
difference to the first run (CV folders by their fold means)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from kexp.errors import KexpError
from kexp.report.tables import OLD_BACKEND, cell, map_cells, metric_order
from kexp.rundir.read import Run

__all__ = ["Comparison", "compare_runs", "config_differences", "format_comparison", "with_defaults"]


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
    rows = config_differences(with_defaults([run.config for run in runs]))
    config = pd.DataFrame([[_show_value(v) for v in values] for _, values in rows], columns=ids,
                          index=pd.Index([key for key, _ in rows], name="config"), dtype=object)
    names = metric_order(dict.fromkeys(m for run in runs for m in run.metrics))
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

#: what ``config.yaml`` leaves out of a layer item because it is the default: ``repeat`` is
#: written beside a layer only when it is not 1 (``kexp.spec.network.SequentialModel``)
LAYER_DEFAULTS: dict[str, Any] = {"repeat": 1}


def with_defaults(configs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``configs`` with each ``model.layers`` item given the :data:`LAYER_DEFAULTS` that
    another config's item at the same place writes out: a layer without ``repeat`` beside one
    with ``repeat: 2`` reads ``repeat: 1``, as the spec means it (``"Flatten"`` reads
    ``{Flatten: null, repeat: 1}``, as config.yaml writes a repeated named layer). New dicts;
    ``configs`` are left as they are. A config without ``backend`` (written before kexp
    had a choice) reads TensorFlow's."""
    configs = [{**c, "backend": c.get("backend") or OLD_BACKEND} if c else c for c in configs]
    stacks = [_layers(c) for c in configs]
    written = {(i, key) for layers in stacks for i, item in enumerate(layers)
               if isinstance(item, dict) for key in LAYER_DEFAULTS if key in item}
    if not written:
        return list(configs)
    out = []
    for config, layers in zip(configs, stacks, strict=True):
        items = []
        for i, item in enumerate(layers):
            missing = {k: v for k, v in LAYER_DEFAULTS.items() if (i, k) in written
                       and not (isinstance(item, dict) and k in item)}
            if missing and isinstance(item, str):
                item = {item: None, **missing}
            elif missing and isinstance(item, dict):
                item = {**item, **missing}
            items.append(item)
        out.append({**config, "model": {**config["model"], "layers": items}} if layers else config)
    return out


def _layers(config: dict[str, Any]) -> list[Any]:
    model = config.get("model")
    layers = model.get("layers") if isinstance(model, dict) else None
    return layers if isinstance(layers, list) else []


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
        table = map_cells(comparison.config.rename(columns=rename).rename_axis(None), cell)
        parts += ["", "Config (differences only):", table.to_string()]
    if comparison.metrics.empty:
        parts += ["", "Metrics: none"]
    else:
        table = comparison.metrics.rename(columns=rename).rename_axis(None)
        shown = map_cells(table, _signed_cell)
        for column in [c for c in table.columns if not c.startswith("Δ ")]:
            shown[column] = table[column].astype(object).map(cell)
        parts += ["", "Metrics:", shown.to_string()]
    return "\n".join(parts)


def _signed_cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:+.4g}"
