"""``kexp cv``: k-fold cross-validation."""

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


@click.command("cv")
@click.argument("spec", type=click.Path(dir_okay=False), required=False)
@spec_options
@click.option("--runs-dir", type=click.Path(file_okay=False), default="runs", show_default=True,
              help="Where the CV folder is created.")
@click.option("--folds", type=int, help="Number of folds K (overrides cv.folds; default 10).")
@click.option("--repeats", type=int,
              help="Repeat K-fold R times with reshuffling (overrides cv.repeats).")
@click.option("--shuffle/--no-shuffle", default=None,
              help="Shuffle before splitting (overrides cv.shuffle).")
@click.option("--stratify", type=click.Choice(["auto", "true", "false"]),
              help="Stratify by class (overrides cv.stratify; auto: for class labels).")
@click.option("--group", metavar="COLUMN",
              help="CSV column of group labels for GroupKFold (overrides cv.group).")
@click.option("--cv-seed", type=int,
              help="Seed of the fold shuffling (overrides cv.seed; default: --seed).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Folds trained at once, each in its own process (1: in this process).")
@click.option("--threads", type=click.IntRange(min=1),
              help="TensorFlow threads per fold process (default: cores // jobs; a Ray task: 1, or "
                   "cores // jobs with --jobs N, as kexp sweep does).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local processes, or one Ray task per fold (pip install 'kexp[ray]').")
@click.option("--address", help="Ray cluster address (default: start a local Ray instance).")
@click.option("--save-models", is_flag=True, help="Also save each fold's model.keras.")
@click.option("--stack", is_flag=True,
              help="Train the folds together as one model of K disjoint sub-networks (faster for "
                   "small models; Sequential, no validation/callbacks/class_weight).")
@click.option("--fresh-models", is_flag=True,
              help="Build and trace a new model for every fold (default: a process trains its "
                   "folds on one compiled model, re-initialised from each fold's seed: the "
                   "same numbers, less time).")
@click.option("--plots/--no-plots", default=True, show_default=True,
              help="Draw PNG plots per fold and for the CV.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False, exists=True),
              shell_complete=run_folders,
              help="Train only the folds of this CV folder that did not complete, then summarize.")
@mlflow_option
@click.pass_context
@user_errors
def cv(ctx: click.Context, **options: Any) -> None:
    """K-fold cross-validate the experiment in SPEC; keep every fold's run folder.

    The whole data set is split into folds (data.test is not applied: each
    fold's held-out part is its test set; a data.validation split is taken
    from the fold's training part). StratifiedKFold for class labels, KFold
    for regression. Writes runs/<id>/ with folds.csv, summary.json and
    fold-01/ ... fold-K/ (each a run folder with indices.json).

    The last line is the mean ± population std (numpy.std, ddof=0) over the
    folds, e.g. "accuracy: 76.1% ± 4.7% (10 folds)"; summary.json also has a
    95% t-interval of the mean.

    \b
    Exit codes: 0 all folds completed; 1 some fold failed (the others finished;
    see folds.csv); 2 bad input (nothing trained); 130 interrupted (Ctrl-C,
    SIGTERM or a lost worker): finished folds are kept, continue with --resume.

    \b
    Examples:
      kexp cv configs/pima.yaml --folds 10
      kexp cv configs/pima.yaml --folds 5 --repeats 3 --jobs 2
      kexp cv configs/pima.yaml --executor ray --address auto
      kexp cv --resume runs/<id>
    """
    from kexp.cv import command
    from kexp.cv.options import EXIT_FOLDS_FAILED, CVRequest

    options["overrides"] = (*options["overrides"], *mlflow_overrides(options.pop("mlflow")))
    with resumable():
        result = command.run(CVRequest(**options, verbose=ctx.obj["verbose"]), log=log)
    click.echo(result.table())
    click.echo(f"CV folder: {result.path}")
    for line in result.headlines():
        click.echo(line)
    if result.failed:
        click.secho(f"Error: fold(s) {', '.join(map(str, result.failed))} failed (see folds.csv; "
                    f"rerun them with kexp cv --resume {result.path})", err=True, fg="red")
        sys.exit(EXIT_FOLDS_FAILED)
