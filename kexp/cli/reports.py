"""``kexp plot``, ``kexp ls`` and ``kexp compare``: figures and tables from run folders
(no schema, no TensorFlow)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from kexp.cli.common import user_errors, warn
from kexp.cli.complete import run_folders


@click.command("plot")
@click.argument("runs", nargs=-1, required=True, shell_complete=run_folders)
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

    from kexp import report
    from kexp.rundir.read import resolve_runs

    wanted, show = show, show and report.has_display()
    if not show:
        matplotlib.use("Agg")
    context = report.pyplot_figures() if show else contextlib.nullcontext()
    with context:
        result = report.plot_runs(resolve_runs(runs), out_dir, fmt)
    warn(result.warnings)
    for path in result.paths:
        click.echo(str(path))
    if show:
        import matplotlib.pyplot as plt

        plt.show()
    elif wanted:
        click.echo("Note: --show needs a display (no DISPLAY or WAYLAND_DISPLAY); "
                   "figures were only saved.")


@click.command("ls")
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
    warn(table.warnings)
    click.echo(report.format_runs(table.frame, fmt))


@click.command("compare")
@click.argument("runs", nargs=-1, required=True, shell_complete=run_folders)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@user_errors
def compare_cmd(runs: tuple[str, ...], fmt: str) -> None:
    """Compare RUNS: config keys that differ, metrics side by side (Δ to the first run).

    A CV folder is compared by its metric means.
    """
    from kexp import report
    from kexp.rundir.read import resolve_runs

    comparison = report.compare_runs(resolve_runs(runs))
    warn(comparison.warnings)
    click.echo(report.format_comparison(comparison, fmt))
