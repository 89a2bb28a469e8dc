"""``kexp sweep`` as one library call: check the options, plan the sweep (every trial's
spec validated), then run it (:mod:`kexp.sweep.run`) or resume a sweep folder
(:mod:`kexp.sweep.resume`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kexp import backend
from kexp.engine import cores, workers
from kexp.engine.output import Log, silent
from kexp.errors import ConfigError, UsageError
from kexp.rundir.write import check_creatable

if TYPE_CHECKING:
    from kexp.sweep.record import SweepResult


#: options that ``--resume`` takes from the sweep folder instead, in the order they are named
FROM_THE_SWEEP_FOLDER = (
    ("spec", "SPEC"), ("overrides", "--set"), ("name", "--name"), ("seed", "--seed"),
    ("epochs", "--epochs"), ("backend", "--backend"), ("params", "--param"),
    ("trials", "--trials"), ("cv", "--cv"),
)


@dataclass
class SweepRequest:
    """The options of ``kexp sweep``, as given on the command line."""

    spec: str | None = None
    overrides: tuple[str, ...] = ()
    name: str | None = None
    seed: int | None = None
    epochs: int | None = None
    backend: str | None = None
    params: tuple[str, ...] = ()
    trials: int | None = None
    cv: int | None = None  # K-fold CV per trial, then the refit (overrides sweep.cv)
    runs_dir: str = "runs"
    jobs: int = 1
    threads: int | None = None
    executor: str = "local"
    address: str | None = None
    plots: bool = True
    save_models: bool = True
    stack: bool = False
    resume_dir: str | None = None
    verbose: bool = False

    def check(self) -> None:
        """Raise UsageError for a missing SPEC, a SPEC or settings given with --resume, or
        --address without --executor ray."""
        if self.stack and (self.jobs > 1 or self.executor == "ray"):
            raise UsageError("--stack trains the trials in this process, together where they "
                             "can be; remove --jobs / --executor ray, or --stack")
        if self.address is not None and self.executor != "ray":
            raise UsageError(f"--address {self.address} is a Ray cluster's address; add "
                             "--executor ray (or remove --address to run trials locally)")
        if self.resume_dir is None:
            if self.spec is None:
                raise UsageError("give a SPEC file, or --resume runs/<id>")
            if self.params and self.trials is not None:
                raise UsageError("--trials applies to a random or tpe sweep (sweep: {method: random}); "
                                 "--param makes a grid of every value given")
            return
        given = [option for attr, option in FROM_THE_SWEEP_FOLDER
                 if getattr(self, attr) not in (None, ())]
        if given:
            raise UsageError("--resume takes the spec and settings from the sweep folder; "
                             f"remove {', '.join(given)}")

    def spec_overrides(self) -> list[Any]:
        """``--set`` items, then ``(override, origin)`` pairs for the other spec options."""
        from kexp.spec import option_items

        items: list[Any] = [*self.overrides,
                            *option_items(self.name, self.seed, self.epochs, self.backend)]
        if self.trials is not None:
            items.append((f"sweep.trials={self.trials}", f"--trials {self.trials}"))
        return items



def run(request: SweepRequest, log: Log = silent) -> SweepResult:
    """Run ``kexp sweep`` as ``request`` asks.

    Raises UsageError for options that do not go together, a KexpError for bad input
    (every trial's spec is checked before the first trains), and
    :class:`~kexp.sweep.run.SweepInterrupted` when it stops with trials left to train.
    """
    request.check()
    if request.executor == "ray":  # a missing ray: exit 2 before the sweep folder is made
        from kexp.engine.cluster import import_ray

        import_ray()
    backend.set_verbose(request.verbose)
    from kexp.experiment import select_backend

    select_backend(request.spec, request.spec_overrides(),
                   Path(request.resume_dir) if request.resume_dir is not None else None)
    wanted = request.jobs > 1 and request.executor == "local"
    if wanted:
        request.jobs = cores.jobs_to_use(request.jobs, log)
        wanted = request.jobs > 1
    # the workers import TensorFlow while this process loads the spec and checks trials
    with workers.started(wanted, request.jobs, request.threads, request.verbose) as pool:
        from kexp.sweep.run import SweepOptions

        opts = SweepOptions(jobs=request.jobs, threads=request.threads,
                            executor=request.executor, address=request.address,
                            plots=request.plots, save_models=request.save_models, workers=pool,
                            stack=request.stack)
        return _run(request, opts, log)


def check_stackable(plan: Any) -> None:
    """``--stack`` needs cross-validated trials planned ahead (a grid or random sweep)."""
    if plan.sweep.cv is None:
        raise UsageError("--stack stacks each trial's folds: add --cv K (or sweep.cv), or "
                         "remove --stack")
    if plan.sweep.method == "tpe":
        raise UsageError("--stack trains the planned trials together; a tpe sweep proposes "
                         "each trial from the ones before. Use a grid or random sweep, or "
                         "remove --stack")


def check_trial_inputs(plan: Any, runs_dir: Path) -> None:
    """:func:`kexp.experiment.check_inputs` for the sweep: its folder, and the data files of
    the base spec and of every trial whose parameters change the data section (before
    TensorFlow is imported and before the sweep folder is made)."""
    from kexp import experiment
    from kexp.spec import load_config

    experiment.check_inputs(plan.base, plan.cfg, [], runs_dir, "kexp sweep")
    for trial in plan.trials:
        if any(str(key).split(".")[0] == "data" for key in trial.params):
            experiment.check_inputs(trial.spec, load_config(trial.spec), [], None)


#: trial parameters under these change what a trial's model logs
_CHANGES_LOGS = ("model", "compile.metrics", "compile.loss")


def check_metric(plan: Any) -> None:
    """``sweep.metric`` names a value the base spec's model logs (a test metric, or a
    history column with ``val_``), before any trial trains; left to each trial's record
    when trials change the model, its loss or its metrics."""
    if any(str(key).startswith(_CHANGES_LOGS) for trial in plan.trials for key in trial.params):
        return
    from kexp import experiment
    from kexp.train.monitors import check_monitor

    try:
        check_monitor(plan.sweep.metric, ("sweep", "metric"), experiment.logged_metrics(plan.cfg),
                      "sweep.metric")
    except ConfigError as exc:
        raise experiment.located(plan.base, exc) from None


def _run(request: SweepRequest, opts: Any, log: Log) -> SweepResult:
    from kexp import experiment

    options = experiment.Options(runs_dir=Path(request.runs_dir))
    if request.resume_dir is not None:
        from kexp.sweep.resume import resume

        check_creatable(Path(request.resume_dir), "--resume")
        return resume(Path(request.resume_dir), options, opts, log=log)
    from kexp.spec import load_spec
    from kexp.sweep.plan import make_plan, shorthand
    from kexp.sweep.run import sweep

    assert request.spec is not None
    items = request.spec_overrides()
    plan = make_plan(load_spec(request.spec), shorthand(list(request.params)) if request.params else None,
                     items)
    if request.cv is not None:
        if plan.sweep.prune is not None:
            raise UsageError("--cv: sweep.prune stops single runs by their epochs; it does not "
                             "apply to cross-validated trials. Remove sweep.prune or --cv")
        plan.sweep = plan.sweep.model_copy(update={"cv": request.cv})
    if request.stack:
        check_stackable(plan)
    check_trial_inputs(plan, Path(request.runs_dir))
    check_metric(plan)
    if plan.sweep.cv is not None:  # the CV's own checks (data, folds), before any trial trains
        from kexp.sweep.cvtrial import cv_plan

        cv_plan(plan.base, plan.sweep.cv, build=False)
    options.overrides = items
    return sweep(plan, options, opts, log=log)
