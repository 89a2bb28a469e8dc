"""``precision``: Keras's dtype policies (``float32``, ``mixed_float16``,
``mixed_bfloat16``) for the layers of one model.

The policy is Keras's global one only while the model is built and compiled
(:func:`policy`), so that the next model of the same process (a fold, a trial, a test)
starts from float32 again; each layer keeps the policy it was made with, and a saved
``model.keras`` keeps them. The model's outputs are computed in float32, as Keras's
mixed-precision guide says (:func:`kexp.model.build.build`); with ``mixed_float16`` Keras's
``compile`` wraps the optimizer in a ``LossScaleOptimizer``. A policy the backend or device
cannot compute in is refused before training, naming ``precision``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from kexp import backend
from kexp.errors import ConfigError, exception_line


def check(name: str) -> None:
    """ConfigError at ``precision`` when a small matrix product in the policy's compute
    dtype fails on this backend and device."""
    if name == "float32":
        return
    keras = backend.keras()
    compute = keras.dtype_policies.get(name).compute_dtype
    try:
        ops = keras.ops
        value = ops.matmul(ops.ones((2, 2), dtype=compute), ops.ones((2, 2), dtype=compute))
        ops.convert_to_numpy(value)
    except Exception as exc:
        raise ConfigError(
            ("precision",),
            f"precision: {name} computes in {compute}, which this backend and device cannot do "
            f"({exception_line(exc)})",
            hint="Use precision: float32 (or the other mixed policy)") from None


@contextlib.contextmanager
def policy(name: str) -> Iterator[None]:
    """Keras's global dtype policy set to ``name`` for the block, then put back."""
    if name == "float32":
        yield
        return
    check(name)
    config = backend.keras().config
    before = config.dtype_policy()
    config.set_dtype_policy(name)
    try:
        yield
    finally:
        config.set_dtype_policy(before)
