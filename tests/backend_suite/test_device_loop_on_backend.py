"""The device loop of ``steps_per_execution`` (JAX): the main suite's tests, run here."""

from __future__ import annotations

from tests.test_device_loop import (  # noqa: F401
    test_one_step_per_call_keeps_keras_loop,
    test_the_device_loop_trains_the_numbers_of_keras_loop,
)
