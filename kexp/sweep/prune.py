"""Pruning a sweep's trials (``sweep.prune``): a Keras callback reports each epoch's value of
the sweep's metric to the study (Optuna's, in the sweep folder's ``study.db``) and stops a
trial that the pruner judges worse than the median of earlier trials at that epoch.

It works as optuna-integration's ``KerasPruningCallback`` does (the value of a history
column reported at each epoch's end, epochs counted from 0, so ``warmup_epochs: 3`` never
prunes the first three), with one difference: a pruned trial is not aborted with an
exception but stops as ``EarlyStopping`` stops it, so its run folder is a complete record
(evaluated, predictions, model) whose ``status.json`` says ``pruned``, with a note.
The callback runs where the trial trains (this process or a worker) and reaches the study
through its SQLite file. Optuna is imported only when a trial starts.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kexp import backend
from kexp.errors import ConfigError
from kexp.rundir.write import RunFolder
from kexp.spec.sweep import PruneConfig

if TYPE_CHECKING:
    from kexp.sweep.trial import TrialOutcome

#: the study's name in ``study.db``
STUDY_NAME = "kexp-sweep"


def monitored(metric: str) -> str:
    """The history column pruning watches: the sweep's metric when it is a ``val_`` column,
    else ``val_<metric>`` (a test metric is known only after training)."""
    return metric if metric.startswith("val_") else f"val_{metric}"


def pruner(prune: PruneConfig | None) -> Any:
    """Optuna's pruner for ``sweep.prune`` (none: a pruner that never prunes)."""
    import optuna

    if prune is None:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=prune.startup_trials,
                                       n_warmup_steps=prune.warmup_epochs)


@dataclass(frozen=True)
class PruneTarget:
    """Where a trial reports its epochs (picklable: it travels to worker processes)."""

    storage: str  # sqlite:///<sweep folder>/study.db
    trial: int  # the Optuna trial's number
    monitor: str  # the history column reported each epoch
    prune: PruneConfig

    def callback(self) -> Any:
        """A new pruning callback for this trial's fit."""
        return pruning_class()(self)


def _optuna_trial(target: PruneTarget) -> Any:
    """The running Optuna trial ``target`` names, loaded from the study's storage."""
    import optuna

    storage = optuna.storages.RDBStorage(target.storage)
    study = optuna.load_study(study_name=STUDY_NAME, storage=storage, pruner=pruner(target.prune))
    study_id = storage.get_study_id_from_name(STUDY_NAME)
    return optuna.trial.Trial(study, storage.get_trial_id_from_study_id_trial_number(study_id, target.trial))


@functools.cache
def pruning_class() -> type:
    """The callback class (built on first use: Keras is imported lazily)."""
    keras = backend.keras()
    Callback: Any = keras.callbacks.Callback  # Keras is untyped: its classes are Any

    class Pruning(Callback):
        """Report ``target.monitor`` at each epoch's end; stop the fit when it is pruned."""

        def __init__(self, target: PruneTarget) -> None:
            super().__init__()
            self.target = target
            self.trial: Any = None
            self.stopped_at: int | None = None  # the epoch (from 1) the trial was pruned at
            self.note = ""

        def on_train_begin(self, logs: Any = None) -> None:
            self.trial = _optuna_trial(self.target)

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            logs = logs or {}
            name = self.target.monitor
            if name not in logs:
                raise ConfigError("sweep.prune", f"pruning reports {name} each epoch, but the "
                                  f"history has no such column (it has {', '.join(logs) or 'none'})",
                                  hint="give the fit validation data (fit.validation_split: 0.2), "
                                       "or remove sweep.prune")
            value = float(logs[name])
            self.trial.report(value, epoch)
            if self.stopped_at is None and self.trial.should_prune():
                self.model.stop_training = True
                self.stopped_at = epoch + 1
                self.note = (f"pruned at epoch {epoch + 1} (sweep.prune: median): {name} "
                             f"{value:.4g} is worse than the median of earlier trials at that epoch")

        def settle(self, out: TrialOutcome, rf: RunFolder) -> None:
            """Mark a pruned trial's outcome and run folder ``pruned`` (with its note)."""
            if self.stopped_at is None or out.status != "completed":
                return
            out.status, out.error = "pruned", self.note
            notes = [*(rf.status.get("notes") or []), self.note]
            rf.set_status("pruned", pruned=self.note, notes=notes)

    return Pruning
