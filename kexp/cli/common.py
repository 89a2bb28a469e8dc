"""What every command shares: KexpError -> one message and exit 2, the spec options
(``--set``, ``--name``, ``--seed``, ``--epochs``) and how progress is printed."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

import click

from kexp.errors import KexpError, UsageError


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


@contextlib.contextmanager
def resumable() -> Iterator[None]:
    """A CV or sweep: shown live while it trains when stdout is a terminal (one line per
    finished fold or trial otherwise); stopped with work left, it says how to go on and
    exits 130."""
    from kexp.engine import progress
    from kexp.engine.signals import Unfinished

    progress.enable(sys.stdout.isatty())
    try:
        yield
    except Unfinished as exc:
        click.secho(exc.advice(), err=True, fg="yellow")
        sys.exit(130)
    finally:
        progress.enable(False)


def warn(lines: list[str]) -> None:
    for line in dict.fromkeys(lines):
        click.secho(f"Warning: {line}", err=True, fg="yellow")


def spec_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                      help="Override a spec value (YAML-typed), e.g. --set fit.epochs=3. "
                           "Repeatable.")(fn)
    fn = click.option("--name", help="Experiment name (overrides the spec's name).")(fn)
    fn = click.option("--seed", type=int, help="Random seed (overrides the spec's seed).")(fn)
    fn = click.option("--epochs", type=click.IntRange(min=1),
                      help="Epochs (overrides fit.epochs).")(fn)
    fn = backend_option(fn)
    return fn


def backend_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--backend", type=click.Choice(["tensorflow", "jax", "torch", "auto"]),
        help="Keras's backend (overrides the spec's backend; auto: jax for a model without "
             "convolutions when installed, else tensorflow; default: KERAS_BACKEND, else tensorflow).")(fn)


def spec_overrides(overrides: tuple[str, ...], name: str | None, seed: int | None,
                   epochs: int | None, backend: str | None) -> list[Any]:
    from kexp.spec import option_items

    return [*overrides, *option_items(name, seed, epochs, backend)]


def mlflow_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--mlflow", "mlflow", is_flag=False, flag_value="", default=None, metavar="[URI]",
        help="Log to MLflow while training (pip install 'kexp[mlflow]'): to URI, or alone "
             "MLflow's default store in the current folder (the spec's tracking.mlflow). "
             "Put it after SPEC.")(fn)


def mlflow_overrides(uri: str | None) -> list[Any]:
    """``--mlflow [URI]`` as spec overrides; exit 2 with the install command without MLflow."""
    if uri is None:
        return []
    from kexp.track.mlflow import require

    require(None)
    items: list[Any] = [("tracking.mlflow.enabled=true", "--mlflow")]
    if uri:
        items.append((f"tracking.mlflow.uri={json.dumps(uri)}", f"--mlflow {uri}"))
    return items


def log(message: str) -> None:
    click.echo(message, err=True)


def fmt_metrics(metrics: dict[str, float]) -> str:
    return "  ".join(f"{k}: {v:.4f}" for k, v in metrics.items())
