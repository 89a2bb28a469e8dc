"""Survey a CSV file (or an image folder), write its spec, check the spec, then print or save it."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from kexp.errors import KexpError
from kexp.spec import configure, parse_spec

if TYPE_CHECKING:
    from kexp.scaffold.survey import Task


@dataclass
class InitResult:
    """The spec text, and where it was written (None: for stdout)."""

    text: str
    out: Path | None


def command_line(data: str, target: str | None, task: str | None, out: str | None) -> str:
    """The ``kexp init`` command that wrote a spec (its first comment line)."""
    parts = ["kexp", "init", data, *(["--target", target] if target is not None else [])]
    parts += ["--task", task] if task else []
    parts += ["--out", out] if out else []
    return shlex.join(parts)


def check(text: str, out: Path | None) -> None:
    """Load and validate the written spec with kexp's own loader and schema; a spec
    that does not validate is a bug of kexp init (an unexpected failure, exit 1)."""
    try:
        configure(parse_spec(text, out), [])
    except KexpError as exc:
        raise RuntimeError(f"kexp init wrote a spec that does not validate: {exc}") from exc


#: the values of ``--task``
TASKS = ("classification", "regression")


def init_spec(data: str, target: str | None, task: str | None = None, out: str | None = None,
              force: bool = False) -> InitResult:
    """``kexp init``: the checked spec text for the CSV file ``data``, written to ``out``
    (refused when it exists, unless ``force``) or returned for stdout. ``task``
    (classification or regression) overrides the task read from the target. A folder
    ``data`` gives a small CNN for its class subfolders of images (no target)."""
    if task is not None and task not in TASKS:
        raise KexpError(f"--task: expected one of {', '.join(TASKS)}, received {task!r}")
    dest = Path(out) if out else None
    if dest is not None and dest.exists() and not force:
        raise KexpError(f"--out: {dest} already exists; expected a new file. Add --force to "
                        "overwrite it, or choose another --out")
    if dest is not None and dest.is_dir():
        raise KexpError(f"--out: {dest} is a folder; expected a file name such as spec.yaml")
    if dest is not None and not dest.absolute().parent.is_dir():
        parent = dest.absolute().parent
        what = "is a file" if parent.exists() else "does not exist"
        raise KexpError(f"--out: {dest}: the folder {parent} {what}; expected a file in a folder "
                        f"that exists. Make the folder first (mkdir -p {dest.parent}), or choose "
                        "another --out")
    if Path(data).is_dir():  # a folder of class subfolders of images
        if target is not None:
            raise KexpError(f"--target: {data} is a folder of images, whose classes are its "
                            "subfolders; remove --target")
        from kexp.scaffold.images import image_spec_text, survey_images

        text = image_spec_text(survey_images(data), command_line(data, None, task, out))
    else:
        if target is None:
            raise KexpError(f"--target: missing; name the column of {data} to predict "
                            "(its name, or its 0-based index)")
        from kexp.scaffold.survey import survey
        from kexp.scaffold.write import spec_text

        chosen = cast("Task | None", task)
        text = spec_text(survey(data, target, chosen), command_line(data, target, task, out))
    check(text, dest)
    if dest is not None:
        try:
            dest.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise KexpError(f"--out: cannot write {dest} ({exc.strerror or exc}); choose a "
                            "file this user can write") from None
    return InitResult(text, dest)
