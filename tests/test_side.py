"""The side part of the suite (tests/backend_runs.py's SIDE_FILES), run in a pytest process
of its own beside this one when the whole suite runs; its result is checked here, last."""

from __future__ import annotations

import pytest


def test_the_side_part_of_the_suite_passes() -> None:
    from tests import backend_runs

    if not backend_runs.SIDE_IDS:
        pytest.skip("none of the side part's tests is selected in this session")
    code, output = backend_runs.result(backend_runs.SIDE)
    assert code == 0, output[-8000:]
    assert " passed" in output, output[-2000:]
