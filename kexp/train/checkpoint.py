"""A run's checkpoints (``checkpoints/epoch-000140.npz``): what the next epoch depends on,
so that ``kexp run --resume`` continues exactly where the run stopped.

A checkpoint is taken at the end of an epoch (:class:`Saving` says which ones: the spec's
``fit.checkpoint``) and holds

- the model's variables (weights, and the seed-generator states that Dropout draws from;
  on PyTorch, whose Dropout without a seed draws from torch's own generator, that
  generator's state too) and the optimizer's (its step count, which a learning-rate
  schedule reads, the learning rate that ReduceLROnPlateau lowers, the moments), by
  position with their shapes;
- the state of every callback of the spec: the attributes that are numbers, text or lists
  of arrays (EarlyStopping's ``wait``, ``best`` and ``best_weights``, ReduceLROnPlateau's
  ``wait``, ``cooldown_counter`` and ``best``, ModelCheckpoint's ``best``), set again after
  the callbacks' ``on_train_begin`` (which resets them) by :func:`restorer`;
- whether a callback stopped the training, ``history.csv`` as it was, and the batches
  trained: the position in the one stream of batches the fit reads
  (:func:`kexp.train.feed.batches` skips to it).

It is written to a temporary file and moved into place (never half a checkpoint), and the
newest ``keep`` are kept, so a damaged newest one falls back to the one before it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kexp import backend
from kexp.errors import RunError
from kexp.rundir.write import now_iso, replacing
from kexp.spec import CheckpointConfig

FOLDER = "checkpoints"
VERSION = 1
_PATTERN = "epoch-*.npz"
#: a callback's attributes that are not its state
_NOT_STATE = frozenset({"model", "_model", "params", "validation_data", "monitor_op"})


@dataclass
class Checkpoint:
    """One checkpoint read back: ``epoch`` epochs done, its ``meta`` and arrays."""

    path: Path
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]

    @property
    def epoch(self) -> int:
        return int(self.meta["epoch"])

    @property
    def stopped(self) -> bool:
        """A callback (EarlyStopping) ended the training at this epoch."""
        return bool(self.meta["stopped"])

    @property
    def history(self) -> str:
        return str(self.meta["history"])


def folder_of(run_dir: Path) -> Path:
    return Path(run_dir) / FOLDER


def callback_state(cb: Any) -> tuple[dict[str, Any], dict[str, list[np.ndarray]]]:
    """A callback's state: its attributes that are numbers, text or None, and those that
    are lists of arrays (``best_weights``)."""
    simple: dict[str, Any] = {}
    arrays: dict[str, list[np.ndarray]] = {}
    for key, value in vars(cb).items():
        if key in _NOT_STATE:
            continue
        if value is None or isinstance(value, (bool, int, float, str)):
            simple[key] = value
        elif isinstance(value, np.generic) and np.ndim(value) == 0:
            simple[key] = value.item()
        elif isinstance(value, (list, tuple)) and value and all(
                isinstance(a, np.ndarray) for a in value):
            arrays[key] = list(value)
    return simple, arrays


def _numpy(variables: Any) -> list[np.ndarray]:
    return [np.asarray(backend.keras().ops.convert_to_numpy(v)) for v in variables]


def save(folder: Path, model: Any, callbacks: list[Any], epoch: int, steps: int,
         history: str, record: dict[str, Any], keep: int) -> Path:
    """Write the checkpoint of ``epoch`` epochs done (``steps`` batches each) into
    ``folder``; the newest ``keep`` stay. ``record`` (what the run started from: the
    sha256 of its config and spec) goes into its meta."""
    arrays: dict[str, np.ndarray] = {}
    for part, variables in (("model", model.variables), ("optimizer", model.optimizer.variables)):
        for i, value in enumerate(_numpy(variables)):
            arrays[f"{part}.{i}"] = value
    for key, value in backend.rng_state().items():
        arrays[f"rng.{key}"] = value
    states = []
    for j, cb in enumerate(callbacks):
        simple, lists = callback_state(cb)
        for name, values in lists.items():
            for k, value in enumerate(values):
                arrays[f"callback.{j}.{name}.{k}"] = value
        states.append({"class": type(cb).__name__, "state": simple,
                       "arrays": {name: len(values) for name, values in lists.items()}})
    meta = {"version": VERSION, "epoch": epoch, "steps": steps, "batches": epoch * steps,
            "stopped": bool(getattr(model, "stop_training", False)), "saved": now_iso(),
            "model_variables": len(model.variables),
            "optimizer_variables": len(model.optimizer.variables),
            "callbacks": states, "history": history, "record": record}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"epoch-{epoch:06d}.npz"
    with replacing(path, keep_suffix=True) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]
            fh.flush()
            os.fsync(fh.fileno())
    for old in sorted(folder.glob(_PATTERN))[:-keep]:
        with contextlib.suppress(OSError):
            old.unlink()
    return path


def load(path: Path) -> Checkpoint:
    """A checkpoint file; ValueError/OSError when it is damaged."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(arrays.pop("meta").tobytes().decode())
    if not isinstance(meta, dict) or meta.get("version") != VERSION:
        raise ValueError("not a checkpoint this kexp writes")
    for key in ("epoch", "steps", "stopped", "history", "callbacks", "record"):
        if key not in meta:
            raise ValueError(f"no {key!r} in its record")
    return Checkpoint(path, meta, arrays)


