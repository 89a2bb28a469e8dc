"""``kexp schema``: the spec's JSON Schema, its shipped copy and the shipped configs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from kexp.cli import cli
from kexp.spec.editor import REFRESH, SHIPPED, json_schema, json_schema_text

CONFIGS = sorted(Path(__file__).resolve().parents[1].glob("configs/*.yaml"))
VALIDATOR = jsonschema.Draft202012Validator(json_schema())


def test_shipped_copy_is_current() -> None:
    assert SHIPPED.read_text(encoding="utf-8") == json_schema_text(), (
        f"{SHIPPED} is out of date; refresh it with: {REFRESH}")


def test_schema_is_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(json_schema())


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_validate(path: Path) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}"
              for e in VALIDATOR.iter_errors(yaml.safe_load(path.read_text()))]
    assert not errors


def test_short_forms_validate() -> None:
    spec = {
        "data": {"source": "mnist"},
        "preprocess": {"x": [{"scale": 255}, "flatten", {"tokenize": None}]},
        "model": {"layers": [{"Dense": {"units": 8}, "repeat": 2}, {"Dense": {"units": 1}}]},
        "compile": {"loss": {"a": "mse", "b": {"Huber": {"delta": 1.0}}}},
    }
    assert not [e.message for e in VALIDATOR.iter_errors(spec)]


def test_mistakes_are_underlined() -> None:
    spec = {"data": {"source": "mnist"}, "model": {"layers": ["Dense"]},
            "compile": {"loss": "mse"}, "fitt": {}, "preprocess": {"x": ["reshape"]}}
    messages = [e.message for e in VALIDATOR.iter_errors(spec)]
    assert any("'fitt' was unexpected" in m for m in messages)
    assert len(messages) == 2  # fitt, and reshape without its shape


def test_schema_command_prints_it_without_tensorflow() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0 and json.loads(result.output)["title"] == "kexp spec"
    code = ("import sys; from kexp.cli import main; sys.argv = ['kexp', 'schema']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "assert 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
