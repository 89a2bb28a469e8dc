"""Shell completion: run-folder arguments complete from ``runs/``; Click's scripts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from kexp.cli import cli
from kexp.cli.complete import run_folders


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("2026-01-01-a", "2026-02-01-b/fold-1", "2026-02-01-b/fold-2", ".hidden"):
        (tmp_path / "runs" / name).mkdir(parents=True)
    (tmp_path / "runs" / "notes.txt").write_text("")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def values(incomplete: str) -> list[str]:
    ctx = click.Context(cli)
    return [item.value for item in run_folders(ctx, click.Argument(["run"]), incomplete)]


def test_lists_run_folders(runs: Path) -> None:
    assert values("") == ["runs/2026-01-01-a", "runs/2026-02-01-b"]
    assert values("runs/2026-02") == ["runs/2026-02-01-b"]
    assert values("runs/2026-02-01-b/") == ["runs/2026-02-01-b/fold-1", "runs/2026-02-01-b/fold-2"]
    assert values("elsewhere/") == []


@pytest.mark.parametrize("words, cword", [
    ("kexp plot runs/2026-0", 2), ("kexp compare runs/x runs/2026-0", 3),
    ("kexp predict runs/2026-0", 2), ("kexp cv --resume runs/2026-0", 3),
    ("kexp sweep --resume runs/2026-0", 3),
])
def test_commands_complete_run_folders(runs: Path, words: str, cword: int) -> None:
    env = {**os.environ, "_KEXP_COMPLETE": "bash_complete", "COMP_WORDS": words,
           "COMP_CWORD": str(cword)}
    out = subprocess.run([sys.executable, "-c", "from kexp.cli import main; main()"], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == ["plain,runs/2026-01-01-a", "plain,runs/2026-02-01-b"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_prints_completion_script(shell: str) -> None:
    env = {**os.environ, "_KEXP_COMPLETE": f"{shell}_source"}
    out = subprocess.run([sys.executable, "-c", "from kexp.cli import main; main()"], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert "_KEXP_COMPLETE" in out and "kexp" in out
