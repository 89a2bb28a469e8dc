"""The ``kexp`` command line: a thin Click layer over the library.

Every :class:`kexp.errors.KexpError` becomes one message on stderr and exit code 2.
TensorFlow is imported only by the commands that train or load models.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from kexp.errors import KexpError

EPILOG = """\b
Examples:
  kexp run configs/mnist.yaml
  kexp run configs/pima.yaml --set fit.epochs=20 --set compile.optimizer=sgd
  kexp validate configs/mnist.yaml
  kexp predict runs/<id> new.csv --out predictions.csv
  kexp ls --sort accuracy --filter status=completed
  kexp plot runs/<id> runs/<other-id> --out plots/
  kexp compare runs/<id> runs/<cv-id>
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



def _warn(lines: list[str]) -> None:
    for line in dict.fromkeys(lines):
        click.secho(f"Warning: {line}", err=True, fg="yellow")


@cli.command("plot")
@click.argument("runs", nargs=-1, required=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the figures. Default: the run folder (one run), "
                   "./kexp-plots (several runs).")
@click.option("--format", "fmt", type=click.Choice(["png", "svg", "pdf"]), default="png",
              show_default=True, help="Image format.")
@click.option("--show", is_flag=True, help="Also open the figures in windows (needs a display).")
@user_errors
def plot_cmd(runs: tuple[str, ...], out_dir: Path | None, fmt: str, show: bool) -> None:
    """Plot learning curves (and confusion matrix, ROC, PR) of RUNS.

    RUNS are run folders, CV folders or glob patterns (runs/*-mnist-mlp-*).
    Several runs are overlaid, labelled by the hyperparameters that differ.
    """
    import matplotlib

    from kexp import plots
    from kexp.runinfo import resolve_runs

    wanted, show = show, show and plots.has_display()
    if not show:
        matplotlib.use("Agg")
    context = plots.pyplot_figures() if show else contextlib.nullcontext()
    with context:
        result = plots.plot_runs(resolve_runs(runs), out_dir, fmt)
    _warn(result.warnings)
    for path in result.paths:
        click.echo(str(path))
    if show:
        import matplotlib.pyplot as plt

        plt.show()
    elif wanted:
        click.echo("Note: --show needs a display (no DISPLAY or WAYLAND_DISPLAY); figures were only saved.")


@cli.command("ls")
@click.argument("runs_dir", default="runs", type=click.Path(path_type=Path))
@click.option("--sort", "sort", metavar="METRIC",
              help="Sort by a column or metric (accuracy-like descending, loss-like ascending).")
@click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE",
              help="Keep runs where KEY (a column or dotted config key) equals VALUE. Repeatable.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@user_errors
def ls_cmd(runs_dir: Path, sort: str | None, filters: tuple[str, ...], fmt: str) -> None:
    """List the runs and CV runs in RUNS_DIR (default: runs)."""
    from kexp import report

    table = report.list_runs(runs_dir, sort=sort, filters=filters)
    _warn(table.warnings)
    click.echo(report.format_runs(table.frame, fmt))


@cli.command("compare")
@click.argument("runs", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@user_errors
def compare_cmd(runs: tuple[str, ...], fmt: str) -> None:
    """Compare RUNS: config keys that differ, metrics side by side (Δ to the first run).

    A CV folder is compared by its metric means.
    """
    from kexp import report
    from kexp.runinfo import resolve_runs

    comparison = report.compare_runs(resolve_runs(runs))
    _warn(comparison.warnings)
    click.echo(report.format_comparison(comparison, fmt))


def main() -> None:
    cli(prog_name="kexp")
