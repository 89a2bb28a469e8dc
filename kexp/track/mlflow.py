"""The MLflow client, wrapped so that a failing tracking store (a server that is down, a
full disk) never stops training: the first failure becomes one warning (kept in the run
folder's ``status.json``) and the run logs nothing more to MLflow.

Every call names its run by id (:class:`mlflow.MlflowClient`), never MLflow's global
"active run", so that folds and trials in worker processes nest under a parent whose id
they were given. MLflow is imported here, inside functions, only when tracking is on.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kexp.errors import ConfigError, KexpError

INSTALL = "pip install 'kexp[mlflow]'"
#: the tag a kexp run folder's id is kept in (a folder is exported once: :mod:`.export`)
RUN_KEY = "kexp.run_id"
#: a run folder's name: <YYYYmmdd-HHMMSS>-<name>-<6 hex>
_STAMPED = re.compile(r"\d{8}-\d{6}-.+-[0-9a-f]{6}")

Warn = Callable[[str], None]


def installed() -> bool:
    return importlib.util.find_spec("mlflow") is not None


def require(where: tuple[str, ...] | None = ("tracking", "mlflow")) -> None:
    """Exit 2 with the install command when MLflow is missing (before anything trains)."""
    if installed():
        return
    if where is None:
        raise KexpError(f"MLflow is not installed; install it with: {INSTALL}")
    raise ConfigError(where, "MLflow tracking is on but MLflow is not installed",
                      hint=f"install it with: {INSTALL}, or remove tracking.mlflow / --mlflow")


def is_file_store(uri: str) -> bool:
    """Whether a tracking URI names MLflow's filesystem store: ``file:...``, or a plain
    path (``./mlruns``, ``C:\\mlruns``); not MLflow's bare ``databricks`` URIs."""
    if uri in ("databricks", "databricks-uc", "uc"):
        return False
    scheme = urlsplit(uri).scheme
    return scheme == "file" or scheme == "" or (len(scheme) == 1 and uri[1:2] == ":")


def check_store(uri: str | None, where: tuple[str, ...] = ("tracking", "mlflow", "uri")) -> None:
    """Exit 2 before anything trains when the tracking store (``uri``, else
    ``MLFLOW_TRACKING_URI``) is a file store and this MLflow refuses them (MLflow 3's
    filesystem backend is in maintenance mode: it raises unless ``MLFLOW_ALLOW_FILE_STORE``
    is set, its documented opt-out)."""
    given = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not given or not is_file_store(given):
        return
    try:
        from mlflow.environment_variables import MLFLOW_ALLOW_FILE_STORE
    except ImportError:  # an MLflow that still takes file stores
        return
    if MLFLOW_ALLOW_FILE_STORE.get():
        return
    what = (f"the tracking store {given!r} is a file store, which this MLflow refuses (its "
            "filesystem backend is in maintenance mode)")
    fix = ("use a database store: sqlite:///mlflow.db (`mlflow migrate-filestore` moves an "
           "existing ./mlruns into it), or set MLFLOW_ALLOW_FILE_STORE=true, MLflow's opt-out, "
           "to keep the file store")
    if uri:
        raise ConfigError(where, what, hint=fix[0].upper() + fix[1:])
    raise KexpError(f"MLFLOW_TRACKING_URI: {what}; {fix}")


def run_key(path: Path) -> str:
    """A run folder's id: its path from the nearest stamped folder (itself, or the CV or
    sweep folder it is in): ``<cv-id>/fold-01``, ``<sweep-id>/trials/001-units=8``."""
    parts = path.resolve().parts
    stamped = [i for i, part in enumerate(parts) if _STAMPED.fullmatch(part)]
    return "/".join(parts[stamped[-1] if stamped else -1:])


def client(uri: str | None) -> Any:
    """An MlflowClient for ``uri`` (None: MLflow's default). HTTP calls to a store that does
    not answer give up after a few seconds unless MLFLOW_HTTP_REQUEST_* say otherwise."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def experiment_id(mc: Any, name: str) -> str:
    """The id of experiment ``name``, created when it does not exist."""
    found = mc.get_experiment_by_name(name)
    return found.experiment_id if found is not None else mc.create_experiment(name)


def find_run(mc: Any, exp_id: str, key: str) -> Any:
    """The MLflow run tagged with kexp run folder id ``key``, or None."""
    runs = mc.search_runs([exp_id], filter_string=f"tags.`{RUN_KEY}` = '{key}'", max_results=1)
    return runs[0] if runs else None


class Tracker:
    """One MLflow run; any call that fails is a warning (``warn``) and ends the tracking."""

    def __init__(self, uri: str | None, warn: Warn) -> None:
        self.uri = uri
        self.warn = warn
        self.run_id: str | None = None
        self.failed: str | None = None
        self._client: Any = None

    def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(client, *args, **kwargs)``, or None (with the warning) when the store fails."""
        if self.failed is not None:
            return None
        try:
            if self._client is None:
                self._client = client(self.uri)
            return fn(self._client, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the store's failure must not stop training
            text = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            self.failed = (f"MLflow tracking stopped: {what} failed ({text}); the run folder "
                           "is the record (send it later with `kexp export mlflow`)")
            self.warn(self.failed)
            return None

    def start(self, experiment: str, key: str, name: str, tags: dict[str, str],
              parent: str | None = None) -> str | None:
        """Start (or, for a CV or sweep that resumes, reopen) the run of folder ``key``."""
        def begin(mc: Any) -> str:
            exp = experiment_id(mc, experiment)
            found = find_run(mc, exp, key)
            if found is not None:
                mc.update_run(found.info.run_id, status="RUNNING")
                return str(found.info.run_id)
            more = {RUN_KEY: key, "mlflow.runName": name}
            if parent:
                more["mlflow.parentRunId"] = parent
            return str(mc.create_run(exp, run_name=name, tags={**tags, **more}).info.run_id)

        self.run_id = self.call("starting the run", begin)
        return self.run_id

    def log(self, metrics: dict[str, float] | None = None, params: dict[str, str] | None = None,
            tags: dict[str, str] | None = None, step: int = 0) -> None:
        """Metrics (at ``step``), parameters and tags in batches."""
        if self.run_id is None:
            return
        self.call("logging", log_batches, self.run_id, metrics or {}, params or {}, tags or {}, step)

    def artifacts(self, folder: Path, under: str | None = None) -> None:
        if self.run_id is not None:
            self.call("uploading the run folder", lambda mc: mc.log_artifacts(
                self.run_id, str(folder), under))

    def end(self, status: str) -> None:
        """``status``: FINISHED, FAILED or KILLED."""
        if self.run_id is not None:
            self.call("ending the run", lambda mc: mc.set_terminated(self.run_id, status))


def log_batches(mc: Any, run_id: str, metrics: dict[str, float], params: dict[str, str],
                tags: dict[str, str], step: int = 0) -> None:
    """``log_batch`` calls within MLflow's limits (100 parameters or tags, 1000 values)."""
    import time

    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    items: list[Any] = [Metric(k, float(v), now, step) for k, v in metrics.items()]
    items += [Param(k, v) for k, v in params.items()] + [RunTag(k, v) for k, v in tags.items()]
    for i in range(0, len(items), 100):
        chunk = items[i:i + 100]
        mc.log_batch(run_id, metrics=[m for m in chunk if isinstance(m, Metric)],
                     params=[m for m in chunk if isinstance(m, Param)],
                     tags=[m for m in chunk if isinstance(m, RunTag)])
