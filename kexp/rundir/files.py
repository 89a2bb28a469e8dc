"""A run folder's JSON files, the one way kexp reads them: a value, or what is wrong with the
file, never an exception (re-exported by :mod:`kexp.rundir.read`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["json_object", "read_json"]


def read_json(path: Path) -> tuple[Any, str | None]:
    """A run folder's JSON file, the one way kexp reads them: its value and None; None and
    None when it is missing; None and what is wrong (``status.json cannot be read (...)``)."""
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as exc:
        return None, f"{path.name} cannot be read ({exc.__class__.__name__}: {exc})"


def json_object(path: Path) -> tuple[dict[str, Any], str | None]:
    """A JSON object from ``path`` (:func:`read_json`), or ``{}`` and what is wrong with the
    file (``missing``, ``cannot be read (...)``, ``not a JSON object``)."""
    data, problem = read_json(path)
    if problem is not None:
        return {}, problem.removeprefix(f"{path.name} ")
    if data is None and not path.exists():
        return {}, "missing"
    if not isinstance(data, dict):
        return {}, "not a JSON object"
    return data, None
