"""A pytest plugin: parts of the suite that run in pytest processes of their own, beside
the rest, started as soon as the session has collected the test that waits for them; that
test runs last. Whatever still runs when the session ends is killed.

- tests/backend_suite on JAX and on PyTorch (``KERAS_BACKEND`` set), waited for by
  tests/test_backends.py's :data:`WANTED`;
- the side part (:data:`SIDE_FILES`: the shipped configs as shipped, the fault and resume
  tests, MLflow's server; subprocess-heavy and about one core's work), when the session
  holds :data:`SIDE_WANTED` (tests/test_side.py): those of the session's selected tests
  run in the side process, on the same node ids, instead of in this one. The main suite
  keeps about one core busy, so on 2 cores the two halves overlap.

Loaded by ``tests/conftest.py`` (``pytest_plugins``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: the test that reads the runs' results
WANTED = "test_the_backend_suite_passes_on_jax_and_torch"
BACKENDS = ("jax", "torch")
#: the test that reads the side run's result, and the files whose selected tests go there
SIDE_WANTED = "test_the_side_part_of_the_suite_passes"
SIDE = "side"
#: set in the side run's environment (and KEXP_BACKEND_SUITE in the backend suites'): a
#: run of a part starts no part of its own
SIDE_RUN = "KEXP_SIDE_RUN"
SIDE_FILES = ("test_configs.py", "test_cv_faults.py", "test_faults.py", "test_resume.py",
              "test_mlflow.py")
#: backend (or SIDE) -> (its pytest process, the file its output goes to)
RUNS: dict[str, tuple[subprocess.Popen, Path]] = {}
#: the node ids the side run is to run (set once the session has chosen its tests)
SIDE_IDS: list[str] = []


def installed() -> list[str]:
    return [name for name in BACKENDS if find_spec(name) is not None]


def start(name: str) -> None:
    """tests/backend_suite on ``name`` (or, for :data:`SIDE`, the side part's tests), in a
    process group of its own."""
    out = Path(tempfile.mkstemp(prefix=f"kexp-suite-{name}-", suffix=".txt")[1])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    if name == SIDE:
        env[SIDE_RUN] = "1"
        args = ["-rfE", *SIDE_IDS]
    else:
        env.update(KERAS_BACKEND=name, KEXP_BACKEND_SUITE="1")
        args = ["-x", str(ROOT / "tests" / "backend_suite")]
    with open(out, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
            cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    RUNS[name] = (proc, out)


def result(name: str, timeout: float = 1800) -> tuple[int, str]:
    """The run on ``name`` (started now if it was not): its exit code and output."""
    if name not in RUNS:
        start(name)
    proc, out = RUNS[name]
    code = proc.wait(timeout=timeout)
    return code, out.read_text()


@pytest.hookimpl(trylast=True)  # after -m and -k deselected theirs
def pytest_collection_modifyitems(session: Any, config: Any, items: list[Any]) -> None:
    """The tests that wait for the runs go last: the rest of the suite runs meanwhile; with
    the side run's test selected, the side part's tests leave this session for it."""
    if not _a_part() and any(item.name == SIDE_WANTED for item in items):
        side = [item for item in items if Path(str(item.fspath)).name in SIDE_FILES]
        if side:
            SIDE_IDS[:] = [item.nodeid for item in side]
            gone = {id(item) for item in side}
            items[:] = [item for item in items if id(item) not in gone]
            config.hook.pytest_deselected(items=side)  # counted here as run elsewhere
    waiting = [item for item in items if item.name in (WANTED, SIDE_WANTED)]
    if waiting:
        items[:] = [item for item in items if item.name not in (WANTED, SIDE_WANTED)] + waiting


def _a_part() -> bool:
    """Whether this session is one of the parts (a backend suite, the side run)."""
    return "1" in (os.environ.get("KEXP_BACKEND_SUITE"), os.environ.get(SIDE_RUN))


def pytest_collection_finish(session: Any) -> None:
    if _a_part() or session.config.option.collectonly:
        return
    if SIDE_IDS:
        start(SIDE)
    if any(item.name == WANTED for item in session.items):
        for name in installed():
            start(name)


def pytest_sessionfinish(session: Any) -> None:
    for proc, out in RUNS.values():
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        out.unlink(missing_ok=True)
    RUNS.clear()
