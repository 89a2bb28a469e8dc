"""The Keras callback that logs each epoch's metrics to the run's MLflow run as it ends.

MLflow's own ``mlflow.keras.MlflowCallback`` logs through MLflow's global "active run"
(which a fold or trial in a worker process does not have) and swallows a failing store
silently; this one names its run by id through :class:`kexp.track.mlflow.Tracker`, whose
first failure is a warning in ``status.json`` and ends the tracking, never the training.
"""

from __future__ import annotations

import math
from typing import Any

from kexp import backend
from kexp.track.mlflow import Tracker


def epoch_metrics(tracker: Tracker) -> Any:
    """A callback logging every value of each epoch's logs (loss, metrics, their ``val_``
    columns, ``learning_rate``) at step = the epoch (0-based, as Keras counts)."""
    keras = backend.keras()
    Callback: Any = keras.callbacks.Callback  # Keras is untyped: its classes are Any

    class MlflowEpochs(Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            values = {}
            for key, value in (logs or {}).items():
                try:
                    number = float(value)
                except (TypeError, ValueError):
                    continue
                if math.isfinite(number):
                    values[key] = number
            tracker.log(metrics=values, step=epoch)

    return MlflowEpochs()
