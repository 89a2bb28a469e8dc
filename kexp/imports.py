"""Custom code named as ``package.module:attribute``: imported, never ``eval``ed, never
called here. What a slot accepts is checked where the slot is: :mod:`kexp.model.custom`
(losses, layers, ...), :mod:`kexp.data.python` (data sets)."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from typing import Any

from kexp.errors import ConfigError, did_you_mean

Loc = tuple[Any, ...]
CUSTOM_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def add_search_path(path: str | Path) -> None:
    """Let ``package.module:attribute`` names resolve relative to ``path`` too."""
    p = str(Path(path).resolve())
    if p not in sys.path:
        sys.path.insert(0, p)


def import_object(name: str, loc: Loc) -> Any:
    """Import ``package.module:attribute`` (never eval, never call)."""
    if not CUSTOM_RE.match(name):
        raise ConfigError(
            loc, f"custom code must be named 'package.module:attribute', received {name!r}"
        )
    module_name, attr = name.split(":", 1)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            loc,
            f"cannot import module '{module_name}' ({exc})",
            hint="Run kexp from the folder that holds the package, or install it",
        ) from None
    except Exception as exc:  # the user's module failed while importing
        raise ConfigError(loc, f"importing '{module_name}' failed: {type(exc).__name__}: {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = [n for n in dir(obj) if not n.startswith("_")]
            raise ConfigError(
                loc,
                f"module '{module_name}' has no attribute '{attr}'",
                hint=did_you_mean(part, public),
            )
        obj = getattr(obj, part)
    return obj
