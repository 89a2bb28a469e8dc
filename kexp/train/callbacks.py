"""Keras callbacks kexp adds to every fit: a stop asked for by SIGINT/SIGTERM honoured
between batches (:func:`stop_on_signal`), the epoch count in ``status.json`` and the
progress view (:func:`epoch_status`), and the learning rate in ``history.csv``
(:func:`learning_rate_log`).

:meth:`kexp.rundir.write.RunFolder.guard` turns those signals into a request
(:func:`kexp.engine.signals.stop_on_signals`); the callback raises
:class:`~kexp.engine.signals.Interrupted` at the next batch end, in the main
thread and outside TensorFlow, and the guard records the run as interrupted.
"""

from __future__ import annotations

import functools
from typing import Any

from kexp import backend
from kexp.engine import progress
from kexp.engine.signals import raise_if_stopped
from kexp.rundir.write import RunFolder


@functools.cache
def stop_on_signal_class() -> type:
    """The callback class (built on first use: Keras is imported lazily)."""
    keras = backend.keras()
    Callback: Any = keras.callbacks.Callback  # Keras is untyped: its classes are Any

    class StopOnSignal(Callback):
        """Raise Interrupted at the first batch or epoch end after a stop was asked for."""

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            raise_if_stopped()

        def on_test_batch_end(self, batch: int, logs: Any = None) -> None:
            raise_if_stopped()

        def on_predict_batch_end(self, batch: int, logs: Any = None) -> None:
            raise_if_stopped()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            raise_if_stopped()

    return StopOnSignal


def stop_on_signal() -> Any:
    """A new :class:`StopOnSignal` callback for ``model.fit``."""
    return stop_on_signal_class()()


def epoch_status(rf: RunFolder) -> Any:
    """A callback keeping status.json's epoch count current (for ``kexp ls`` on running
    runs) and telling the progress view of a CV or sweep (:mod:`kexp.engine.progress`)."""
    keras = backend.keras()
    Callback: Any = keras.callbacks.Callback  # Keras is untyped: its classes are Any

    class EpochStatus(Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            rf.set_status(epochs=epoch + 1)
            progress.epoch(epoch + 1, (self.params or {}).get("epochs"))

    return EpochStatus()


def learning_rate_log() -> Any:
    """A callback putting the optimizer's current learning rate (its schedule's value, or
    what ReduceLROnPlateau set) into each epoch's logs: history.csv's ``learning_rate``."""
    keras = backend.keras()
    Callback: Any = keras.callbacks.Callback  # Keras is untyped: its classes are Any

    class LearningRateLog(Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if logs is not None:
                rate = self.model.optimizer.learning_rate
                logs["learning_rate"] = float(keras.ops.convert_to_numpy(rate))

    return LearningRateLog()
