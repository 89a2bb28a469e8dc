"""The ``kexp`` command line: a thin Click layer over the library.

Every :class:`kexp.errors.KexpError` becomes one message on stderr and exit code 2.
TensorFlow is imported only by the commands that train or load models.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from kexp.errors import KexpError

EPILOG = """\b
Examples:
  kexp run configs/mnist.yaml
  kexp run configs/pima.yaml --set fit.epochs=20 --set compile.optimizer=sgd
  kexp validate configs/mnist.yaml
  kexp predict runs/<id> new.csv --out predictions.csv
"""


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn KexpError into a clean message and exit code 2 (no traceback)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KexpError as exc:
            click.secho(f"Error: {exc}", err=True, fg="red")
            sys.exit(exc.exit_code)

    return wrapper


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kexp")
@click.option("-v", "--verbose", is_flag=True, help="Show TensorFlow's start-up log and warnings.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """kexp: YAML in, trained Keras model and run folder out."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")


def main() -> None:
    cli(prog_name="kexp")
