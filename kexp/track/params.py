"""A resolved config as MLflow parameters: dotted keys, values as text within MLflow's
limits (a value too long is summarised by its start, its length and its sha256)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from kexp.hashes import text_sha256

#: MLflow's limits on a parameter's value and key (mlflow.utils.validation)
MAX_VALUE = 6000
MAX_KEY = 250
#: values longer than this are summarised (readable in MLflow's table)
SUMMARY_AT = 500


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"fit": {"epochs": 2}, "model": {"layers": [{...}]}}`` -> ``{"fit.epochs": 2,
    "model.layers.0.Dense.units": ...}``; empty mappings and lists are kept as values."""
    items: Iterable[tuple[Any, Any]]
    if isinstance(data, dict) and data:
        items = data.items()
    elif isinstance(data, list) and data:
        items = enumerate(data)
    else:
        return {prefix: data} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in items:
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def as_text(value: Any) -> str:
    """A parameter's value as MLflow shows it (None as ``null``, others as JSON or str)."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, default=str, separators=(",", ":"))


def summarise(text: str, limit: int = SUMMARY_AT) -> str:
    """``text``, or its start with its length and sha256 when longer than ``limit``."""
    if len(text) <= limit:
        return text
    digest = text_sha256(text)[:12]
    return f"{text[: limit - 60]}... ({len(text)} chars, sha256 {digest})"


def key_name(key: str) -> str:
    """A key MLflow accepts: letters, digits, ``_ - . space /``, at most 250 characters."""
    key = re.sub(r"[^A-Za-z0-9_\-. /]", "_", key)
    return key[:MAX_KEY]


def params(config: dict[str, Any]) -> dict[str, str]:
    """The config's parameters for ``log_batch``: dotted keys, summarised values."""
    return {key_name(k): summarise(as_text(v)) for k, v in flatten(config).items()}
