"""One experiment end to end: spec -> config -> data -> preprocessing -> model ->
training -> run folder -> plots (:mod:`.prepare` gets it ready, :mod:`.run` trains and
records it); ``validate`` stops before training."""

from kexp.experiment.prepare import (
    Log,
    Options,
    Prepared,
    base_dirs,
    build_model,
    class_weights,
    fit_transform,
    located,
    make_split,
    prepare,
    setup,
    silent,
)
from kexp.experiment.run import (
    RunResult,
    Validation,
    describe_data,
    environment,
    run,
    summary_text,
    train_in_folder,
    validate,
)

__all__ = [
    "Log", "Options", "Prepared", "RunResult", "Validation", "base_dirs", "build_model",
    "class_weights", "describe_data", "environment", "fit_transform", "located", "make_split",
    "prepare", "run", "setup", "silent", "summary_text", "train_in_folder", "validate",
]
