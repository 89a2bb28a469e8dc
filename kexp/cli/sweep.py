"""``kexp sweep``: studies of many trials."""

from __future__ import annotations

import sys
from typing import Any

import click

from kexp.cli.common import (
    log,
    mlflow_option,
    mlflow_overrides,
    resumable,
    spec_options,
    user_errors,
)
from kexp.cli.complete import run_folders


@click.command("sweep")
@click.argument("spec", type=click.Path(dir_okay=False), required=False)
@spec_options
@click.option("--param", "params", multiple=True, metavar="PATH=V1,V2",
              help="A grid over these values of a spec path, without a sweep: section, e.g. "
                   "--param fit.batch_size=32,64. Repeatable.")
@click.option("--trials", type=click.IntRange(min=1),
              help="How many trials a random or tpe sweep runs (overrides sweep.trials).")
@click.option("--cv", type=click.IntRange(min=2), metavar="K",
              help="Cross-validate every trial with K folds of the training part (objective: the "
                   "fold mean), then refit the best parameters on the whole training part and "
                   "evaluate them on the test part, into refit/ (overrides sweep.cv).")
@click.option("--runs-dir", type=click.Path(file_okay=False), default="runs", show_default=True,
              help="Where the sweep folder is created.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Trials trained at once, each in its own process (1: in this process).")
@click.option("--threads", type=click.IntRange(min=1),
              help="TensorFlow threads per worker process (default: cores // jobs).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local processes, or one Ray task per trial (pip install 'kexp[ray]'); with "
                   "ray, --jobs N runs N trials at once on the local instance (default: one per core).")
@click.option("--address", help="Ray cluster address (default: start a local Ray instance).")
@click.option("--stack", is_flag=True,
              help="With --cv: each trial's folds train stacked (as kexp cv --stack); on JAX, "
                   "trials that differ only in seed, initializers, learning rate or L1/L2 "
                   "factors train together as one program, each recorded in its own CV folder.")
@click.option("--plots/--no-plots", default=True, show_default=True,
              help="Draw each trial's PNG plots.")
@click.option("--save-models/--no-save-models", default=True, show_default=True,
              help="Save each trial's model.keras.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False, exists=True),
              shell_complete=run_folders,
              help="Train only the trials of this sweep folder that did not complete.")
@mlflow_option
@click.pass_context
@user_errors
def sweep(ctx: click.Context, **options: Any) -> None:
    """Run a study of many trials of SPEC: its sweep: section (grid, random, tpe), or --param.

    Every trial is a complete run folder under the sweep folder's trials/ (with --cv, a CV
    folder; the best parameters are then refit into refit/); every trial's spec is checked
    before the first one trains. Writes trials.csv (one row per trial),
    best.yaml (the best trial as a runnable spec) and summary.json.

    \b
    Exit codes: 0 the sweep finished (failed trials are listed); 1 no trial completed;
    2 bad input (nothing trained); 130 interrupted: continue with --resume.

    \b
    Examples:
      kexp sweep configs/depth_sweep.yaml --jobs 2
      kexp sweep configs/mnist.yaml --param fit.batch_size=100,800 --epochs 2
      kexp sweep configs/pima.yaml --param fit.batch_size=10,40 --cv 5
      kexp sweep configs/depth_sweep.yaml --executor ray --address auto
      kexp sweep --resume runs/<id>
    """
    from kexp.sweep import command

    options["overrides"] = (*options["overrides"], *mlflow_overrides(options.pop("mlflow")))
    with resumable():
        result = command.run(command.SweepRequest(**options, verbose=ctx.obj["verbose"]), log=log)
    shown = result.frame.drop(columns=["folder", "error"], errors="ignore")
    click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    click.echo(f"Sweep folder: {result.path}")
    top = result.summary.get("best")
    if top is not None:
        click.echo(f"Best: trial {top['trial']} {result.summary['metric']} {top['value']:.4g} "
                   f"({top['folder']}); runnable spec: {result.path / 'best.yaml'}")
    refit = result.summary.get("refit")
    if refit is not None:
        from kexp.sweep.refit import describe

        click.echo(f"{describe(refit)} ({result.path / refit['folder']})")
    if result.failed:
        click.secho(f"Warning: trial(s) {', '.join(map(str, result.failed))} failed (see "
                    "trials.csv)", err=True, fg="yellow")
    if top is None:
        sys.exit(1)
