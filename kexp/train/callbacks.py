"""Keras callbacks kexp adds to every fit: a stop asked for by SIGINT/SIGTERM honoured
between batches.

:meth:`kexp.rundir.write.RunFolder.guard` turns those signals into a request
(:func:`kexp.rundir.write.stop_on_signals`); the callback raises
:class:`~kexp.rundir.write.Interrupted` at the next batch end, in the main
thread and outside TensorFlow, and the guard records the run as interrupted.
"""

from __future__ import annotations

import functools
from typing import Any

from kexp import backend
from kexp.rundir.write import raise_if_stopped


@functools.cache
def stop_on_signal_class() -> type:
    """The callback class (built on first use: Keras is imported lazily)."""
    keras = backend.keras()

    class StopOnSignal(keras.callbacks.Callback):
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
