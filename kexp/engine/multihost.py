"""One training on several processes or machines: ``kexp run SPEC --workers
host:port,host:port --worker I`` on each, through JAX's multi-process runtime
(``jax.distributed``) and Keras's ``DataParallel`` over every process's devices.

Worker 0, the chief, is the coordinator (the first address; the others name the workers,
and their count is the number of processes) and the only one that writes the run folder;
the others train the same steps and write theirs into a temporary folder, removed at the
end. Every worker loads the same data with the same seed and forms the same global
batches (:mod:`kexp.train.feed`); each trains on its own contiguous part of each batch
(:func:`shard`), so the global batch is ``fit.batch_size`` as on one process, and the
gradients are averaged by JAX's collectives. After the fit the model's variables (replicated
on every worker) are made local again (:func:`localize`): evaluation, predictions and the
saved model need no collectives.

A worker that dies makes the others' next collective fail (about 3 s) and the run fails
with :class:`WorkerLost`; the process then leaves at once, since JAX's shutdown barrier
would wait for the dead worker (:func:`leave`). A worker that stops answering is
declared dead after :data:`HEARTBEAT_S`, and JAX ends the others.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

from kexp.errors import KexpError, UsageError

#: seconds without a heartbeat before JAX declares a worker dead and ends the others
HEARTBEAT_S = 10
#: seconds JAX's shutdown barrier waits for the other workers at the end
SHUTDOWN_S = 30
#: seconds the workers wait for each other to start
START_S = 300


class WorkerLost(KexpError):
    """Another worker of the training died or stopped answering."""

    exit_code = 1


@dataclass(frozen=True)
class Cluster:
    """The workers of one training, and which one this process is."""

    index: int
    addresses: tuple[str, ...]

    @property
    def chief(self) -> bool:
        return self.index == 0

    @property
    def size(self) -> int:
        return len(self.addresses)


_active: Cluster | None = None


def parse(workers: str, worker: int | None) -> Cluster:
    """``--workers host:port,host:port`` and ``--worker I``; UsageError when they are not
    given together, an address has no port, or ``I`` is not one of the workers."""
    addresses = tuple(a.strip() for a in workers.split(",") if a.strip())
    if worker is None:
        raise UsageError("--workers needs --worker I: which of the workers this process is "
                         "(0, the chief, writes the run folder)")
    for address in addresses:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise UsageError(f"--workers {workers}: expected host:port addresses separated by "
                             f"commas, received {address!r}")
    if len(addresses) < 2:
        raise UsageError(f"--workers {workers}: name at least two workers (the first is the "
                         "chief and the coordinator)")
    if not 0 <= worker < len(addresses):
        raise UsageError(f"--worker {worker}: expected 0 to {len(addresses) - 1}, one of the "
                         f"{len(addresses)} workers of --workers")
    return Cluster(worker, addresses)


def active() -> Cluster | None:
    """The cluster this process trains in, once :func:`start` joined it."""
    return _active


def start(cluster: Cluster) -> None:
    """Join the training's workers (JAX's multi-process runtime; before Keras's first
    computation). Returns once every worker has joined, or fails after :data:`START_S`."""
    global _active
    if _active is not None:
        return
    import jax

    jax.distributed.initialize(
        coordinator_address=cluster.addresses[0], num_processes=cluster.size,
        process_id=cluster.index, initialization_timeout=START_S,
        heartbeat_timeout_seconds=HEARTBEAT_S, shutdown_timeout_seconds=SHUTDOWN_S)
    _active = cluster


def distribute(keras: Any) -> None:
    """Keras's data parallelism over every worker's devices, each worker feeding its own
    part of each batch (:func:`shard`)."""
    import jax

    dist = keras.distribution.DataParallel(devices=jax.devices())
    dist.auto_shard_dataset = False
    keras.distribution.set_distribution(dist)


def _devices() -> int:
    """The devices a Keras distribution (JAX's) splits each batch between; 1 without one."""
    from kexp import backend

    if "keras" not in sys.modules or backend.name() != "jax":
        return 1
    dist = backend.keras().distribution.distribution()
    return 1 if dist is None else int(dist.device_mesh.devices.size)


def split_sizes(sizes: dict[str, int], batch_size: int) -> str | None:
    """Why the batches of parts of ``sizes`` rows cannot be split evenly between the
    devices of JAX's data parallelism (the workers', or one process's ``distribute``):
    every batch of ``batch_size``, and each part's last, smaller one; None when they can."""
    n = _devices()
    if n == 1:
        return None
    if batch_size % n:
        return f"fit.batch_size {batch_size} does not split between {n} devices"
    for part, rows in sizes.items():
        if rows % batch_size % n:
            return (f"the {part} part's last batch ({rows % batch_size} of its {rows} rows) "
                    f"does not split between {n} devices")
    return None


def shard(ds: Any) -> Any:
    """``ds`` (batches) with each batch cut to this worker's contiguous part, while the
    model is distributed between the workers; ``ds`` as it is otherwise."""
    if _active is None or _devices() == 1:
        return ds
    n, i = _active.size, _active.index
    if hasattr(ds, "for_worker"):  # NumPy batches (kexp.train.feed.array_batches)
        return ds.for_worker(n, i)
    from kexp import backend

    tf = backend.tensorflow()

    def part(a: Any) -> Any:
        size = tf.shape(a)[0] // n
        return a[i * size:(i + 1) * size]

    return ds.map(lambda *batch: tf.nest.map_structure(part, batch if len(batch) > 1 else batch[0]))


def localize(model: Any) -> None:
    """After the fit under a Keras distribution (JAX's: several workers, or one process's
    ``distribute``): the model's and optimizer's variables, replicated on every device, as
    ordinary local values, and no distribution, so that evaluation, predictions and saving
    run on each worker alone, and the process's next model on one device."""
    if _devices() == 1:
        return
    import numpy as np

    from kexp import backend

    keras = backend.keras()
    keras.distribution.set_distribution(None)
    for variable in [*model.variables, *model.optimizer.variables]:
        value = np.asarray(variable.value)
        variable._layout = None  # Keras's JAX variable: assign() would distribute it again
        variable.assign(value)


def lost(exc: BaseException) -> WorkerLost | None:
    """The failure of a collective whose peer is gone, as a WorkerLost (None: another
    failure)."""
    text = str(exc)
    if _active is None or not any(s in text for s in ("Gloo", "heartbeat", "unhealthy",
                                                      "Connection closed", "DEADLINE_EXCEEDED")):
        return None
    first = text.strip().splitlines()[0][:300] if text.strip() else type(exc).__name__
    return WorkerLost(f"another worker of the training stopped (worker {_active.index} of "
                      f"{_active.size} here): {first}")


def scratch_runs_dir() -> str:
    """Where a worker that is not the chief writes its run folder (removed at the end)."""
    return tempfile.mkdtemp(prefix="kexp-worker-")


def leave(code: int) -> None:
    """End a worker's process: after a success, at JAX's shutdown barrier with the others;
    after a failure, at once (the barrier would wait for a dead worker)."""
    if _active is None:
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    if code == 0:
        import jax

        jax.distributed.shutdown()
        return
    os._exit(code)
