"""Errors kexp reports to a person: one message, no traceback, exit code 2.

Every user-facing failure is a :class:`KexpError`. The CLI prints ``str(error)``
and exits with ``error.exit_code``; library code never prints or exits.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


def exception_line(exc: BaseException, empty: str = "") -> str:
    """``TypeError: the first line of its message`` (``empty`` for a message without text),
    for a message that names a library's failure in one line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else empty}"


def format_path(path: tuple[Any, ...]) -> str:
    """``("model", "layers", 2, "units")`` -> ``model.layers[2].units``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class KexpError(Exception):
    """Base class of errors caused by the user's input (spec, data, options)."""

    exit_code = 2


class ConfigError(KexpError):
    """A problem at one place of the spec.

    Args:
        path: the YAML path, e.g. ``model.layers[2].Dense.units``.
        message: what was expected and what was received.
        line: the line of the spec file, when known.
        hint: how to fix it (``Did you mean 'Dense'?``).
        origin: ``None`` for the spec file, or e.g. ``--set fit.epochs=x``.
    """

    def __init__(
        self,
        path: str | tuple,
        message: str,
        *,
        line: int | None = None,
        hint: str | None = None,
        origin: str | None = None,
    ) -> None:
        if isinstance(path, tuple):
            self.loc: tuple | None = path
            path = format_path(path)
        else:
            self.loc = None
        self.path = path
        self.message = message
        self.line = line
        self.hint = hint
        self.origin = origin
        super().__init__(self.render())

    def render(self) -> str:
        where = self.path or "(spec)"
        if self.origin:
            where += f" (from {self.origin})"
        elif self.line is not None:
            where += f" (line {self.line})"
        text = f"{where}: {self.message}"
        if self.hint:
            text += f". {self.hint}" if not text.endswith(".") else f" {self.hint}"
        return text

    def located(self, line: int | None, origin: str | None = None) -> ConfigError:
        """A copy with the line (or origin) filled in, where not already known."""
        if self.line is not None or self.origin is not None:
            return self
        new = ConfigError(self.path, self.message, line=line, hint=self.hint, origin=origin)
        new.loc = self.loc
        return new


class ConfigErrors(KexpError):
    """Several spec problems found together (pydantic reports all of them)."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class UsageError(KexpError):
    """Command-line options that do not go together (the CLI shows its usage line)."""


class DataError(KexpError):
    """The data cannot be read or does not fit the spec."""


class RunError(KexpError):
    """A run folder is missing, incomplete or of the wrong kind."""


def edit_distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) that turn ``a`` into ``b``."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[-1]


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The choice ``name`` most likely misspells, or None when none is close.

    Case-insensitive first (``dense`` -> ``Dense``); then difflib's close matches,
    ranked by fewest edits (a swapped pair is one: ``adma`` -> ``Adam``, not ``Adamax``).
    """
    lowered = {c.lower(): c for c in dict.fromkeys(choices)}
    key = name.lower()
    if key in lowered:
        return lowered[key]
    close = difflib.get_close_matches(key, list(lowered), n=5, cutoff=0.6)
    if not close:
        return None
    best = min(close, key=lambda c: edit_distance(key, c))
    return lowered[best]


def did_you_mean(name: str, choices: Iterable[str], *, quote: str = "'") -> str | None:
    """Return ``Did you mean 'X'?`` for the closest choice (:func:`closest`), or None."""
    best = closest(name, choices)
    if best is None or best == name:
        return None
    return f"Did you mean {quote}{best}{quote}?"
