"""``kexp cv`` as one library call: check the options, validate the spec, then
cross-validate (:mod:`kexp.cv.run`) or resume a CV folder (:mod:`kexp.cv.resume`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kexp import backend
from kexp.cv.options import CVOptions, CVRequest
from kexp.engine import cores, workers
from kexp.engine.output import Log, silent
from kexp.rundir.write import check_creatable
from kexp.spec import configure, load_spec

if TYPE_CHECKING:
    from kexp.cv.record import CVResult




def run(request: CVRequest, log: Log = silent) -> CVResult:
    """Run ``kexp cv`` as ``request`` asks.

    Raises :class:`~kexp.errors.UsageError` for options that do not go together, a
    KexpError for bad input (before anything is written), and
    :class:`~kexp.cv.options.CVInterrupted` when the CV stops with folds left to train.
    Spec errors come before pandas and TensorFlow are imported: the training side of
    the package is loaded only once the spec is valid.
    """
    request.check()
    backend.set_verbose(request.verbose)
    from kexp.experiment import select_backend

    select_backend(request.spec, request.spec_overrides(),
                   Path(request.resume_dir) if request.resume_dir is not None else None)
    cv_opts = request.cv_options()
    wanted = cv_opts.jobs > 1 and cv_opts.executor == "local" and not cv_opts.stack
    if wanted:
        cv_opts.jobs = cores.jobs_to_use(cv_opts.jobs, log)
        wanted = cv_opts.jobs > 1
    # the workers import TensorFlow while this process loads the spec and the data
    with workers.started(wanted, cv_opts.jobs, cv_opts.fold_threads(), request.verbose) as pool:
        cv_opts.workers = pool
        return _run(request, cv_opts, log)


def _run(request: CVRequest, cv_opts: CVOptions, log: Log) -> CVResult:
    if request.resume_dir is not None:
        from kexp import experiment
        from kexp.cv.resume import resume

        check_creatable(Path(request.resume_dir), "--resume")
        options = experiment.Options(runs_dir=Path(request.runs_dir))
        return resume(Path(request.resume_dir), options, cv_opts, log=log)
    assert request.spec is not None
    parsed = load_spec(request.spec)
    items = request.spec_overrides()
    from kexp import experiment

    # a missing data file or a runs folder that cannot be written: before TensorFlow
    experiment.check_inputs(parsed, configure(parsed, items), items, Path(request.runs_dir),
                            "kexp cv")
    from kexp.cv.run import cross_validate

    options = experiment.Options(overrides=items, runs_dir=Path(request.runs_dir))
    return cross_validate(parsed, options, cv_opts, log=log)
