"""``distribute: {strategy: data_parallel, devices: [...]}``: one model trained on several
devices: on TensorFlow through ``tf.distribute.MirroredStrategy``, which Keras 3 trains with
when the model is made and compiled in its scope (:func:`scope`); on JAX through Keras's
``keras.distribution.DataParallel``, set while the model is built and until its fit ends
(:func:`kexp.engine.multihost.localize` then makes the variables local again). Either way
a copy of the variables on each device, each batch (``fit.batch_size`` is the global
batch) split between them, the gradients combined.

CPU devices past the first (``/cpu:1``) are logical devices TensorFlow makes from the one
CPU, or host devices XLA makes (``--xla_force_host_platform_device_count``) on JAX
(:func:`configure_devices`), which must happen before the backend's first operation in
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
    if backend.name() == "jax":
        _jax_cpus(wanted)
        return
    backend.keras()
    tf = backend.tensorflow()

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


def _jax_cpus(wanted: int) -> None:
    """XLA's host platform split in ``wanted`` devices, before JAX starts its devices."""
    import os
    import sys

    if "jax" not in sys.modules:
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_force_host_platform_device_count" not in flags:
            os.environ["XLA_FLAGS"] = (f"{flags} --xla_force_host_platform_device_count={wanted}"
                                       .strip())
        return
    import jax

    if len(jax.devices("cpu")) < wanted:
        raise ConfigError(("distribute", "devices"),
                          f"{wanted} CPU devices must be made before JAX starts its devices, and "
                          f"this process has started JAX with {len(jax.devices('cpu'))}",
                          hint="Run it as its own kexp run")


def _jax_devices(dist: Any) -> list[Any]:
    """:func:`devices` on JAX: its devices by ``cpu:N`` / ``gpu:N`` names."""
    import jax

    present = {f"{platform}:{i}": d for platform in {d.platform for d in jax.devices()} | {"cpu"}
               for i, d in enumerate(jax.devices(platform))}
    return _chosen(dist, present, [d for d in jax.devices() if d.platform != "cpu"], "JAX")


def _chosen(dist: Any, present: dict[str, Any], gpus: list[Any], engine: str) -> list[Any]:
    """The devices ``dist`` names, from ``present`` (short name -> the ``engine``'s device;
    each checked to exist, none twice), else every one of ``gpus`` (two or more)."""
    if dist.devices is None:
        if len(gpus) < 2:
            raise ConfigError(("distribute",), f"data_parallel over every GPU needs two or more; "
                              f"{engine} sees {len(gpus)}",
                              hint="Name the devices: distribute.devices: [/cpu:0, /cpu:1], or "
                                   "remove distribute")
        return gpus
    out = []
    for i, name in enumerate(dist.devices):
        if _short(name) not in present:
            raise ConfigError(("distribute", "devices", i), f"no device {name!r} here (devices: "
                              f"{', '.join('/' + d for d in sorted(present))})",
                              hint=f"Name devices {engine} lists, e.g. /gpu:0, /cpu:0")
        out.append(present[_short(name)])
    if len(set(out)) < len(out):
        raise ConfigError(("distribute", "devices"), f"a device is named twice in {dist.devices}",
                          hint="Name each device once")
    return out


def used(model: Any) -> list[str] | None:
    """The devices ``model`` trains on, for the record (None: one device)."""
    strategy = getattr(model, "distribute_strategy", None)
    if backend.name() == "tensorflow":
        return None if strategy is None else list(strategy.extended.worker_devices)
    dist = backend.keras().distribution.distribution()
    return None if dist is None else [str(d) for d in dist.device_mesh.devices.flatten()]


def _short(name: str) -> str:
    """``/job:localhost/replica:0/task:0/device:CPU:1``, ``/device:CPU:1``, ``/cpu:1`` -> ``cpu:1``."""
    name = re.sub(r"^/job:[^/]+/replica:\d+/task:\d+", "", name.lower())
    return name.removeprefix("/").removeprefix("device:")


def devices(dist: Any) -> list[str]:
    """The devices to train on: as given (each checked to exist), else every GPU."""
    tf = backend.tensorflow()

    present = {_short(d.name): d.name for d in tf.config.list_logical_devices()}
    return _chosen(dist, present, [d.name for d in tf.config.list_logical_devices("GPU")],
                   "TensorFlow")


@contextlib.contextmanager
def scope(dist: Any) -> Iterator[Any]:
    """A MirroredStrategy's scope over :func:`devices` (None: no strategy, one device)."""
    if dist is None:
        yield None
        return
    keras = backend.keras()
    if backend.name() == "jax":  # kept after the scope: the fit distributes its batches
        keras.distribution.set_distribution(
            keras.distribution.DataParallel(devices=_jax_devices(dist)))
        yield None
        return
    tf = backend.tensorflow()

    strategy = tf.distribute.MirroredStrategy(devices=devices(dist))
    with strategy.scope():
        yield strategy
