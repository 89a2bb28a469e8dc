"""``kexp run``, ``kexp validate`` and ``kexp predict``."""

from __future__ import annotations

from pathlib import Path

import click

from kexp.cli.common import (
    backend_option,
    fmt_metrics,
    log,
    mlflow_option,
    mlflow_overrides,
    spec_options,
    spec_overrides,
    user_errors,
)
from kexp.cli.complete import run_folders
from kexp.errors import UsageError


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False), required=False)
@spec_options
@click.option("--runs-dir", type=click.Path(file_okay=False), default="runs", show_default=True,
              help="Where run folders are created.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False),
              shell_complete=run_folders,
              help="Continue this interrupted, failed or died run folder from its last "
                   "checkpoint, exactly as it would have gone on (no SPEC).")
@click.option("--workers", metavar="HOST:PORT,HOST:PORT",
              help="Train one model on several processes or machines (backend: jax): every "
                   "worker's address, the chief's (worker 0, the coordinator) first. Start "
                   "kexp run SPEC --workers ... --worker I on each.")
@click.option("--worker", type=click.IntRange(min=0),
              help="Which of --workers this process is (0 writes the run folder).")
@click.option("--plots/--no-plots", default=True, show_default=True,
              help="Draw the run's PNG plots (kexp plot draws them later).")
@mlflow_option
@user_errors
def run(spec: str | None, overrides: tuple[str, ...], name: str | None,
        seed: int | None, epochs: int | None, backend: str | None, runs_dir: str,
        resume_dir: str | None, workers: str | None, worker: int | None, plots: bool,
        mlflow: str | None) -> None:
    """Train and evaluate the experiment in SPEC; write a run folder.

    A run saves a checkpoint at the end of every epoch (fit.checkpoint); one that
    was stopped (Ctrl-C, SIGTERM, a crash, kill -9) goes on with --resume.

    \b
    Examples:
      kexp run configs/mnist.yaml --epochs 2 --set compile.optimizer=sgd
      kexp run --resume runs/<id>
    """
    from kexp import experiment

    cluster = None
    if resume_dir is not None:
        given = [o for o, v in (("SPEC", spec), ("--set", overrides), ("--name", name),
                                ("--seed", seed), ("--epochs", epochs), ("--backend", backend),
                                ("--workers", workers), ("--worker", worker), ("--mlflow", mlflow))
                 if v not in (None, ())]
        if given:
            raise UsageError(f"--resume continues the run with its own config.yaml; "
                             f"{', '.join(given)} cannot be given with it (start a new run "
                             "to change the experiment)")
        result = experiment.resume_run(Path(resume_dir), experiment.Options(plots=plots), log=log)
    elif spec is None:
        raise UsageError("missing SPEC: give a spec file (kexp run configs/mnist.yaml), or "
                         "--resume RUN_DIR to continue a run")
    else:
        if workers is not None or worker is not None:
            from kexp.engine import multihost

            cluster = multihost.parse(workers or "", worker)
        options = experiment.Options(overrides=spec_overrides(overrides, name, seed, epochs, backend)
                                     + mlflow_overrides(mlflow), runs_dir=Path(runs_dir),
                                     cluster=cluster, plots=plots)
        result = experiment.run_file(spec, options, log=log)
    click.echo(f"{result.evaluated_on} metrics: {fmt_metrics(result.metrics)}")
    if cluster is not None and not cluster.chief:
        click.echo(f"Worker {cluster.index} of {cluster.size}: trained; the chief (worker 0) "
                   "wrote the run folder")
    else:
        click.echo(f"Run folder: {result.run_dir}")


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@spec_options
@click.option("--graph", "graph", type=click.Path(dir_okay=False), metavar="PNG",
              help="Also draw the model's graph to this file (needs pydot and Graphviz).")
@user_errors
def validate(spec: str, overrides: tuple[str, ...], name: str | None,
             seed: int | None, epochs: int | None, backend: str | None,
             graph: str | None) -> None:
    """Check SPEC, load its data and build the model without training.

    Prints the model summary with parameter counts.

    \b
    Example:
      kexp validate configs/shared_input.yaml --graph model.png
    """
    from kexp import experiment

    options = experiment.Options(overrides=spec_overrides(overrides, name, seed, epochs, backend))
    result = experiment.validate_file(spec, options, log=log)
    click.echo(result.text, nl=False)
    if graph:
        notice = result.draw(Path(graph))
        if notice:
            click.echo(f"Note: {notice}", err=True)
        else:
            click.echo(f"Model graph: {graph}")
    click.echo(f"OK: {spec} is valid.")


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False), shell_complete=run_folders)
@click.argument("data", nargs=-1, required=True, type=click.Path())
@click.option("--out", type=click.Path(dir_okay=False),
              help="Output CSV (default: RUN_DIR/predictions-<DATA>.csv).")
@backend_option
@user_errors
def predict(run_dir: str, data: tuple[str, ...], out: str | None, backend: str | None) -> None:
    """Predict DATA (a CSV or .npz file; for a model trained on an image folder, a folder
    of images or image files) with the model and preprocessing of RUN_DIR.

    Writes predicted classes with probabilities (or values, for regression); images with
    their file paths, and their true class when the folder has class subfolders. The
    model loads on the backend it was trained on (--backend: another one).
    """
    from kexp import predict as predict_mod

    paths = [Path(d) for d in data]
    path, rows = predict_mod.predict(Path(run_dir), paths if len(paths) > 1 else paths[0],
                                     Path(out) if out else None, log=log, on=backend)
    click.echo(f"Wrote {rows} predictions to {path}")
