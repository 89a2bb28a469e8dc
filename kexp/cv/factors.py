"""The L1 / L2 factors of members trained as one program (:mod:`kexp.cv.scan`) as
values of the program, not constants of its trace: trials that differ only in their
regularization train together, each with its own factors.

Keras's ``L1``, ``L2`` and ``L1L2`` regularizers compute ``l1 * sum(|w|) + l2 *
sum(w**2)`` with their factors as Python numbers, which a trace of the first member's
model would fix for all. While the program is traced, each regularized variable of that
model gets instead a function of the same formula whose factors are the member's own,
read from an array mapped over the members; afterwards the model's own regularizers are
put back. Any other regularizer must be the same for every member.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from kexp import backend

#: regularizers whose penalty is ``l1 * sum|w| + l2 * sum w**2`` (Keras's own)
FACTORED = ("L1", "L2", "L1L2")


def kind(regularizer: Any) -> Any:
    """What must be equal between members for a variable's regularizer: nothing, the
    class and which factors are non-zero (:data:`FACTORED`), else its whole config."""
    if regularizer is None:
        return None
    name = type(regularizer).__name__
    if name in FACTORED and type(regularizer).__module__.startswith("keras"):
        l1, l2 = _pair(regularizer)
        return name, l1 != 0.0, l2 != 0.0
    config = regularizer.get_config() if hasattr(regularizer, "get_config") else id(regularizer)
    return name, repr(config)


def _pair(regularizer: Any) -> tuple[float, float]:
    return float(getattr(regularizer, "l1", 0.0)), float(getattr(regularizer, "l2", 0.0))


def table(models: list[Any]) -> np.ndarray:
    """``(members, variables, 2)``: each member's (l1, l2) of each trainable variable
    (0 where a variable has no factored regularizer)."""
    out = np.zeros((len(models), len(models[0].trainable_variables), 2), "float32")
    for k, model in enumerate(models):
        for j, v in enumerate(model.trainable_variables):
            if kind(v.regularizer) is not None and kind(v.regularizer)[0] in FACTORED:
                out[k, j] = _pair(v.regularizer)
    return out


class Current:
    """The factors of the member being traced (set by the mapped step before it calls
    Keras's training step)."""

    value: Any = None


@contextmanager
def traced(model: Any, current: Current) -> Iterator[None]:
    """While the program is traced: ``model``'s factored regularizers read the member's
    factors from ``current``; its own regularizers are put back after."""
    saved = [(v, v.regularizer) for v in model.trainable_variables]
    try:
        for j, v in enumerate(model.trainable_variables):
            k = kind(v.regularizer)
            if k is not None and k[0] in FACTORED:
                v.regularizer = _penalty(j, k[1], k[2], current)
        yield
    finally:
        for v, regularizer in saved:
            v.regularizer = regularizer


def _penalty(j: int, has_l1: bool, has_l2: bool, current: Current) -> Any:
    """Keras's ``L1L2.__call__`` with the member's factors of variable ``j``."""
    ops = backend.keras().ops

    def penalty(x: Any) -> Any:
        total = ops.convert_to_tensor(0.0, dtype=x.dtype)
        if has_l1:
            total += ops.cast(current.value[j, 0], dtype=x.dtype) * ops.sum(ops.absolute(x))
        if has_l2:
            total += ops.cast(current.value[j, 1], dtype=x.dtype) * ops.sum(ops.square(x))
        return total

    return penalty
