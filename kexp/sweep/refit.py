"""The refit of a cross-validated sweep (``kexp sweep --cv K``), as scikit-learn's
``GridSearchCV(refit=True)`` does: once every trial is done, the best trial's parameters
are trained once on the whole training part (the data the trials' folds covered) and
evaluated on the held-out test set (the spec's ``data.test`` part, or the source's own
test part), as the run folder ``refit/`` of the sweep folder. This is a plain ``kexp run``
of the best trial's spec (the sweep's base spec with its values written in, as
``best.yaml``), so its ``metrics.json`` says what it was
evaluated on and its ``status.json`` notes say what it is.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from kexp import experiment
from kexp.data import named
from kexp.engine.output import Log, silent
from kexp.errors import KexpError
from kexp.rundir.write import RunFolder
from kexp.spec import apply_overrides
from kexp.sweep import record
from kexp.sweep.plan import SweepPlan, as_yaml, label
from kexp.sweep.trial import TrialOutcome

#: the refit's run folder, in the sweep folder
FOLDER = "refit"




def refit(root: Path, plan: SweepPlan, results: list[TrialOutcome], plots: bool = True,
          save_model: bool = True, log: Log = silent) -> dict[str, Any] | None:
    """Train the best trial's spec into ``root/refit`` (replaced if there); the entry
    ``summary.json`` gets as ``refit`` (None when no trial completed). A failed refit is
    recorded (``status: failed`` with its error), not raised; Ctrl-C and SIGTERM propagate."""
    top = record.best(plan, results)
    if top is None:
        return None
    path = root / FOLDER
    if path.exists():
        shutil.rmtree(path)
    path.mkdir()
    rf = RunFolder(path)
    entry: dict[str, Any] = {"folder": FOLDER, "trial": top.number, "params": top.params,
                             "cv_value": top.value, "status": "failed", "metrics": {}}
    log(f"Refit: trial {top.number}'s parameters ({label(top.params)}) on the whole training part")
    options = experiment.Options(verbose=0, plots=plots, save_model=save_model, runs_dir=root,
                                 reuse_data=True)
    try:
        spec = apply_overrides(plan.base, [(f"{path}={as_yaml(value)}", f"trial {top.number}")
                                           for path, value in top.params.items()])
        prepared = experiment.prepare(spec, options)
        split = prepared.split
        entry.update(train_samples=_samples(split, "train"), evaluated_on=split.test_name,
                     test_samples=_samples(split, "test"))
        prepared.notes.append(
            f"refit of sweep trial {top.number} ({label(top.params)}, cross-validated "
            f"{plan.sweep.metric} {top.value:.4g}): trained on the whole training part "
            f"({entry['train_samples']} samples), evaluated on the {split.test_name} part "
            f"({entry['test_samples']} samples)")
        result = experiment.train_in_folder(prepared, rf, options)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded in summary.json; the trials stand
        entry["error"] = str(exc) if isinstance(exc, KexpError) else f"{type(exc).__name__}: {exc}"
        if rf.status.get("status") in (None, "running"):
            rf.set_status("failed", error=entry["error"])
        log(f"Warning: the refit failed: {entry['error']}")
        return entry
    entry.update(status="completed", metrics=result.metrics)
    return entry


def describe(entry: dict[str, Any]) -> str:
    """``Refit of trial 3 (batch_size=10) on the whole training part (614 samples), evaluated
    on the test part (154 samples): accuracy 0.71, loss 0.55``."""
    if entry.get("status") != "completed":
        return f"Refit of trial {entry['trial']} failed: {entry.get('error')}"
    values = ", ".join(f"{k} {v:.4g}" for k, v in entry["metrics"].items())
    return (f"Refit of trial {entry['trial']} ({label(entry['params'])}) on the whole training "
            f"part ({entry['train_samples']} samples), evaluated on the {entry['evaluated_on']} "
            f"part ({entry['test_samples']} samples): {values}")


def _samples(split: Any, part: str) -> int:
    """The samples of a part of the refit's split (a streamed CSV's part: its rows)."""
    batches = getattr(split.stream, part, None) if split.stream is not None else None
    rows = getattr(batches, "rows", None)
    return int(rows) if rows is not None else named.n_rows(getattr(split, f"x_{part}"))
