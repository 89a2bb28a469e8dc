"""The Ray bootstrap of ``--executor ray``: Ray imported with a clear message when it is
missing, and a local instance (or a connection to a cluster) whose processes die with
this one."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kexp.engine import lifeline
from kexp.errors import RunError


def import_ray() -> Any:
    """The ``ray`` module; RunError (exit 2) with the install command when it is missing."""
    try:
        import ray
    except ImportError:
        install = "pip install 'kexp[ray]' (or pip install ray)"
        raise RunError(f"--executor ray needs Ray: {install}") from None
    return ray


def ray_init(ray: Any, address: str | None, num_cpus: int | None) -> Callable[[], None] | None:
    """Start a Ray instance of ``num_cpus`` CPUs (None: all), or connect to the cluster at
    ``address``, unless one is up; the function that shuts it down when this call started
    it, else None. A local instance's processes die with this one, also after a ``kill -9``
    (:func:`kexp.engine.lifeline.reaper`)."""
    if ray.is_initialized():
        return None
    root = str(Path(__file__).resolve().parents[2])
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
           "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"),
           "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow")}  # kexp selected it
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                              "runtime_env": {"env_vars": env}}
    if address:
        kwargs["address"] = address
    else:
        kwargs["num_cpus"] = num_cpus
    ray.init(**{k: v for k, v in kwargs.items() if v is not None})
    watchdog = None if address else lifeline.reaper()

    def stop() -> None:
        ray.shutdown()
        if watchdog is not None:
            watchdog.kill()
            watchdog.wait()

    return stop
