"""The live view of ``kexp cv`` and ``kexp sweep`` (:mod:`kexp.engine.progress`): its
tally from the runner's and the workers' events, and the view in a real pseudo-terminal,
with plain lines through a pipe."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from kexp.engine import progress
from tests.conftest import tiny_spec
from tests.helpers import kexp_env

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_the_tally_counts_done_running_and_left_with_each_running_epoch() -> None:
    tally = progress.Tally("folds", total=5, done=1)
    for event in [("started", 2), ("started", 3), ("epoch", 2, 3, 10), ("epoch", 3, 5, 10)]:
        tally.handle(event)
    head, *rows = tally.lines()
    assert head.startswith("folds: 1/5 done, 2 running, 2 left")
    assert "elapsed, about" in head
    assert rows == ["  fold 2: epoch 3/10", "  fold 3: epoch 5/10"]
    assert tally.fraction() == (0.3 + 0.5) / 4  # of the 4 folds this command trains
    tally.handle(("finished", 2))
    assert tally.lines()[0].startswith("folds: 2/5 done, 1 running, 2 left")


def test_the_time_left_follows_the_pace_so_far() -> None:
    tally = progress.Tally("trials", total=4)
    tally.t0 -= 30  # 30 s spent on one trial of four: about 90 s left
    tally.handle(("started", 1))
    tally.handle(("finished", 1))
    assert "about 1m30s left" in tally.lines()[0]
    assert progress.clock(5) == "5s" and progress.clock(3725) == "1h02m"


def test_a_task_inside_a_task_reports_under_the_outer_one() -> None:
    events: list[tuple] = []
    progress.send_to(events.append)
    try:
        progress.started(7)
        with progress.working_on(7):
            progress.started(1)  # a sweep trial's CV fold: not a task of the sweep
            with progress.working_on(1):
                progress.epoch(2, 4)
            progress.finished(1)
        progress.finished(7)
        progress.epoch(1, 1)  # outside any task: nothing to report
    finally:
        progress.send_to(None)
    assert events == [("started", 7), ("epoch", 7, 2, 4), ("finished", 7)]


SPEC = tiny_spec("slowish", samples=600, epochs=8, batch_size=4)


def _kexp(args: list[str], cwd: Path, terminal: bool) -> str:
    """``kexp ARGS``' output, on a pseudo-terminal or through a pipe; every worker --jobs
    asks for, however busy the machine is (kexp's busy-core rule off)."""
    env = kexp_env(TERM="xterm", COLUMNS="100", KEXP_BUSY_CHECK="0")
    command = [sys.executable, "-m", "kexp", *args]
    if not terminal:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout + done.stderr
    main, child = pty.openpty()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdin=child, stdout=child, stderr=child)
    os.close(child)
    out = b""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 1)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(main)
    assert proc.wait(timeout=30) == 0, out.decode(errors="replace")
    return ANSI.sub("", out.decode(errors="replace"))


def test_cv_shows_a_live_view_on_a_terminal_and_plain_lines_in_a_pipe(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(SPEC)
    args = ["cv", "spec.yaml", "--folds", "2", "--no-plots", "--runs-dir", "runs"]
    shown = _kexp(args, tmp_path, terminal=True)
    assert re.search(r"folds: \d/2 done, 1 running, \d left", shown), shown
    assert re.search(r"fold [12]: epoch \d/8", shown), shown  # the running fold's epoch
    assert "accuracy:" in shown and "(2 folds)" in shown  # the summary, after the view
    piped = _kexp(args, tmp_path, terminal=False)
    assert "done," not in piped and "epoch " not in piped  # no view in a pipe
    assert re.search(r"fold\s+1/2 completed", piped) and "(2 folds)" in piped


def test_a_sweep_on_two_processes_shows_the_workers_epochs(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(SPEC)
    shown = _kexp(["sweep", "spec.yaml", "--param", "fit.batch_size=4,5,6,7", "--jobs", "2",
                   "--no-plots", "--no-save-models", "--runs-dir", "runs"], tmp_path,
                  terminal=True)
    assert re.search(r"trials: \d/4 done, 2 running", shown), shown  # a worker trains too
    (sweep,) = (tmp_path / "runs").iterdir()
    main = json.loads((sweep / "status.json").read_text())["pid"]
    by_worker = [int(t.name[:3]) for t in sorted((sweep / "trials").iterdir())
                 if json.loads((t / "status.json").read_text())["pid"] != main]
    assert by_worker, "the worker trained no trial"
    shown_epochs = {int(k) for k in re.findall(r"trial (\d): epoch [1-8]/8", shown)}
    assert set(by_worker) & shown_epochs, shown  # the worker's epochs reach the view
    assert "Best: trial" in shown
