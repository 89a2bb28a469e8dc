"""A pytest plugin: tests/backend_suite's runs on JAX and PyTorch (a pytest process each,
``KERAS_BACKEND`` set) start as soon as the session has collected the test that checks
them (tests/test_backends.py), and run beside the rest of the suite, which keeps about one
core busy; that test runs last and waits for them. Whatever still runs when the session ends is killed.
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

ROOT = Path(__file__).resolve().parent.parent
#: the test that reads the runs' results
WANTED = "test_the_backend_suite_passes_on_jax_and_torch"
BACKENDS = ("jax", "torch")
#: backend -> (its pytest process, the file its output goes to)
RUNS: dict[str, tuple[subprocess.Popen, Path]] = {}


def installed() -> list[str]:
    return [name for name in BACKENDS if find_spec(name) is not None]


def start(name: str) -> None:
    """tests/backend_suite on ``name``, in a process group of its own."""
    out = Path(tempfile.mkstemp(prefix=f"kexp-backend-suite-{name}-", suffix=".txt")[1])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
           "KERAS_BACKEND": name, "KEXP_BACKEND_SUITE": "1"}
    with open(out, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
             str(ROOT / "tests" / "backend_suite")],
            cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    RUNS[name] = (proc, out)


def result(name: str, timeout: float = 1800) -> tuple[int, str]:
    """The run on ``name`` (started now if it was not): its exit code and output."""
    if name not in RUNS:
        start(name)
    proc, out = RUNS[name]
    code = proc.wait(timeout=timeout)
    return code, out.read_text()


def pytest_collection_modifyitems(session: Any, config: Any, items: list[Any]) -> None:
    """The test that waits for the runs goes last: the rest of the suite runs meanwhile."""
    wanted = [item for item in items if item.name == WANTED]
    if wanted:
        items[:] = [item for item in items if item.name != WANTED] + wanted


def pytest_collection_finish(session: Any) -> None:
    if os.environ.get("KEXP_BACKEND_SUITE") == "1":
        return
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
