"""``kexp sweep --cv K --stack``: cross-validated trials trained together.

Every trial's folds are stacked (``kexp cv --stack``). On JAX, more: trials whose
configs differ only in values that change no shape and no step of the training (the
seed, initializers, the optimizer's constant learning rate, L1 / L2 factors of kernel
and bias regularizers: :func:`group_key`) train as one program on the device, all their
folds mapped over one axis (:mod:`kexp.cv.scan`); each trial is then recorded into its
own complete CV folder, folds and all, as ``kexp cv --stack`` records it. A group of one
trial, or one whose models turn out not to fit one program, trains trial by trial.

The numbers of a trial are those of its folds trained alone on JAX up to the order in
which XLA sums a batched product (tests at rtol 1e-5). Trials of one group with the same
L1 / L2 factors are recorded on one evaluation model (their test losses are the same
function of the weights), so evaluation and predictions are traced once for them.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kexp import backend
from kexp.cv import factors, scan
from kexp.cv import stack as stack_mod
from kexp.cv.prepare import CVPlan
from kexp.cv.run import fold_tasks
from kexp.engine.output import Log, silent
from kexp.errors import exception_line
from kexp.spec import Config, load_config
from kexp.sweep import cvtrial
from kexp.sweep.trial import TrialOutcome, TrialTask, cross_validated, run_trial

NOTE = "trained with sweep --stack on JAX: {n} trials x {k} folds as one program on the device"


def group_key(cfg: Config) -> str:
    """What trials must share to train as one program: their config without the seed,
    the name, initializers, a constant learning rate and kernel / bias L1 / L2 factors
    (whose non-zero pattern stays in)."""
    tree = cfg.model_dump(mode="json")
    for key in ("seed", "name"):
        tree.pop(key, None)
    tree["model"] = _shapes_only(tree.get("model"))
    optimizer = (tree.get("compile") or {}).get("optimizer")
    if isinstance(optimizer, dict) and len(optimizer) == 1:
        (name, params), = optimizer.items()
        if isinstance(params, dict) and isinstance(params.get("learning_rate"), (int, float)):
            tree["compile"]["optimizer"] = {name: {**params, "learning_rate": "vectorized"}}
    return repr(tree)


def _shapes_only(tree: Any) -> Any:
    """``tree`` with initializers dropped and regularizer factors kept as zero or not."""
    if isinstance(tree, list):
        return [_shapes_only(v) for v in tree]
    if not isinstance(tree, dict):
        return tree
    out = {}
    for key, value in tree.items():
        if str(key).endswith("_initializer"):
            continue
        if str(key) in ("kernel_regularizer", "bias_regularizer") and isinstance(value, dict):
            value = {name: ({f: v != 0 for f, v in params.items()} if isinstance(params, dict)
                            else params) for name, params in value.items()}
        out[key] = _shapes_only(value)
    return out


def outcomes(tasks: list[TrialTask], log: Log = silent) -> Iterator[TrialOutcome]:
    """Each trial's outcome: the trials of each group (:func:`group_key`) trained as one
    program on JAX, else trial by trial with their folds stacked."""
    groups: dict[str, list[TrialTask]] = {}
    for task in tasks:
        together = backend.name() == "jax" and task.cv is not None
        key = group_key(load_config(task.spec)) if together else str(task.number)
        groups.setdefault(key, []).append(task)
    for group in groups.values():
        if len(group) == 1:
            yield run_trial(group[0])
        else:
            yield from _together(group, log)


def _together(tasks: list[TrialTask], log: Log) -> Iterator[TrialOutcome]:
    """Train the trials' folds as one program, then record each trial's CV folder; trials
    that cannot join it train alone (where their errors are recorded)."""
    t0 = time.monotonic()
    plans: list[tuple[TrialTask, CVPlan, list[Any]]] = []
    for task in tasks:
        try:
            plans.append(_plan(task))
        except KeyboardInterrupt:
            raise
        except Exception:  # noqa: BLE001 - the trial trains alone, where its error is recorded
            yield run_trial(task)
    histories = _train(plans, log) if len(plans) > 1 else None
    if histories is None:
        for task, _, _ in plans:
            yield run_trial(task)
        return
    seconds = (time.monotonic() - t0) / len(histories)
    note = NOTE.format(n=len(plans), k=len(plans[0][2]))
    start = 0
    evaluators: dict[bytes, Any] = {}  # one per set of L1 / L2 factors: the test loss's
    for task, plan, trial_parts in plans:
        own = [p for p, _ in trial_parts]
        for p in own:
            p.notes.append(note)
        evaluator = evaluators.setdefault(factors.table([own[0].model]).tobytes(), own[0].model)
        trained = stack_mod.Trained(own, histories[start:start + len(own)], seconds, evaluator)
        start += len(own)
        out = TrialOutcome(task.number, task.params, "failed", folder=Path(task.path).name)
        t1 = time.monotonic()
        cross_validated(task, out, functools.partial(
            cvtrial.cross_validate_trial, task.spec, Path(task.path), task.cv or 0, task.argv,
            task.plots, task.save_model, stack=True, plan=plan, trained=trained))
        out.duration_s = round(seconds * len(own) + time.monotonic() - t1, 3)
        yield out


def _plan(task: TrialTask) -> tuple[TrialTask, CVPlan, list[Any]]:
    """The trial's CV plan (checked for ``--stack``) and its folds' parts, built."""
    assert task.cv is not None
    plan = cvtrial.cv_plan(task.spec, task.cv, build=False)  # built below
    stack_mod.check(plan.cfg, [len(train) for train, _ in plan.folds])
    folds = fold_tasks(plan.cfg, plan.folds, Path(task.path), plan.sizes)
    return task, plan, stack_mod.scan_parts(plan.job, folds)


def _train(plans: list[tuple[TrialTask, CVPlan, list[Any]]],
           log: Log) -> list[dict[str, list[float]]] | None:
    """Every trial's folds trained as one program: their histories, in order; None (and a
    note saying why) when they cannot be."""
    parts = [part for _, _, trial_parts in plans for part in trial_parts]
    models, xs, ys = stack_mod.fold_arrays(parts)
    orders = [o for _, o in parts]
    batch = plans[0][1].cfg.fit.batch_size
    reason = scan.why_not(models, orders, batch)
    if reason is None:
        try:
            return scan.train(models, xs, ys, orders, batch)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - each trial then trains alone
            reason = exception_line(exc)
    log(f"Note: sweep --stack: trials {', '.join(str(t.number) for t, _, _ in plans)} "
        f"train one by one ({reason})")
    return None
