"""``kexp run``, ``kexp validate`` and ``kexp predict``."""

from __future__ import annotations

from pathlib import Path

import click

from kexp.cli.common import (
    fmt_metrics,
    log,
    mlflow_option,
    mlflow_overrides,
    spec_options,
    spec_overrides,
    user_errors,
)
from kexp.cli.complete import run_folders


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@spec_options
@click.option("--runs-dir", type=click.Path(file_okay=False), default="runs", show_default=True,
              help="Where run folders are created.")
@mlflow_option
@user_errors
def run(spec: str, overrides: tuple[str, ...], name: str | None,
        seed: int | None, epochs: int | None, runs_dir: str, mlflow: str | None) -> None:
    """Train and evaluate the experiment in SPEC; write a run folder.

    \b
    Example:
      kexp run configs/mnist.yaml --epochs 2 --set compile.optimizer=sgd
    """
    from kexp import experiment

    options = experiment.Options(overrides=spec_overrides(overrides, name, seed, epochs)
                                 + mlflow_overrides(mlflow), runs_dir=Path(runs_dir))
    result = experiment.run_file(spec, options, log=log)
    click.echo(f"{result.evaluated_on} metrics: {fmt_metrics(result.metrics)}")
    click.echo(f"Run folder: {result.run_dir}")


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@spec_options
@click.option("--graph", "graph", type=click.Path(dir_okay=False), metavar="PNG",
              help="Also draw the model's graph to this file (needs pydot and Graphviz).")
@user_errors
def validate(spec: str, overrides: tuple[str, ...], name: str | None,
             seed: int | None, epochs: int | None, graph: str | None) -> None:
    """Check SPEC, load its data and build the model without training.

    Prints the model summary with parameter counts.

    \b
    Example:
      kexp validate configs/shared_input.yaml --graph model.png
    """
    from kexp import experiment

    options = experiment.Options(overrides=spec_overrides(overrides, name, seed, epochs))
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
@user_errors
def predict(run_dir: str, data: tuple[str, ...], out: str | None) -> None:
    """Predict DATA (a CSV or .npz file; for a model trained on an image folder, a folder
    of images or image files) with the model and preprocessing of RUN_DIR.

    Writes predicted classes with probabilities (or values, for regression); images with
    their file paths, and their true class when the folder has class subfolders.
    """
    from kexp import predict as predict_mod

    paths = [Path(d) for d in data]
    path, rows = predict_mod.predict(Path(run_dir), paths if len(paths) > 1 else paths[0],
                                     Path(out) if out else None, log=log)
    click.echo(f"Wrote {rows} predictions to {path}")
