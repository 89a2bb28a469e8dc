"""The ``kexp`` command line: a thin Click layer over the library.

Each command parses its options, calls one library function and prints the result.
Every :class:`kexp.errors.KexpError` becomes one message on stderr and exit code 2.
The spec schema (pydantic) is imported only by the commands that read a spec, and
TensorFlow only by those that train or load models: ``kexp --help``, ``ls``, ``plot``
and ``compare`` start without either.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from kexp import backend
from kexp.errors import KexpError, UsageError

EPILOG = """\b
Examples:
  kexp run configs/mnist.yaml
  kexp run configs/pima.yaml --set fit.epochs=20 --set compile.optimizer=sgd
  kexp validate configs/mnist.yaml
  kexp cv configs/pima.yaml --folds 10 --jobs 2
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
        except UsageError as exc:  # Click shows the command's usage line (exit 2)
            raise click.UsageError(str(exc)) from None
        except KexpError as exc:
            click.secho(f"Error: {exc}", err=True, fg="red")
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the run folder says "interrupted"
            click.secho("Interrupted.", err=True, fg="yellow")
            sys.exit(130)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # usage errors: Click prints them (exit 2)
        except Exception as exc:  # a bug or an environment problem, not the user's input
            ctx = click.get_current_context(silent=True)
            if ctx is not None and (ctx.find_root().obj or {}).get("verbose"):
                raise
            click.secho(
                f"Error: unexpected failure: {type(exc).__name__}: {exc}\n"
                "(any run folder is marked failed; run with -v for the traceback)",
                err=True, fg="red",
            )
            sys.exit(1)

    return wrapper


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kexp")
@click.option("-v", "--verbose", is_flag=True, help="Show TensorFlow's start-up log and warnings.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """kexp: YAML in, trained Keras model and run folder out."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    backend.set_verbose(verbose)



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

    from kexp import report
    from kexp.rundir.read import resolve_runs

    wanted, show = show, show and report.has_display()
    if not show:
        matplotlib.use("Agg")
    context = report.pyplot_figures() if show else contextlib.nullcontext()
    with context:
        result = report.plot_runs(resolve_runs(runs), out_dir, fmt)
    _warn(result.warnings)
    for path in result.paths:
        click.echo(str(path))
    if show:
        import matplotlib.pyplot as plt

        plt.show()
    elif wanted:
        click.echo("Note: --show needs a display (no DISPLAY or WAYLAND_DISPLAY); "
                   "figures were only saved.")


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
    from kexp.rundir.read import resolve_runs

    comparison = report.compare_runs(resolve_runs(runs))
    _warn(comparison.warnings)
    click.echo(report.format_comparison(comparison, fmt))


def main() -> None:
    cli(prog_name="kexp")


# ----------------------------------------------------------------------------- shared

def _spec_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                      help="Override a spec value (YAML-typed), e.g. --set fit.epochs=3. "
                           "Repeatable.")(fn)
    fn = click.option("--name", help="Experiment name (overrides the spec's name).")(fn)
    fn = click.option("--seed", type=int, help="Random seed (overrides the spec's seed).")(fn)
    fn = click.option("--epochs", type=click.IntRange(min=1),
                      help="Epochs (overrides fit.epochs).")(fn)
    return fn


def _overrides(overrides: tuple[str, ...], name: str | None, seed: int | None,
               epochs: int | None) -> list[Any]:
    items: list[Any] = list(overrides)
    if name is not None:
        items.append((f"name={name}", f"--name {name}"))
    if seed is not None:
        items.append((f"seed={seed}", f"--seed {seed}"))
    if epochs is not None:
        items.append((f"fit.epochs={epochs}", f"--epochs {epochs}"))
    return items


def _log(message: str) -> None:
    click.echo(message, err=True)


def _fmt_metrics(metrics: dict[str, float]) -> str:
    return "  ".join(f"{k}: {v:.4f}" for k, v in metrics.items())


# ------------------------------------------------------------------------------- run

@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@_spec_options
@click.option("--runs-dir", type=click.Path(file_okay=False), default="runs", show_default=True,
              help="Where run folders are created.")
@user_errors
def run(spec: str, overrides: tuple[str, ...], name: str | None,
        seed: int | None, epochs: int | None, runs_dir: str) -> None:
    """Train and evaluate the experiment in SPEC; write a run folder.

    \b
    Example:
      kexp run configs/mnist.yaml --epochs 2 --set compile.optimizer=sgd
    """
    from kexp import experiment

    options = experiment.Options(overrides=_overrides(overrides, name, seed, epochs),
                                 runs_dir=Path(runs_dir))
    result = experiment.run_file(spec, options, log=_log)
    click.echo(f"{result.evaluated_on} metrics: {_fmt_metrics(result.metrics)}")
    click.echo(f"Run folder: {result.run_dir}")


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@_spec_options
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

    options = experiment.Options(overrides=_overrides(overrides, name, seed, epochs))
    result = experiment.validate_file(spec, options, log=_log)
    click.echo(result.text, nl=False)
    if graph:
        notice = result.draw(Path(graph))
        if notice:
            click.echo(f"Note: {notice}", err=True)
        else:
            click.echo(f"Model graph: {graph}")
    click.echo(f"OK: {spec} is valid.")


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False),
              help="Output CSV (default: RUN_DIR/predictions-<DATA>.csv).")
@user_errors
def predict(run_dir: str, data: str, out: str | None) -> None:
    """Predict DATA (CSV or .npz) with the model and preprocessing of RUN_DIR.

    Writes predicted classes with probabilities (or values, for regression).
    """
    from kexp import predict as predict_mod

    path, rows = predict_mod.predict(Path(run_dir), Path(data), Path(out) if out else None,
                                     log=_log)
    click.echo(f"Wrote {rows} predictions to {path}")


# -------------------------------------------------------------------------------- cv

@cli.command("cv")
@click.argument("spec", type=click.Path(dir_okay=False), required=False)
@_spec_options
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
              help="TensorFlow threads per fold process (default: cores // jobs; Ray: 1).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local processes, or one Ray task per fold (pip install 'kexp[ray]').")
@click.option("--address", help="Ray cluster address (default: start a local Ray instance).")
@click.option("--save-models", is_flag=True, help="Also save each fold's model.keras.")
@click.option("--stack", is_flag=True,
              help="Train the folds together as one model of K disjoint sub-networks (faster for "
                   "small models; Sequential, no validation/callbacks/class_weight).")
@click.option("--plots/--no-plots", default=True, show_default=True,
              help="Draw PNG plots per fold and for the CV.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False, exists=True),
              help="Train only the folds of this CV folder that did not complete, then summarize.")
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
    from kexp.cv.options import (
        EXIT_FOLDS_FAILED,
        EXIT_INTERRUPTED,
        CVInterrupted,
        CVRequest,
    )

    try:
        result = command.run(CVRequest(**options, verbose=ctx.obj["verbose"]), log=_log)
    except CVInterrupted as exc:
        click.secho(f"Interrupted: {exc.reason}. {exc.done} of {exc.total} folds completed and "
                    f"kept in {exc.path}.\nContinue with: kexp cv --resume {exc.path}",
                    err=True, fg="yellow")
        sys.exit(EXIT_INTERRUPTED)
    click.echo(result.table())
    click.echo(f"CV folder: {result.path}")
    for line in result.headlines():
        click.echo(line)
    if result.failed:
        click.secho(f"Error: fold(s) {', '.join(map(str, result.failed))} failed (see folds.csv; "
                    f"rerun them with kexp cv --resume {result.path})", err=True, fg="red")
        sys.exit(EXIT_FOLDS_FAILED)
