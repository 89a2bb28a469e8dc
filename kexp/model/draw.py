"""A picture of the model's graph (``model.png``) with ``keras.utils.plot_model``.

That needs the ``pydot`` package and Graphviz's ``dot`` program. Without them kexp
says so in one line and carries on: the text summary (``summary.txt``,
``kexp validate``) has the same layers, shapes and parameter counts.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any


def missing() -> str | None:
    """Why the model cannot be drawn here, or None when it can."""
    try:
        import pydot  # noqa: F401
    except ImportError:
        return "pydot is not installed (pip install pydot)"
    if shutil.which("dot") is None:
        return "Graphviz is not installed (the 'dot' program; e.g. apt-get install graphviz)"
    return None


def save(model: Any, path: Path) -> str | None:
    """Draw ``model`` to ``path`` (PNG, via a temporary file); return a notice when it
    cannot be drawn (the caller shows it), None when it was written."""
    reason = missing()
    if reason is None:
        import keras

        path = Path(path)
        tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
        try:
            keras.utils.plot_model(
                model, to_file=str(tmp), show_shapes=True, show_layer_names=True, dpi=72
            )
            tmp.replace(path)
            return None
        except (ImportError, OSError, ValueError, RuntimeError) as exc:
            tmp.unlink(missing_ok=True)
            reason = f"plot_model failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    return f"{Path(path).name} not drawn: {reason}; see the text summary instead"
