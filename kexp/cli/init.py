"""``kexp init``: a commented spec for a CSV file or an image folder (one library call)."""

from __future__ import annotations

import click

from kexp.cli.common import user_errors


@click.command("init")
@click.argument("data", type=click.Path())
@click.option("--target", metavar="COLUMN",
              help="The column of a CSV file to predict: its name, or its 0-based index.")
@click.option("--task", type=click.Choice(["classification", "regression"]),
              help="Override the task read from the target column.")
@click.option("--out", type=click.Path(dir_okay=False),
              help="Write the spec to this file (default: print it).")
@click.option("--force", is_flag=True, help="Overwrite an existing --out file.")
@user_errors
def init_cmd(data: str, target: str | None, task: str | None, out: str | None, force: bool) -> None:
    """Write a commented, runnable spec for the CSV file DATA, or for the folder DATA
    of class subfolders of images (a small convolutional network).

    Reads DATA with pandas and decides the header, each column's preprocessing
    (standardize, get_dummies, impute, tokenize + pad, or dropped), the task, the
    model, loss and metrics, and a stratified test split; every decision is a
    comment in the spec.

    \b
    Example:
      kexp init datasets/pima-tabular.csv --target diabetes --out pima.yaml
      kexp run pima.yaml
      kexp init datasets/fashion-folders --out fashion.yaml
    """
    from kexp import scaffold

    result = scaffold.init_spec(data, target, task, out, force)
    if result.out is None:
        click.echo(result.text, nl=False)
    else:
        click.echo(f"Wrote {result.out}; train it with: kexp run {result.out}", err=True)
