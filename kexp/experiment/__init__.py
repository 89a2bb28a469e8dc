"""One experiment end to end: spec -> config -> data -> preprocessing -> model ->
training -> run folder -> plots. :mod:`.pipeline` gets it ready, :mod:`.trainer` trains and
records it (``validate`` stops before training), :mod:`.command` is what ``kexp run`` and
``kexp validate`` call.

Only the light part is imported with the package; the training side is imported when
one of its names is first used, so that a spec mistake is reported in a fraction of a
second.
"""

from __future__ import annotations

import importlib
from typing import Any

from kexp.experiment.command import (
    check_inputs,
    load_checked,
    run_file,
    select_backend,
    validate_file,
)
from kexp.experiment.options import Log, Options, silent

_LAZY = {
    **dict.fromkeys(
        ("Prepared", "base_dirs", "build_model", "class_weights", "fit_transform", "located",
         "logged_metrics", "make_split", "prepare", "setup"), "pipeline"),
    **dict.fromkeys(
        ("RunResult", "Validation", "describe_data", "environment", "run", "summary_text",
         "train_in_folder", "validate"), "trainer"),
    **dict.fromkeys(("checkpoint_of", "resume_run"), "resume"),
}

__all__ = ["Log", "Options", "check_inputs", "load_checked", "run_file", "select_backend", "silent", "validate_file", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'kexp.experiment' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"kexp.experiment.{_LAZY[name]}"), name)
    globals()[name] = value
    return value
