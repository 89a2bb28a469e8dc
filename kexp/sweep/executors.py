"""Where trials run: one after another in this process, in worker processes, or on Ray.

``jobs=N``: this process and ``N - 1`` spawned workers (:mod:`kexp.cv.workers`, started
before the spec is loaded) take trials as they become free; each worker imports TensorFlow
once, trains with ``cores // jobs`` TensorFlow threads, dies with the main process
(:func:`kexp.cv.lifeline.die_with_parent`) and is stopped when the sweep is interrupted.

With ``executor="ray"`` every trial is a Ray task, on a local Ray instance (started and
shut down here; ``jobs > 1`` bounds it to ``jobs`` trials at once) or the cluster at
``address``: the task trains the trial in a temporary folder on its worker and returns the
folder's files, which are written into the trial's folder of the sweep here.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from kexp import backend
from kexp.cv.executors import import_ray, ray_init
from kexp.cv.workers import Workers, start
from kexp.rundir.write import atomic_write
from kexp.sweep.trial import TrialOutcome, TrialTask, run_trial


def outcomes(tasks: list[TrialTask], jobs: int, threads: int | None = None,
             executor: str = "local", address: str | None = None,
             workers: Workers | None = None) -> Iterator[TrialOutcome]:
    """Each task's outcome as trials finish (``executor``: ``local`` or ``ray``; ``workers``:
    the worker processes started already, :func:`kexp.cv.workers.start`)."""
    if executor == "ray" and tasks:
        return _ray(tasks, jobs, threads, address)
    if jobs > 1 and len(tasks) > 1:
        return _processes(tasks, jobs, threads, workers)
    return (run_trial(task) for task in tasks)


def _processes(tasks: list[TrialTask], jobs: int, threads: int | None,
               workers: Workers | None) -> Iterator[TrialOutcome]:
    own = workers is None
    pool = start(jobs, threads, backend.is_verbose()) if workers is None else workers
    try:
        yield from pool.run(run_trial, tasks, key=lambda t: t.number, unit="trials",
                            local=run_trial)
    finally:
        if own:
            pool.close()


# ------------------------------------------------------------------------------ Ray


def ray_trial(task: TrialTask, threads: int) -> tuple[TrialOutcome, dict[str, bytes]]:
    """A Ray task: train the trial in a temporary folder; its outcome and its files."""
    backend.set_threads(threads)
    with tempfile.TemporaryDirectory(prefix="kexp-trial-") as tmp:
        folder = Path(tmp) / Path(task.path).name
        out = run_trial(replace(task, path=str(folder)))
        files = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    return out, files


def _write_trial(path: Path, files: dict[str, bytes]) -> None:
    """A Ray trial's files, written into its folder of the sweep (an earlier attempt's removed)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    for name, content in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, content)


def _ray(tasks: list[TrialTask], jobs: int, threads: int | None,
         address: str | None) -> Iterator[TrialOutcome]:
    ray = import_ray()
    per_trial = threads or (max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else 1)
    stop = ray_init(ray, address, jobs * per_trial if jobs > 1 else None)
    remote = ray.remote(num_cpus=per_trial)(ray_trial)
    refs = {remote.remote(t, per_trial): t for t in tasks}
    try:
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            task = refs.pop(done[0])
            try:
                out, files = ray.get(done[0])
            except ray.exceptions.RayError as exc:
                yield TrialOutcome(task.number, task.params, "failed", folder=Path(task.path).name,
                                   error=f"Ray: {str(exc).splitlines()[0]}")
                continue
            _write_trial(Path(task.path), files)
            yield out
    finally:
        for ref in refs:
            ray.cancel(ref, force=True)
        if stop is not None:
            stop()
