"""The ``kexp`` command line: a thin Click layer over the library (the library never
imports Click).

Each command parses its options, calls one library function and prints the result.
Every :class:`kexp.errors.KexpError` becomes one message on stderr and exit code 2.
The spec schema (pydantic) is imported only by the commands that read a spec, and
TensorFlow only by those that train or load models: ``kexp --help``, ``ls``, ``plot``
and ``compare`` start without either.
"""

from __future__ import annotations

import click

from kexp import backend
from kexp.cli import complete, cv, export, reports, runs, sweep
from kexp.cli import init as init_mod

EPILOG = """\b
Examples:
  kexp run configs/mnist.yaml
  kexp run configs/pima.yaml --set fit.epochs=20 --set compile.optimizer=sgd
  kexp validate configs/mnist.yaml
  kexp cv configs/pima.yaml --folds 10 --jobs 2
  kexp sweep configs/mnist.yaml --param fit.batch_size=100,800 --epochs 2
  kexp predict runs/<id> new.csv --out predictions.csv
  kexp ls --sort accuracy --filter status=completed
  kexp plot runs/<id> runs/<other-id> --out plots/
  kexp compare runs/<id> runs/<cv-id>
  kexp schema > kexp.schema.json
  kexp run configs/mnist.yaml --mlflow     # also log to MLflow
  kexp export mlflow runs/<id> --uri http://127.0.0.1:5000
  kexp init data.csv --target label --out spec.yaml
"""


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kexp")
@click.option("-v", "--verbose", is_flag=True, help="Show TensorFlow's start-up log and warnings.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """kexp: YAML in, trained Keras model and run folder out."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    backend.set_verbose(verbose)


for command in (runs.run, runs.validate, runs.predict, cv.cv, sweep.sweep, reports.plot_cmd,
                reports.ls_cmd, reports.compare_cmd, complete.schema_cmd,
                init_mod.init_cmd, export.export_cmd):
    cli.add_command(command)


def main() -> None:
    """The ``kexp`` program: SIGTERM stops it like Ctrl-C (exit 130; a second one while it
    stops is ignored), and output to a closed pipe (``kexp ls | head -1``) is dropped. A
    command that succeeded with TensorFlow loaded leaves at once
    (:func:`kexp.engine.process.quick_exit`)."""
    from kexp.engine.process import command_process, quick_exit, quick_exit_safe

    try:
        with command_process():
            cli(prog_name="kexp")
    except SystemExit as exc:
        from kexp.engine import multihost

        multihost.leave(exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1)
        if exc.code in (0, None) and quick_exit_safe():
            quick_exit()
        raise
