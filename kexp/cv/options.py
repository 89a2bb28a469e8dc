"""What ``kexp cv`` is asked to do, and the ways it can end.

:class:`CVOptions` says how the folds are run (not part of the spec).
:class:`CVRequest` holds the command's options as given: it turns the CV options
into spec overrides (``--folds 5`` -> ``cv.folds=5``, origin ``--folds 5``) and
refuses combinations that do not go together (:class:`UsageError`).
:class:`CVInterrupted` ends a CV whose finished folds are kept for ``--resume``.

Light on purpose: the command line imports this module before the spec is checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kexp.engine.cores import threads_per_worker
from kexp.engine.signals import Unfinished
from kexp.errors import UsageError

#: exit codes of ``kexp cv`` besides 0 (all folds completed) and 2 (bad input)
EXIT_FOLDS_FAILED = 1
EXIT_INTERRUPTED = 130

#: CV option of the command line -> (key under ``cv`` in the spec, the option as typed)
CV_OVERRIDES = (
    ("folds", "folds", "--folds"),
    ("repeats", "repeats", "--repeats"),
    ("group", "group", "--group"),
    ("cv_seed", "seed", "--cv-seed"),
    ("stratify", "stratify", "--stratify"),
)

#: options that ``--resume`` takes from the CV folder instead, in the order they are named
FROM_THE_CV_FOLDER = (
    ("spec", "SPEC"), ("overrides", "--set"), ("name", "--name"), ("seed", "--seed"),
    ("epochs", "--epochs"), ("backend", "--backend"), ("folds", "--folds"), ("repeats", "--repeats"),
    ("shuffle", "--shuffle"), ("stratify", "--stratify"), ("group", "--group"),
    ("cv_seed", "--cv-seed"),
)


class CVInterrupted(Unfinished):
    """Ctrl-C, SIGTERM or a lost worker: finished folds are on disk; resume with --resume."""

    unit = "folds"
    command = "kexp cv"


@dataclass
class CVOptions:
    """How the folds are run (not part of the spec)."""

    jobs: int = 1
    executor: str = "local"  # local | ray
    address: str | None = None  # Ray cluster address; None starts a local instance
    threads: int | None = None  # TensorFlow threads per fold process (default cores // jobs)
    save_models: bool = False
    plots: bool = True
    stack: bool = False  # train the folds together as one model (kexp.cv.stack)
    #: with ``stack``, the folds trained already (kexp.cv.stack.Trained: a vectorized
    #: sweep's, kexp.sweep.stacked): only recorded
    trained: Any = None
    #: build and trace a new model for every fold instead of reusing a worker's (kexp.train.warm)
    fresh_models: bool = False
    #: worker processes started already (kexp.engine.workers.start); None: start them
    workers: Any = None

    def fold_threads(self) -> int:
        return threads_per_worker(self.jobs, self.threads)


@dataclass
class CVRequest:
    """The options of ``kexp cv``, as given on the command line."""

    spec: str | None = None
    overrides: tuple[str, ...] = ()
    name: str | None = None
    seed: int | None = None
    epochs: int | None = None
    backend: str | None = None
    runs_dir: str = "runs"
    folds: int | None = None
    repeats: int | None = None
    shuffle: bool | None = None
    stratify: str | None = None
    group: str | None = None
    cv_seed: int | None = None
    jobs: int = 1
    threads: int | None = None
    executor: str = "local"
    address: str | None = None
    save_models: bool = False
    stack: bool = False
    fresh_models: bool = False
    plots: bool = True
    resume_dir: str | None = None
    verbose: bool = False

    def check(self) -> None:
        """Raise UsageError for a missing SPEC, or for a SPEC or settings given with --resume."""
        if self.resume_dir is None:
            if self.spec is None:
                raise UsageError("give a SPEC file, or --resume runs/<id>")
            return
        given = [
            "--no-shuffle" if attr == "shuffle" and self.shuffle is False else option
            for attr, option in FROM_THE_CV_FOLDER if getattr(self, attr) not in (None, ())
        ]
        if given:
            raise UsageError("--resume takes the spec and settings from the CV folder; "
                             f"remove {', '.join(given)}")

    def spec_overrides(self) -> list[Any]:
        """``--set`` items, then ``(override, origin)`` pairs for the other spec options."""
        from kexp.spec import option_items

        items: list[Any] = [*self.overrides,
                            *option_items(self.name, self.seed, self.epochs, self.backend)]
        for attr, key, option in CV_OVERRIDES:
            value = getattr(self, attr)
            if value is not None:
                items.append((f"cv.{key}={value}", f"{option} {value}"))
        if self.shuffle is not None:
            items.append((f"cv.shuffle={str(self.shuffle).lower()}",
                          "--shuffle" if self.shuffle else "--no-shuffle"))
        return items

    def cv_options(self) -> CVOptions:
        return CVOptions(jobs=self.jobs, executor=self.executor, address=self.address,
                         threads=self.threads, save_models=self.save_models, plots=self.plots,
                         stack=self.stack, fresh_models=self.fresh_models)
