"""Shell completion (Click's, for bash, zsh and fish) of run-folder arguments, and
``kexp schema`` (the spec's JSON Schema, for editors).

Run folders complete from ``runs/`` in the current folder, or from the folder already
typed (``runs/<cv-id>/`` lists its folds). Nothing here imports the schema until
``kexp schema`` runs, nor TensorFlow ever.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from click.shell_completion import CompletionItem

#: where run folders complete from when no folder is typed yet
RUNS_DIR = "runs"


def run_folders(ctx: click.Context, param: click.Parameter,
                incomplete: str) -> list[CompletionItem]:
    """The folders under ``runs/`` (or under the folder typed so far) whose path starts
    with ``incomplete``, newest name last (run folders' names begin with their time)."""
    head, _, _ = incomplete.rpartition("/")
    base = Path(head) if head else Path(RUNS_DIR)
    prefix = f"{head}/" if head else f"{RUNS_DIR}/"
    try:
        names = sorted(entry.name for entry in os.scandir(base) if entry.is_dir())
    except OSError:
        return []
    return [CompletionItem(prefix + name) for name in names
            if (prefix + name).startswith(incomplete) and not name.startswith(".")]


@click.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of a spec file (for editors: the YAML language server).

    \b
    Example:
      kexp schema > kexp.schema.json
      # then, on a spec's first line:
      # yaml-language-server: $schema=./kexp.schema.json
    """
    from kexp.spec.editor import json_schema_text

    click.echo(json_schema_text(), nl=False)
