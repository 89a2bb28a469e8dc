"""What a run is asked to do besides its spec (light: the CLI builds it before any
data or TensorFlow is loaded)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kexp.engine.output import Log, silent

__all__ = ["Log", "Options", "silent"]


@dataclass
class Options:
    """Command-line choices that are not part of the spec."""

    overrides: list[Any] = field(default_factory=list)  # "a.b=c" or ("a.b=c", "--option v")
    runs_dir: Path = Path("runs")
    verbose: int | str = "auto"
    argv: list[str] = field(default_factory=lambda: list(sys.argv))
    save_model: bool = True  # write model.keras (kexp cv: only with --save-models)
    plots: bool = True  # draw the run's PNG plots after training
    #: the model was trained already (``kexp cv --stack``): record this history, do not fit
    history: Any = None
    #: more Keras callbacks for the fit (``kexp sweep``'s pruning)
    callbacks: list[Any] = field(default_factory=list)
    #: read the data once per process for all runs that share it (``kexp sweep``'s trials:
    #: :func:`kexp.data.sources.load_kept`)
    reuse_data: bool = False
    #: the workers of one training on several processes or machines (``kexp run --workers``)
    cluster: Any = None
