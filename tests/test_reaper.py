"""A failing fault test leaves no process behind (tests/reaper.py), checked by running
such a test in a pytest of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT

FAILING = '''
import subprocess, sys, time
from pathlib import Path


def test_starts_a_session_then_fails(tmp_path):
    code = ("import subprocess, sys, time; "
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
            "time.sleep(600)")
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    Path({pids!r}).write_text(str(proc.pid))
    time.sleep(1.0)
    assert False, "a helper timed out before the test's finally"


def test_starts_a_plain_process_then_fails():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    Path({pids!r} + "-plain").write_text(str(proc.pid))
    assert False
'''


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_a_failing_test_leaves_no_process_behind(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    (tmp_path / "test_inner.py").write_text(FAILING.replace("{pids!r}", repr(str(pids))))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.reaper", "-p", "no:cacheprovider",
         str(tmp_path / "test_inner.py")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "2 failed" in done.stdout, done.stdout + done.stderr
    leader, plain = int(pids.read_text()), int(Path(f"{pids}-plain").read_text())
    deadline = time.monotonic() + 10
    while (_group_alive(leader) or _alive(plain)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _group_alive(leader), "the session (and its child) outlived the failing test"
    assert not _alive(plain), "the process outlived the failing test"