def latest(folder: Path) -> tuple[Checkpoint | None, list[str]]:
    """The newest checkpoint in ``folder`` that can be read, and a note for each newer
    one that could not (damaged: it is passed over)."""
    problems: list[str] = []
    for path in sorted(folder.glob(_PATTERN), reverse=True):
        try:
            return load(path), problems
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            problems.append(f"{path.name} is damaged ({type(exc).__name__}: {exc}); "
                            "resuming from the checkpoint before it")
    return None, problems


def remove(run_dir: Path) -> None:
    """A finished run's checkpoints (its model.keras is the model now)."""
    folder = folder_of(run_dir)
    for path in folder.glob("*"):
        with contextlib.suppress(OSError):
            path.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()


def restore(model: Any, ckpt: Checkpoint) -> None:
    """Set the model's and the optimizer's variables to the checkpoint's (the optimizer is
    built first); RunError when the model is not the one the checkpoint was taken of."""
    optimizer = model.optimizer
    strategy = getattr(model, "distribute_strategy", None)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
    for part, variables in (("model", model.variables), ("optimizer", optimizer.variables)):
        count = int(ckpt.meta[f"{part}_variables"])
        if count != len(variables):
            raise RunError(f"{ckpt.path}: holds {count} {part} variables, the model built "
                           f"again has {len(variables)}; it is not this run's model")
        for i, variable in enumerate(variables):
            value = ckpt.arrays[f"{part}.{i}"]
            if tuple(value.shape) != tuple(variable.shape):
                raise RunError(f"{ckpt.path}: {part} variable {i} ({variable.path}) has shape "
                               f"{tuple(value.shape)} there, {tuple(variable.shape)} in the "
                               "model built again; it is not this run's model")
            variable.assign(value)


def restorer(ckpt: Checkpoint, callbacks: list[Any]) -> Any:
    """A callback, last in the fit's list, that gives each callback of the spec its saved
    state once every callback's ``on_train_begin`` has reset it (and the backend's global
    random state, where the checkpoint holds one, as the first batch begins)."""
    Callback: Any = backend.keras().callbacks.Callback
    states = ckpt.meta["callbacks"]
    if len(states) != len(callbacks) or any(
            s["class"] != type(cb).__name__ for s, cb in zip(states, callbacks, strict=False)):
        saved = [s["class"] for s in states]
        raise RunError(f"{ckpt.path}: saved the state of the callbacks {saved}, the spec "
                       f"has {[type(cb).__name__ for cb in callbacks]}")

    class RestoreState(Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            for j, (saved, cb) in enumerate(zip(states, callbacks, strict=True)):
                for key, value in saved["state"].items():
                    setattr(cb, key, value)
                for key, count in saved["arrays"].items():
                    setattr(cb, key, [ckpt.arrays[f"callback.{j}.{key}.{k}"] for k in range(count)])

    rng = {k.removeprefix("rng."): v for k, v in ckpt.arrays.items() if k.startswith("rng.")}
    if not rng:
        return RestoreState()

    class RestoreStateAndRng(RestoreState):
        """PyTorch's generator is set as the first batch begins: once the fit's data loader
        has drawn its seed from it, as the fit that saved the checkpoint had."""

        pending = True

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            if self.pending:
                backend.set_rng_state(rng)
                self.pending = False

    return RestoreStateAndRng()


@dataclass
class Saving:
    """Which epochs end with a checkpoint: every ``every_epochs``-th, the first after
    ``every_minutes`` since the last, the last epoch and one a callback stopped at."""

    settings: CheckpointConfig
    last_epoch: int = 0
    last_time: float = 0.0

    def due(self, done: int, final: bool) -> bool:
        every, minutes = self.settings.every_epochs, self.settings.every_minutes
        if every is None and minutes is None:
            every = 1
        return (final or (every is not None and done - self.last_epoch >= every)
                or (minutes is not None and time.monotonic() - self.last_time >= minutes * 60))


def saver(folder: Path, settings: CheckpointConfig, callbacks: list[Any], history_file: Path,
          record: dict[str, Any], start_epoch: int = 0) -> Any:
    """A callback writing a checkpoint at the epoch ends :class:`Saving` picks; it goes
    after CSVLogger (whose file it keeps) and the spec's callbacks (whose state it keeps)."""
    Callback: Any = backend.keras().callbacks.Callback
    saving = Saving(settings, start_epoch, time.monotonic())

    class SaveCheckpoint(Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            done = epoch + 1
            final = done >= int((self.params or {}).get("epochs") or 0) or bool(
                self.model.stop_training)
            if not saving.due(done, final):
                return
            history = history_file.read_bytes().decode() if history_file.exists() else ""
            steps = int((self.params or {}).get("steps") or 0)  # 0: a pass of a data set
            save(folder, self.model, callbacks, done, steps, history, record, settings.keep)
            saving.last_epoch, saving.last_time = done, time.monotonic()

    return SaveCheckpoint()
