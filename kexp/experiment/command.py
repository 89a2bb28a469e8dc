"""``kexp run`` and ``kexp validate`` as one library call each: the spec file is read
and checked against the schema first, then the data files it names and the folder the
run will be written in (:func:`check_inputs`), so a mistake is reported before pandas,
the data or TensorFlow are loaded; only then is the training side imported."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kexp import backend
from kexp.data.paths import base_dirs, check_data_paths
from kexp.errors import ConfigError, KexpError
from kexp.experiment.options import Log, Options, silent
from kexp.rundir.write import check_creatable
from kexp.spec import (
    Config,
    Spec,
    apply_overrides,
    configure,
    load_spec,
    wanted_backend,
)

if TYPE_CHECKING:
    from kexp.experiment.trainer import RunResult, Validation


def load_checked(path: str | Path, overrides: list[Any]) -> Spec:
    """Read a spec file and check it against the schema with its overrides."""
    return _checked(path, overrides)[0]


def _checked(path: str | Path, overrides: list[Any]) -> tuple[Spec, Config]:
    spec = load_spec(path)
    return spec, configure(spec, overrides)


def check_inputs(spec: Spec, cfg: Config, overrides: list[Any], runs_dir: Path | None,
                 command: str | None = None) -> None:
    """What needs neither the data's content nor Keras, checked before either is loaded:
    every data file or folder the spec names exists and can be read, MLflow (when tracking
    is on) is installed and takes the store, and ``runs_dir`` (None: nothing is written)
    can be made and written in; ``command`` (``kexp cv``, ``kexp sweep``): one that trains
    many models, which refuses ``distribute``. A ConfigError names the key
    and its line (or ``--set`` origin)."""
    if runs_dir is not None:
        check_creatable(runs_dir, "--runs-dir")
    full = apply_overrides(spec, overrides)
    try:
        check_backend(cfg, command)
        if command is not None and cfg.distribute is not None:
            raise ConfigError(("distribute",), f"{command} trains its models one per process (or "
                              "worker); distribute trains one kexp run on several devices",
                              hint="Remove distribute, or --set distribute=null")
        check_data_paths(cfg.data, base_dirs(full.path))
        if cfg.tracking.mlflow is not None and cfg.tracking.mlflow.enabled:
            from kexp.track import live

            live.check(cfg)  # MLflow installed, and a store it takes
    except ConfigError as exc:
        if exc.loc is None:
            raise
        raise exc.located(*full.locate(exc.loc)) from None


def check_backend(cfg: Config, command: str | None = None) -> str:
    """The backend ``cfg`` trains on (its ``backend``, else ``KERAS_BACKEND``, else
    TensorFlow), a ConfigError unless it can train here and everything the spec asks
    for works on it: ``distribute`` is TensorFlow's MirroredStrategy or Keras's JAX
    DataParallel, not PyTorch's."""
    name = backend.resolve(cfg.backend, cfg.model)
    backend.check(name)
    if name == "torch" and cfg.distribute is not None and command is None:
        raise ConfigError(("distribute",), "distribute trains on TensorFlow's MirroredStrategy or "
                          "JAX's DataParallel; this spec trains on torch",
                          hint="Use backend: tensorflow or jax for distribute, or remove "
                               "distribute")
    return name


def select_backend(spec_file: str | Path | None, overrides: list[Any],
                   folder: Path | None = None) -> None:
    """Select the backend a CV or sweep trains on before its workers are spawned (they
    inherit ``KERAS_BACKEND``): the spec's ``backend`` with ``overrides``, or, resuming
    ``folder``, its ``config.yaml``'s. A ConfigError names the key and its line; a spec
    that cannot be read is left to the validation that follows."""
    try:
        if folder is not None:
            full = load_spec(folder / "config.yaml")
        else:
            full = apply_overrides(load_spec(spec_file or ""), overrides)
    except KexpError:
        return
    try:
        backend.select(wanted_backend(full, []), full.data.get("deterministic") is True,
                       full.data.get("model"))
    except ConfigError as exc:
        raise exc.located(*full.locate(("backend",))) from None


def run_file(path: str | Path, options: Options, log: Log = silent) -> RunResult:
    """``kexp run``: check the spec file, then train and record it in a new run folder
    (``options.cluster``: one of the workers of a training on several; only the chief's
    run folder is kept)."""
    spec, cfg = _checked(path, options.overrides)
    if options.cluster is not None:
        check_cluster(spec, cfg, options)
    check_inputs(spec, cfg, options.overrides, options.runs_dir)
    from kexp.experiment.trainer import run

    if options.cluster is None or options.cluster.chief:
        return run(spec, options, log)
    import shutil

    from kexp.engine import multihost

    scratch = Path(multihost.scratch_runs_dir())

    def worker_log(line: str) -> None:
        if not line.startswith("Run folder: "):  # the chief's is the run folder
            log(line)

    try:
        return run(spec, replace(options, runs_dir=scratch, overrides=[
            *options.overrides, ("tracking.mlflow=null", "a worker that is not the chief")]),
            worker_log)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def check_cluster(spec: Spec, cfg: Config, options: Options) -> None:
    """A training on several workers: JAX's (``backend: jax``), with a seed every worker
    shares, no ``distribute`` of its own. A ConfigError names the key."""
    full = apply_overrides(spec, options.overrides)
    try:
        if backend.resolve(cfg.backend, cfg.model) != "jax":
            raise ConfigError(("backend",), "a training on several workers (--workers) runs on "
                              "JAX's multi-process runtime (TensorFlow's "
                              "MultiWorkerMirroredStrategy cannot fit in Keras 3: "
                              "keras-team/keras#20585)",
                              hint="Add --backend jax (pip install 'kexp[jax]')")
        if cfg.seed is None:
            raise ConfigError(("seed",), "every worker must start from the same weights and "
                              "batches; a seed drawn by each would differ",
                              hint="Give seed: N in the spec, or --seed N")
        if cfg.distribute is not None:
            raise ConfigError(("distribute",), "--workers trains on every worker's devices; "
                              "distribute is one process's devices",
                              hint="Remove distribute")
    except ConfigError as exc:
        raise exc.located(*full.locate(exc.loc or ())) from None


def validate_file(path: str | Path, options: Options, log: Log = silent) -> Validation:
    """``kexp validate``: check the spec file, then load its data and build its model."""
    spec, cfg = _checked(path, options.overrides)
    check_inputs(spec, cfg, options.overrides, None)
    from kexp.experiment.trainer import validate

    return validate(spec, options, log)
