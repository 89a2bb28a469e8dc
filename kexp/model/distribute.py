"""``distribute: {strategy: data_parallel, devices: [...]}``: one model trained on several
devices through TensorFlow's ``tf.distribute.MirroredStrategy``, which Keras 3 trains with
when the model is made and compiled in its scope (:func:`scope`): a copy of the variables
on each device, each batch (``fit.batch_size`` is the global batch) split between them,
the gradients summed.

CPU devices past the first (``/cpu:1``) are logical devices TensorFlow makes from the one
CPU (:func:`configure_devices`), which must happen before TensorFlow's first operation in
the process; they give a second device to test with, not more speed.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

from kexp import backend
from kexp.errors import ConfigError


def configure_devices(dist: Any) -> None:
    """Split the CPU into as many logical devices as ``dist.devices`` names (``/cpu:1``:
    two); a ConfigError when TensorFlow is already running in this process."""
    if dist is None or not dist.devices:
        return
    wanted = 1 + max((int(m.group(1)) for d in dist.devices
                      if (m := re.fullmatch(r"cpu:(\d+)", _short(d)))), default=0)
    if wanted < 2:
        return
    backend.keras()
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    current = tf.config.get_logical_device_configuration(cpus[0]) or []
    if len(current) >= wanted:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(wanted)])
    except RuntimeError:
        raise ConfigError(("distribute", "devices"),
                          f"{wanted} CPU devices must be made before TensorFlow's first operation, "
                          "and this process has started TensorFlow already",
                          hint="Run it as its own kexp run") from None


def _short(name: str) -> str:
    """``/job:localhost/replica:0/task:0/device:CPU:1``, ``/device:CPU:1``, ``/cpu:1`` -> ``cpu:1``."""
    name = re.sub(r"^/job:[^/]+/replica:\d+/task:\d+", "", name.lower())
    return name.removeprefix("/").removeprefix("device:")


def devices(dist: Any) -> list[str]:
    """The devices to train on: as given (each checked to exist), else every GPU."""
    import tensorflow as tf

    present = {_short(d.name): d.name for d in tf.config.list_logical_devices()}
    if dist.devices is None:
        found = [d.name for d in tf.config.list_logical_devices("GPU")]
        if len(found) < 2:
            raise ConfigError(("distribute",), f"data_parallel over every GPU needs two or more; "
                              f"TensorFlow sees {len(found)}",
                              hint="Name the devices: distribute.devices: [/cpu:0, /cpu:1], or "
                                   "remove distribute")
        return found
    out = []
    for i, name in enumerate(dist.devices):
        if _short(name) not in present:
            raise ConfigError(("distribute", "devices", i), f"no device {name!r} here (devices: "
                              f"{', '.join('/' + d for d in sorted(present))})",
                              hint="Name devices TensorFlow lists, e.g. /gpu:0, /cpu:0")
        out.append(present[_short(name)])
    if len(set(out)) < len(out):
        raise ConfigError(("distribute", "devices"), f"a device is named twice in {dist.devices}",
                          hint="Name each device once")
    return out


@contextlib.contextmanager
def scope(dist: Any) -> Iterator[Any]:
    """A MirroredStrategy's scope over :func:`devices` (None: no strategy, one device)."""
    if dist is None:
        yield None
        return
    backend.keras()
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(devices=devices(dist))
    with strategy.scope():
        yield strategy
