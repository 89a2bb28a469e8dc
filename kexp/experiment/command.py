"""``kexp run`` and ``kexp validate`` as one library call each: the spec file is read
and checked against the schema first, so a mistake is reported before pandas, the data
or TensorFlow are loaded; only then is the training side imported."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kexp.experiment.options import Log, Options, silent
from kexp.spec import Spec, configure, load_spec

if TYPE_CHECKING:
    from kexp.experiment.trainer import RunResult, Validation


def load_checked(path: str | Path, overrides: list[Any]) -> Spec:
    """Read a spec file and check it against the schema with its overrides."""
    spec = load_spec(path)
    configure(spec, overrides)
    return spec


def run_file(path: str | Path, options: Options, log: Log = silent) -> RunResult:
    """``kexp run``: check the spec file, then train and record it in a new run folder."""
    spec = load_checked(path, options.overrides)
    from kexp.experiment.trainer import run

    return run(spec, options, log)


def validate_file(path: str | Path, options: Options, log: Log = silent) -> Validation:
    """``kexp validate``: check the spec file, then load its data and build its model."""
    spec = load_checked(path, options.overrides)
    from kexp.experiment.trainer import validate

    return validate(spec, options, log)
