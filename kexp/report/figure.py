"""Figures and their files: the figure factory, ``--show`` support, and saving.

Figures are plain :class:`matplotlib.figure.Figure` objects (no pyplot, no global
state, no GUI backend needed) unless :func:`pyplot_figures` is active, which
``kexp plot --show`` uses to open windows.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kexp.errors import RunError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["FORMATS", "has_display", "new_figure", "pyplot_figures", "save_figures"]

FORMATS = ("png", "svg", "pdf")

_pyplot = False


@contextlib.contextmanager
def pyplot_figures() -> Iterator[None]:
    """Build figures with ``pyplot.figure`` inside this block (so ``plt.show()`` shows them)."""
    global _pyplot
    previous, _pyplot = _pyplot, True
    try:
        yield
    finally:
        _pyplot = previous


def new_figure(**kwargs: Any) -> Figure:
    """A figure: a pyplot one inside :func:`pyplot_figures`, else a plain one."""
    if _pyplot:
        import matplotlib.pyplot as plt

        return plt.figure(**kwargs)
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def has_display() -> bool:
    """Whether a window can be opened (macOS/Windows, or X11/Wayland on Linux)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _file_stem(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("_") or "plot"


def save_figures(figures: dict[str, Figure], out_dir: Path, fmt: str = "png",
                 prefix: str = "") -> list[Path]:
    """Write each figure as ``<out_dir>/<prefix><name>.<fmt>``; return the paths.

    Files are written under a temporary name and renamed, so a reader never sees
    half a PNG.
    """
    if fmt not in FORMATS:
        raise RunError(f"format: expected one of {', '.join(FORMATS)}, received {fmt!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figures.items():
        path = out_dir / f"{prefix}{_file_stem(name)}.{fmt}"
        tmp = path.with_name(f".{path.name}.tmp")
        fig.savefig(tmp, format=fmt, dpi=110)
        os.replace(tmp, path)
        paths.append(path)
    return paths
