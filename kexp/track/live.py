"""Tracking while kexp trains: what ``train_in_folder`` (one run), ``kexp cv`` (a parent
run with a child per fold) and ``kexp sweep`` (a parent with a child per trial) call.

:func:`begin` starts the folder's MLflow run once its inputs are written (or returns a
:class:`LiveRun` that does nothing when tracking is off); used as a context manager it ends
the MLflow run however the block ends. Folds and trials get their parent's run id in their
config (``tracking.mlflow.parent_run_id``), so worker processes need no MLflow state.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from kexp.rundir.write import RunFolder
from kexp.spec import Config, Spec, apply_overrides
from kexp.track import folder
from kexp.track.mlflow import Tracker, check_store, require, run_key


def settings(cfg: Config) -> Any:
    """The spec's ``tracking.mlflow`` section when tracking is on, else None."""
    section = cfg.tracking.mlflow
    return section if section is not None and section.enabled else None


def check(cfg: Config) -> None:
    """Exit 2 when tracking is on and MLflow is missing (with the install command) or
    its store is one MLflow refuses (:func:`kexp.track.mlflow.check_store`)."""
    if (section := settings(cfg)) is not None:
        require()
        check_store(section.uri)


def warner(rf: RunFolder, notes: list[str], log: Callable[[str], None]) -> Callable[[str], None]:
    """A tracking failure: a note in status.json (at once) and a warning on the console."""
    def warn(message: str) -> None:
        notes.append(message)
        rf.set_status(notes=notes)
        log(f"Warning: {message}")

    return warn


class LiveRun:
    """The MLflow run of one folder (a no-op when tracking is off or has failed)."""

    def __init__(self, tracker: Tracker | None, rf: RunFolder) -> None:
        self.tracker, self.rf = tracker, rf
        self.ended = False

    @property
    def run_id(self) -> str | None:
        return self.tracker.run_id if self.tracker is not None else None

    def callbacks(self) -> list[Any]:
        """The per-epoch metrics callback (none when tracking is off)."""
        if self.tracker is None or self.tracker.run_id is None:
            return []
        from kexp.track.callback import epoch_metrics

        return [epoch_metrics(self.tracker)]

    def nest(self, cfg: Config) -> Config:
        """``cfg`` with this run as its MLflow parent (a fold's or trial's config)."""
        section = settings(cfg)
        if section is None or self.run_id is None:
            return cfg
        tracking = cfg.tracking.model_copy(
            update={"mlflow": section.model_copy(update={"parent_run_id": self.run_id})})
        return cfg.model_copy(update={"tracking": tracking})

    def nest_spec(self, spec: Spec) -> Spec:
        """``spec`` with this run as its MLflow parent (a sweep trial's spec)."""
        if self.run_id is None:
            return spec
        return apply_overrides(spec, [(f"tracking.mlflow.parent_run_id={self.run_id}",
                                       "kexp (the parent MLflow run)")])

    def finish(self, metrics: dict[str, float], model: Any = None, subfolders: bool = True) -> None:
        """Log the final metrics, the model (MLflow's Keras format, ``model/``) and the
        folder's files (a CV's or sweep's own files only: ``subfolders=False``), then end
        the run as status.json says."""
        t = self.tracker
        if t is None or t.run_id is None:
            return
        t.log(metrics=metrics)
        if model is not None:
            t.call("logging the model", log_model, t.run_id, model)
        if subfolders:
            t.artifacts(self.rf.path)
        else:
            for path in sorted(self.rf.path.iterdir()):
                if path.is_file() and not path.name.startswith("."):
                    t.call("uploading the folder", lambda mc, p=path: mc.log_artifact(t.run_id, str(p)))
        self.end(folder.MLFLOW_STATUS.get(str(self.rf.status.get("status")), "FINISHED"))

    def end(self, status: str) -> None:
        if self.tracker is not None and not self.ended:
            self.ended = True
            self.tracker.end(status)

    def __enter__(self) -> LiveRun:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is None:
            self.end("FINISHED")
        else:
            self.end("KILLED" if issubclass(kind, KeyboardInterrupt) else "FAILED")


def begin(cfg: Config, rf: RunFolder, warn: Callable[[str], None]) -> LiveRun:
    """Start the MLflow run of ``rf`` (its spec.yaml, config.yaml and env.json written)."""
    section = settings(cfg)
    if section is None:
        return LiveRun(None, rf)
    tracker = Tracker(section.uri, warn)
    if tracker.start(section.experiment or cfg.name, run_key(rf.path), rf.path.name,
                     folder.tags(rf.path), section.parent_run_id):
        tracker.log(params=folder.config_params(rf.path))
    return LiveRun(tracker, rf)


def log_model(mc: Any, run_id: str, model: Any) -> None:
    """Save ``model`` in MLflow's Keras format and upload it as the run's ``model/``
    (``mlflow models serve -m runs:/<id>/model`` loads it)."""
    import mlflow.keras

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "model"
        mlflow.keras.save_model(model, str(target))
        mc.log_artifacts(run_id, str(target), "model")
