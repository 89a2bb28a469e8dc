"""``kexp export mlflow``: send run, CV and sweep folders made earlier to MLflow."""

from __future__ import annotations

import sys

import click

from kexp.cli.common import log, user_errors
from kexp.cli.complete import run_folders


@click.group("export")
def export_cmd() -> None:
    """Send run folders made earlier to another tool."""


@export_cmd.command("mlflow")
@click.argument("folders", nargs=-1, required=True, shell_complete=run_folders)
@click.option("--uri", help="Tracking URI (default: MLflow's, a local store in the current "
                            "folder; or MLFLOW_TRACKING_URI).")
@click.option("--experiment", help="MLflow experiment (default: each spec's name).")
@user_errors
def mlflow_cmd(folders: tuple[str, ...], uri: str | None, experiment: str | None) -> None:
    """Send FOLDERS (run, CV or sweep folders) to MLflow (pip install 'kexp[mlflow]').

    Each folder becomes one MLflow run with its parameters, tags, per-epoch metrics,
    final metrics and files; a CV's folds and a sweep's trials become its child runs.
    A folder sent before (or tracked live with --mlflow) is skipped, never duplicated.

    \b
    Examples:
      kexp export mlflow runs/<id> runs/<cv-id>
      kexp export mlflow 'runs/*' --uri http://127.0.0.1:5000
    """
    from kexp.track.export import export

    done = export(list(folders), uri, experiment, log=log)
    click.echo(f"{len(done.created)} MLflow run(s) created, {len(done.skipped)} folder(s) "
               "exported already")
    if done.failures:
        for line in done.failures:
            click.secho(f"Error: {line}", err=True, fg="red")
        sys.exit(1)
