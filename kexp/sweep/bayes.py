"""Bayesian search (``sweep.method: tpe``) and pruning (``sweep.prune``) on Optuna, the
optional extra ``kexp[sweep]``.

The study is stored in the sweep folder (``study.db``, SQLite). ``tpe`` asks Optuna's
``TPESampler`` (seeded from ``sweep.seed`` or the spec's seed) for each trial's values
(a list -> ``suggest_categorical``, ``uniform`` -> ``suggest_float``, ``loguniform`` ->
``suggest_float(log=True)``, ``randint: [a, b]`` -> ``suggest_int(a, b - 1)``), ``--jobs N``
at a time, and tells it each result as the trial finishes: ``completed`` with its metric,
``pruned``, or ``failed`` (a proposed combination whose spec does not validate is failed
without training; the study goes on). Trials planned already (``random`` with ``prune``,
or trials trained again after ``--resume``) are enqueued with their values. Each Optuna
trial keeps the kexp trial's number, values, folder and status as user attributes, so
``--resume`` rebuilds a ``tpe`` sweep's trials from the study: finished ones are kept,
interrupted ones are asked again with the same values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kexp import backend
from kexp.errors import ConfigError, ConfigErrors
from kexp.rundir.write import RunFolder
from kexp.spec import apply_overrides
from kexp.sweep.plan import SweepPlan, Trial, as_yaml, folder_name, trial_spec
from kexp.sweep.prune import STUDY_NAME, PruneTarget, monitored, pruner
from kexp.sweep.tpe import fixed, suggest
from kexp.sweep.trial import TrialOutcome, TrialTask

STUDY_FILE = "study.db"

RunTasks = Callable[[list[TrialTask]], Iterator[TrialOutcome]]
NewTask = Callable[[Trial], TrialTask]


class Study:
    """The sweep's Optuna study, in ``<sweep folder>/study.db``."""

    def __init__(self, root: Path, plan: SweepPlan) -> None:
        import optuna

        if not backend.is_verbose():
            optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.plan = plan
        self.storage = f"sqlite:///{(Path(root) / STUDY_FILE).resolve()}"
        sweep = plan.sweep
        seed = sweep.seed if sweep.seed is not None else plan.cfg.seed
        self.study = optuna.create_study(
            study_name=STUDY_NAME, storage=self.storage, load_if_exists=True,
            direction="maximize" if plan.goal == "max" else "minimize",
            sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner(sweep.prune))
        self.running: dict[int, Any] = {}  # kexp trial number -> Optuna trial
        self._fail_stale()

    def _fail_stale(self) -> None:
        """Trials an interrupted sweep left running (or enqueued) are told failed."""
        from optuna.trial import TrialState

        for frozen in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            self.study.tell(frozen.number, state=TrialState.FAIL)
        while self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            self.study.tell(self.study.ask(), state=TrialState.FAIL)

    def ask(self, number: int, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Ask Optuna for kexp trial ``number``'s values (proposed, or ``params`` enqueued)."""
        if params is not None:
            self.study.enqueue_trial(fixed(self.plan.sweep, params))
        trial = self.study.ask()
        values = {path: suggest(trial, path, space) for path, space in self.plan.sweep.parameters.items()}
        values = values if params is None else params
        trial.set_user_attr("kexp_trial", number)
        trial.set_user_attr("params", values)
        trial.set_user_attr("folder", folder_name(number, values))
        self.running[number] = trial
        return values

    def target(self, number: int) -> PruneTarget | None:
        """Where trial ``number`` reports its epochs (None without ``sweep.prune``)."""
        prune = self.plan.sweep.prune
        if prune is None:
            return None
        return PruneTarget(self.storage, self.running[number].number, monitored(self.plan.sweep.metric), prune)

    def tell(self, out: TrialOutcome) -> None:
        """Tell Optuna how trial ``out.number`` ended."""
        from optuna.trial import TrialState

        trial = self.running.pop(out.number)
        trial.set_user_attr("kexp_status", out.status)
        trial.set_user_attr("error", out.error or "")
        if out.status == "completed" and out.value is not None and math.isfinite(out.value):
            self.study.tell(trial, out.value)
        else:
            self.study.tell(trial, state=TrialState.PRUNED if out.status == "pruned" else TrialState.FAIL)


def restore(root: Path, plan: SweepPlan) -> list[TrialOutcome]:
    """A ``tpe`` sweep's trials, from its study (for ``--resume``): ``plan.trials`` filled;
    the failed ones returned (finished: they are not trained again)."""
    import optuna

    study = optuna.load_study(study_name=STUDY_NAME, storage=f"sqlite:///{(Path(root) / STUDY_FILE).resolve()}")
    latest = {t.user_attrs["kexp_trial"]: t for t in study.get_trials(deepcopy=False)
              if "kexp_trial" in t.user_attrs}
    failed = []
    for number, frozen in sorted(latest.items()):
        params, folder = frozen.user_attrs["params"], frozen.user_attrs["folder"]
        if frozen.user_attrs.get("kexp_status") == "failed":
            failed.append(TrialOutcome(number, params, "failed", error=frozen.user_attrs.get("error"),
                                       folder=folder))
            spec = plan.base
        else:
            items = [(f"{p}={as_yaml(v)}", "the sweep's study") for p, v in params.items()]
            spec = apply_overrides(plan.base, items)
        plan.trials.append(Trial(number, params, spec, folder))
    return failed


def _invalid(root: Path, trial: Trial, exc: Exception) -> TrialOutcome:
    """A proposed trial whose spec does not validate: recorded failed, without training."""
    path = root / "trials" / trial.folder
    path.mkdir(parents=True, exist_ok=True)
    error = f"sweep.parameters (proposed by tpe): {exc}"
    RunFolder(path).set_status("failed", error=error)
    return TrialOutcome(trial.number, trial.params, "failed", error=error, folder=trial.folder)


def _propose(study: Study, root: Path, new_task: NewTask, count: int) -> tuple[list[TrialTask], list[TrialOutcome]]:
    """Ask ``count`` new trials: the tasks to train, and those failed already (invalid)."""
    plan, tasks, failed = study.plan, [], []
    for _ in range(count):
        number = max((t.number for t in plan.trials), default=0) + 1
        params = study.ask(number)
        trial = Trial(number, params, plan.base, folder_name(number, params))
        plan.trials.append(trial)
        try:
            trial.spec = trial_spec(plan.base, params, "sweep.parameters (tpe)")
        except (ConfigError, ConfigErrors) as exc:
            failed.append(_invalid(root, trial, exc))
            study.tell(failed[-1])
            continue
        task = new_task(trial)
        task.prune = study.target(number)
        tasks.append(task)
    return tasks, failed


def study_outcomes(root: Path, plan: SweepPlan, todo: list[TrialTask], done: list[TrialOutcome],
                   run_tasks: RunTasks, new_task: NewTask, jobs: int) -> Iterator[TrialOutcome]:
    """Each trial's outcome as it finishes, told to the study: ``todo`` first (values
    planned already), then, for ``tpe``, new trials ``jobs`` at a time up to ``plan.total``."""
    study = Study(root, plan)
    for task in todo:
        study.ask(task.number, task.params)
        task.prune = study.target(task.number)
    for out in run_tasks(todo):
        study.tell(out)
        yield out
    if plan.sweep.method != "tpe":
        return
    count = len(done) + len(todo)
    while count < plan.total:
        batch, failed = _propose(study, root, new_task, min(jobs, plan.total - count))
        count += len(batch) + len(failed)
        yield from failed
        for out in run_tasks(batch):
            study.tell(out)
            yield out
