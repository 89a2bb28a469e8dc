"""A run's config as dotted keys (``fit.epochs``), and the keys where configs differ: what
``kexp plot`` labels curves by and a CV's fingerprint compares."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["differing_keys", "flatten"]


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys; lists are kept whole as values.

    >>> flatten({"fit": {"epochs": 3}, "compile": {"optimizer": {"SGD": {"lr": 0.1}}}})
    {'fit.epochs': 3, 'compile.optimizer.SGD.lr': 0.1}
    """
    if not isinstance(data, Mapping):
        return {prefix: data} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, dotted))
        else:
            out[dotted] = value
    return out


def differing_keys(configs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The dotted keys whose values are not the same in all ``configs`` (flattened)."""
    keys: dict[str, None] = {}
    for config in configs:
        keys.update(dict.fromkeys(config))
    missing = object()
    return [
        key
        for key in keys
        if len({_hashable(c.get(key, missing)) for c in configs}) > 1
    ]


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, default=str)
    return value
