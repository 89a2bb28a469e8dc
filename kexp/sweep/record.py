"""A sweep's record: ``trials.csv`` (one row per trial), the best trial, ``best.yaml``
(the best trial as a runnable spec) and ``summary.json``."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from kexp.spec import apply_overrides
from kexp.sweep.plan import SweepPlan, as_yaml, label, label_value
from kexp.sweep.trial import TrialOutcome


@dataclass
class SweepResult:
    path: Path
    outcomes: list[TrialOutcome]
    summary: dict[str, Any]
    frame: pd.DataFrame

    @property
    def failed(self) -> list[int]:
        return [o.number for o in self.outcomes if o.status == "failed"]


def trials_frame(plan: SweepPlan, outcomes: Iterable[TrialOutcome]) -> pd.DataFrame:
    """``trial, <each parameter path>..., <metric>, status, epochs, duration_s, folder, error``."""
    rows = []
    for o in sorted(outcomes, key=lambda o: o.number):
        row: dict[str, Any] = {"trial": o.number}
        row.update({path: label_value(v) if isinstance(v, (dict, list)) else v for path, v in o.params.items()})
        row.update({plan.sweep.metric: o.value, "status": o.status, "epochs": o.epochs,
                    "duration_s": o.duration_s, "folder": f"trials/{o.folder}", "error": o.error or ""})
        rows.append(row)
    return pd.DataFrame(rows)


def best(plan: SweepPlan, outcomes: Iterable[TrialOutcome]) -> TrialOutcome | None:
    """The completed trial with the best metric (the first of equals)."""
    done = [o for o in outcomes if o.status == "completed" and o.value is not None
            and math.isfinite(o.value)]
    if not done:
        return None
    def value(o: TrialOutcome) -> float:
        assert o.value is not None  # done has finite values only
        return o.value

    pick = max if plan.goal == "max" else min
    return pick(sorted(done, key=lambda o: o.number), key=value)


def best_spec(plan: SweepPlan, trial: TrialOutcome) -> str:
    """The best trial as a runnable spec: the base spec with its values written in."""
    items = [(f"{path}={as_yaml(v)}", "best trial") for path, v in trial.params.items()]
    data = apply_overrides(plan.base, items).data
    head = (f"# The best trial ({trial.number}: {label(trial.params)}) of a kexp sweep: "
            f"{plan.sweep.metric} {trial.value:.6g} ({plan.goal}).\n")
    return head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def summary(plan: SweepPlan, outcomes: list[TrialOutcome]) -> dict[str, Any]:
    """The study in numbers: counts, the best trial, and the metric's spread."""
    top = best(plan, outcomes)
    values = [o.value for o in outcomes if o.status == "completed" and o.value is not None]
    return {
        "method": plan.sweep.method, "metric": plan.sweep.metric, "goal": plan.goal,
        "cv": plan.sweep.cv,  # K: every trial a K-fold CV, its value the fold mean
        "trials": len(plan.trials), "completed": sum(o.status == "completed" for o in outcomes),
        "failed": sorted(o.number for o in outcomes if o.status == "failed"),
        "pruned": sorted(o.number for o in outcomes if o.status == "pruned"),
        "best": None if top is None else {
            "trial": top.number, "params": top.params, "value": top.value,
            "folder": f"trials/{top.folder}", "metrics": top.metrics,
        },
        "values": {"min": min(values), "max": max(values)} if values else None,
    }


def progress_line(o: TrialOutcome, total: int, plan: SweepPlan, outcomes: list[TrialOutcome]) -> str:
    """``trial 3/8 completed in 4.1s: val_accuracy 0.91 (repeat=2) | best 0.93 (trial 2)``."""
    if o.status != "completed":
        return f"trial {o.number:>3}/{total} {o.status} after {o.duration_s:.1f}s ({label(o.params)}): {o.error}"
    top = best(plan, outcomes)
    tail = f" | best {top.value:.4g} (trial {top.number})" if top is not None else ""
    return (f"trial {o.number:>3}/{total} completed in {o.duration_s:.1f}s: {plan.sweep.metric} "
            f"{o.value:.4g} ({label(o.params)}){tail}")
