"""Property test: a spec made by mutating a shipped config (a key deleted or misspelled,
a name misspelled, a value of another type, a number where a mapping is, a negative, NaN,
infinite or huge number where a number is, ...) is either valid or refused with one
message: ``kexp validate`` exits 0 or 2, never prints a traceback, and never leaves a run
folder ``running``. Every number of every shipped config is also set to each of
:data:`BAD_NUMBERS` in turn, with the same outcome.

The configs read tiny copies of their data; the CLI runs in-process. The examples are
the same on every run (``derandomize``); set ``KEXP_SPEC_EXAMPLES=2000`` to try more, and
new ones.
"""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kexp.cli import cli
from tests.conftest import MNIST, ROOT

EXAMPLES = int(os.environ.get("KEXP_SPEC_EXAMPLES", "60"))

Path_ = tuple[Any, ...]

#: numbers no field takes, or only some do: negative, zero, NaN, infinite, huge, tiny
BAD_NUMBERS: list[Any] = [
    -1, -0.5, 0, math.nan, math.inf, -math.inf, 1e20, -1e20, 1e308, 1e-300, 2**31, 2**62,
]

#: values of every YAML type, put where a value of another type is
REPLACEMENTS: list[Any] = [
    None, True, False, 0, -1, 3, 7.5, -0.5, "", "abc", "0:3", [], [1, "a"], {}, {"a": 1},
    {"Dense": {"units": 1}}, [[1]], math.nan, math.inf, -1e20, 1e308,
]


@pytest.fixture(scope="module")
def shipped_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with tiny copies of the shipped data and the example custom code."""
    base = tmp_path_factory.mktemp("properties")
    data = base / "datasets"
    data.mkdir()
    for name, rows in [("pima-indians-diabetes.csv", 150), ("pima-tabular.csv", 150),
                       ("diabetes.csv", 100)]:
        lines = (ROOT / "datasets" / name).read_text().splitlines()[: rows + 1]
        (data / name).write_text("\n".join(lines) + "\n")
    fortunes = pd.read_csv(ROOT / "datasets" / "fortunes-topics.csv")
    fortunes.groupby("topic").head(30).to_csv(data / "fortunes-topics.csv", index=False)
    with np.load(MNIST) as npz:
        np.savez(data / "mnist-sample.npz", x_train=npz["x_train"][:200],
                 y_train=npz["y_train"][:200], x_test=npz["x_test"][:50],
                 y_test=npz["y_test"][:50])
    for folder in ("fashion-folders", "twemoji-folders"):  # small already (under 1 MB)
        shutil.copytree(ROOT / "datasets" / folder, data / folder)
    (base / "examples").mkdir()
    for path in (ROOT / "examples").glob("*.py"):
        (base / "examples" / path.name).write_text(path.read_text())
    return base


def shipped() -> list[dict[str, Any]]:
    """The shipped configs; keras.datasets sources read the shipped sample instead."""
    out = []
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        spec = yaml.safe_load(path.read_text())
        if spec["data"]["source"] == "mnist":
            spec["data"] = {"source": "npz", "path": "datasets/mnist-sample.npz"}
        out.append(spec)
    return out


CONFIGS = shipped()


def paths(node: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    """Every key and list item below ``node``."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield (*prefix, key)
        yield from paths(value, (*prefix, key))


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def numbers(spec: dict[str, Any]) -> list[Path_]:
    """The path of every number in ``spec``."""
    return [path for path in sorted(paths(spec), key=repr) if is_number(at(spec, path))]


def at(spec: Any, path: Path_) -> Any:
    for part in path:
        spec = spec[part]
    return spec


def with_value(spec: dict[str, Any], path: Path_, value: Any) -> dict[str, Any]:
    """A copy of ``spec`` with ``value`` at ``path``."""
    spec = copy.deepcopy(spec)
    at(spec, path[:-1])[path[-1]] = value
    return spec


def misspell(text: str, i: int, kind: int) -> str:
    if not text:
        return "x"
    i %= len(text)
    if kind == 0:
        return text[:i] + text[i + 1:] or "x"  # a letter left out
    if kind == 1:
        return text[:i] + text[i] + text[i:]  # a letter doubled
    j = min(i + 1, len(text) - 1)
    swapped = text[:i] + text[j] + text[i] + text[j + 1:]  # two letters swapped
    return swapped if swapped != text else text + "s"


