"""On JAX, ``steps_per_execution`` runs as one ``lax.scan`` on the device
(kexp.train.device_loop): the numbers of Keras's own loop of one jitted step each."""

from __future__ import annotations

import numpy as np
import pytest

from kexp import backend
from kexp.train import device_loop

#: on each test (the backend suite imports the functions, not this module's marks)
on_jax = pytest.mark.skipif("backend.name() != 'jax'", reason="the device loop is JAX's")


def train(loop: bool, per_call: int) -> tuple[list[np.ndarray], dict[str, list[float]]]:
    keras = backend.keras()
    keras.utils.set_random_seed(4)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(5, activation="relu"),
                              keras.layers.Dropout(0.2, seed=1), keras.layers.Dense(1)])
    model.compile(loss="mse", optimizer=keras.optimizers.Adam(0.01), metrics=["mae"],
                  steps_per_execution=per_call)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(45, 3)).astype("float32"), rng.normal(size=(45, 1)).astype("float32")
    if loop:
        device_loop.install(model)
        assert getattr(model.train_function, "kexp_device_loop", None) == per_call
    # 45 rows in batches of 8: five of 8 and a last of 5, in calls of ``per_call`` steps
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                        validation_data=(x[:9], y[:9])).history
    return model.get_weights(), history


@on_jax
@pytest.mark.parametrize("per_call", [3, 6])
def test_the_device_loop_trains_the_numbers_of_keras_loop(per_call: int) -> None:
    weights, history = train(True, per_call)
    want_weights, want_history = train(False, per_call)
    assert history.keys() == want_history.keys()
    for key in history:
        np.testing.assert_allclose(history[key], want_history[key], rtol=1e-6, err_msg=key)
    for a, b in zip(weights, want_weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@on_jax
def test_one_step_per_call_keeps_keras_loop() -> None:
    keras = backend.keras()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(loss="mse", optimizer="adam")
    device_loop.install(model)
    assert model.train_function is None
