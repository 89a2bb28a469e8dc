"""Plain helpers the test modules share (the fixtures are in conftest.py): the CLI in this
process, the one folder a command made, spec edits, and kexp in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from kexp.cli import cli
from tests.conftest import ROOT

# ------------------------------------------------------------------------ in this process


def invoke(*args: str, exit_code: int | None = None, catch_exceptions: bool = True) -> Result:
    """``kexp ARGS`` in this process; with ``exit_code``, the test fails unless it exits so.
    ``result.output`` holds stderr too (Click 8.2+)."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=catch_exceptions)
    if exit_code is not None:
        assert result.exit_code == exit_code, result.output + repr(result.exception)
    return result


def only_folder(runs: Path) -> Path:
    """The one run, CV or sweep folder a command made in ``runs``."""
    folders = [p for p in Path(runs).iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


def write_yaml(folder: Path, spec: dict[str, Any], name: str = "spec.yaml") -> Path:
    """``spec`` as YAML in ``folder/name``, its keys in their order."""
    path = folder / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def replace_once(base: str, old: str, new: str) -> str:
    """``base`` with its first ``old`` replaced by ``new``; ``old`` must be there."""
    assert old in base, old
    return base.replace(old, new, 1)


def set_at(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    """An edit of a spec dict that sets the dotted ``path`` (made as needed) to ``value``."""

    def edit(spec: dict[str, Any]) -> None:
        *head, last = path.split(".")
        node = spec
        for part in head:
            node = node.setdefault(part, {})
        node[last] = value

    return edit


def ctrl_c_at_second_trial(run_trial: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """kexp sweep's ``run_trial``, with a Ctrl-C as the second trial starts."""
    calls = 0

    def stop_at_second(task: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt
        return run_trial(task)

    return stop_at_second


# ------------------------------------------------------------------------- subprocesses

def kexp_env(**extra: str) -> dict[str, str]:
    """The environment of a kexp subprocess: this one's, kexp imported from this checkout,
    TensorFlow quiet, and ``extra``."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL to the process group of ``proc`` (started with ``start_new_session``)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def status_once_training(root: Path, pattern: str, proc: subprocess.Popen, timeout: float,
                         epochs: int = 1) -> Path:
    """The first ``root/pattern`` status.json that says running with ``epochs`` done, as
    soon as one does. Should ``proc`` exit or ``timeout`` pass first, its process group is
    killed and the test fails with its ``root/stderr.txt``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        for path in root.glob(pattern):
            try:
                status = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if status.get("status") == "running" and status.get("epochs", 0) >= epochs:
                return path
        time.sleep(0.2)
    kill_group(proc)
    err = root / "stderr.txt"
    pytest.fail(f"training did not start (exit {proc.returncode}): "
                f"{err.read_text() if err.exists() else ''}")
