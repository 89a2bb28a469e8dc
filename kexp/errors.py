"""Errors kexp reports to a person: one message, no traceback, exit code 2.

Every user-facing failure is a :class:`KexpError`. The CLI prints ``str(error)``
and exits with ``error.exit_code``; library code never prints or exits.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


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


def did_you_mean(name: str, choices: Iterable[str], *, quote: str = "'") -> str | None:
    """Return ``Did you mean 'X'?`` for the closest choice, or None.

    Case-insensitive first (``dense`` -> ``Dense``), then difflib's ratio.
    """
    choices = list(dict.fromkeys(choices))
    lowered = {c.lower(): c for c in choices}
    if name.lower() in lowered and lowered[name.lower()] != name:
        return f"Did you mean {quote}{lowered[name.lower()]}{quote}?"
    close = [lowered[c] for c in difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)]
    if close:
        return f"Did you mean {quote}{close[0]}{quote}?"
    return None