def mutate(spec: dict[str, Any], draw: Any) -> dict[str, Any]:
    """One mutation at a random place of ``spec`` (a copy)."""
    spec = copy.deepcopy(spec)
    kind = draw(st.sampled_from(["delete", "retype", "misspell_key", "misspell_value", "number",
                                 "wrap", "bad_number"]))
    numeric = numbers(spec)
    if kind == "bad_number" and numeric:  # a number of the spec: negative, NaN, huge, ...
        return with_value(spec, draw(st.sampled_from(numeric)), draw(st.sampled_from(BAD_NUMBERS)))
    path = draw(st.sampled_from(sorted(paths(spec), key=repr)))
    parent: Any = spec
    for part in path[:-1]:
        parent = parent[part]
    key = path[-1]
    value = parent[key]
    if kind == "delete":
        del parent[key]
    elif kind == "retype":
        others = [r for r in REPLACEMENTS if type(r) is not type(value)]
        parent[key] = copy.deepcopy(draw(st.sampled_from(others)))
    elif kind == "misspell_key" and isinstance(parent, dict) and isinstance(key, str):
        new = misspell(key, draw(st.integers(0, 40)), draw(st.integers(0, 2)))
        parent[new] = parent.pop(key)
    elif kind == "misspell_value" and isinstance(value, str):
        parent[key] = misspell(value, draw(st.integers(0, 40)), draw(st.integers(0, 2)))
    elif kind in ("number", "bad_number"):
        parent[key] = draw(st.sampled_from([0, 2, -3, 0.5, 1.0, *BAD_NUMBERS]))
    else:
        parent[key] = [value] if draw(st.booleans()) else {"x": value}
    return spec


@st.composite
def specs(draw: Any) -> dict[str, Any]:
    spec = draw(st.sampled_from(CONFIGS))
    for _ in range(draw(st.integers(1, 2))):
        spec = mutate(spec, draw)
    return spec


def validate(text: str, folder: Path) -> Result:
    """``kexp validate`` of the spec ``text``, run in ``folder``."""
    path = folder / "spec.yaml"
    path.write_text(text)
    here = Path.cwd()
    os.chdir(folder)
    try:
        return CliRunner().invoke(cli, ["validate", str(path)])
    finally:
        os.chdir(here)


def clean(result: Result, where: str) -> None:
    """``kexp validate``'s result is a valid spec or one clean message."""
    assert result.exit_code in (0, 2), where
    assert "Traceback" not in result.output, where
    assert "unexpected failure" not in result.output, where


def running_folders(runs: Path) -> list[str]:
    if not runs.is_dir():
        return []
    return [p.parent.name for p in runs.rglob("status.json")
            if json.loads(p.read_text()).get("status") == "running"]


@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=EXAMPLES <= 60,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(spec=specs())
def test_mutated_shipped_configs_exit_0_or_2(spec: dict[str, Any], shipped_data: Path) -> None:
    text = yaml.safe_dump(spec, sort_keys=False)
    result = validate(text, shipped_data)
    where = f"\n--- spec:\n{text}--- output:\n{result.output}"
    clean(result, where)
    assert not running_folders(shipped_data / "runs"), where


#: Keras layers' own arguments, which Keras checks when the model is built; a huge count
#: there asks TensorFlow for that much memory, so only the other bad numbers go there
LAYER_ARGUMENTS = (("model", "layers"), ("model", "nodes"))


@pytest.mark.parametrize("spec", CONFIGS, ids=[c["name"] for c in CONFIGS])
def test_every_number_of_the_configs_set_to_a_bad_number_is_valid_or_refused(
        spec: dict[str, Any], shipped_data: Path) -> None:
    for path in numbers(spec):
        layer = path[:2] in LAYER_ARGUMENTS
        for value in BAD_NUMBERS:
            if layer and isinstance(value, int) and abs(value) > 2**30:
                continue
            text = yaml.safe_dump(with_value(spec, path, value), sort_keys=False)
            result = validate(text, shipped_data)
            clean(result, f"\n--- {path} = {value!r}:\n{text}--- output:\n{result.output}")
    assert not running_folders(shipped_data / "runs")


@pytest.mark.parametrize("spec", CONFIGS, ids=[c["name"] for c in CONFIGS])
def test_the_unmutated_configs_are_valid(spec: dict[str, Any], shipped_data: Path) -> None:
    result = validate(yaml.safe_dump(spec, sort_keys=False), shipped_data)
    assert result.exit_code == 0, result.output
