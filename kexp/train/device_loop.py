"""``steps_per_execution`` on JAX as one loop on the device.

Keras 3.15's JAX trainer runs the ``steps_per_execution`` steps of one call as a Python
loop of one jitted step each (``keras/src/backend/jax/trainer.py``, ``_make_function``):
the host dispatches every step, which dominates small models. :func:`install` gives a
model a train function that takes the call's batches from the iterator, stacks those
of one shape and runs them through Keras's own ``train_step`` in one jitted
``jax.lax.scan`` (a batch of another shape, the epoch's smaller last one, runs as one
step). The function is Keras's contract for ``model.train_function`` on JAX: ``(state,
iterator) -> (logs, state)``, the logs those of the call's last step; fit, callbacks,
validation and checkpoints go on as they do.

Not installed (Keras's own loop trains) with one step per call, ``jit_compile`` off, or
a Keras distribution (the devices of ``distribute`` or of several workers).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kexp import backend


def wanted(model: Any) -> bool:
    """Whether ``model``'s fit should run its calls on the device (see the module)."""
    if backend.name() != "jax" or int(getattr(model, "steps_per_execution", 1)) <= 1:
        return False
    keras = backend.keras()
    return bool(model.jit_compile) and not model.run_eagerly and \
        keras.distribution.distribution() is None


def install(model: Any) -> None:
    """Set ``model.train_function`` to the device loop when :func:`wanted` (kept while
    ``steps_per_execution`` stays: :func:`kexp.train.fit.set_per_execution` clears it)."""
    if not wanted(model):
        return
    if getattr(model.train_function, "kexp_device_loop", None) == model.steps_per_execution:
        return
    model.train_function = _function(model, int(model.steps_per_execution))


def _function(model: Any, per_call: int) -> Any:
    import jax

    def scanned(state: Any, batches: Any) -> Any:
        def body(state: Any, data: Any) -> Any:
            logs, state = model.train_step(state, data)
            return state, logs

        state, logs = jax.lax.scan(body, state, batches)
        return jax.tree.map(lambda v: v[-1], logs), state

    one = jax.jit(model.train_step, donate_argnums=0)
    many = jax.jit(scanned, donate_argnums=0)

    def train_function(state: Any, iterator: Any) -> Any:
        batches = [next(iterator)]  # an exhausted iterator ends the epoch, as in Keras
        try:
            while len(batches) < per_call:
                batches.append(next(iterator))
        except StopIteration:
            pass
        logs = None
        for run in _runs(batches):
            if len(run) == 1:
                logs, state = one(state, run[0])
            else:
                logs, state = many(state, jax.tree.map(lambda *a: np.stack(a), *run))
        return logs, state

    train_function.kexp_device_loop = per_call  # type: ignore[attr-defined]
    return train_function


def _runs(batches: list[Any]) -> list[list[Any]]:
    """Consecutive batches of one structure and shape, in order."""
    import jax

    def signature(batch: Any) -> Any:
        leaves, tree = jax.tree.flatten(batch)
        return tree, tuple((np.shape(v), str(getattr(v, "dtype", type(v)))) for v in leaves)

    runs: list[list[Any]] = []
    last = None
    for batch in batches:
        sig = signature(batch)
        if runs and sig == last:
            runs[-1].append(batch)
        else:
            runs.append([batch])
            last = sig
    return runs
