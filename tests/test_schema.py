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
from pydantic import ValidationError

from kexp.cli import cli
from kexp.spec.editor import REFRESH, SHIPPED, json_schema, json_schema_text
from kexp.spec.schema import Config

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


def _properties(schema: object, where: str = "") -> list[tuple[str, dict]]:
    """Every property of every object in a JSON Schema, as ("Model.key", its schema)."""
    found: list[tuple[str, dict]] = []
    if isinstance(schema, dict):
        for name, sub in (schema.get("properties") or {}).items():
            found.append((f"{where}.{name}" if where else name, sub))
            found += _properties(sub, f"{where}.{name}" if where else name)
        for key, value in schema.items():
            if key == "$defs":
                for name, sub in value.items():
                    found += _properties(sub, name)
            elif key != "properties":
                found += _properties(value, where)
    elif isinstance(schema, list):
        for item in schema:
            found += _properties(item, where)
    return found


def test_every_property_has_a_description() -> None:
    props = _properties(json_schema())
    assert len(props) > 100  # every model's keys, the union members' and the step items' too
    missing = [name for name, sub in props
               if not (isinstance(sub.get("description"), str) and sub["description"].strip())]
    assert not missing, f"properties without a description: {', '.join(missing)}"


def test_descriptions_are_one_line_and_name_no_tutorial_file() -> None:
    for name, sub in _properties(json_schema()):
        text = sub["description"]
        assert "\n" not in text and len(text) <= 300, name
        assert ".md" not in text and "docs/" not in text, name


def _at(path: str) -> dict:
    """The JSON Schema of a spec key (``fit.batch_size``), its null alternative left out."""
    schema = json_schema()
    node: dict = schema
    for key in path.split("."):
        node = node["properties"][key]
        while "$ref" in node:
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
        if "properties" not in node and "anyOf" in node:
            options = [o for o in node["anyOf"] if o != {"type": "null"}]
            node = options[0] if len(options) == 1 else node
            while "$ref" in node:
                node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


@pytest.mark.parametrize(("path", "bounds"), [
    ("fit.batch_size", {"minimum": 1, "maximum": 2**31 - 1}),
    ("fit.epochs", {"minimum": 1, "maximum": 1_000_000}),
    ("seed", {"minimum": 0, "maximum": 2**32 - 1}),
    ("cv.seed", {"minimum": 0, "maximum": 2**32 - 1}),
    ("cv.folds", {"minimum": 2}),
    ("cv.repeats", {"exclusiveMinimum": 0}),
    ("compile.steps_per_execution", {"minimum": 1, "maximum": 2**31 - 1}),
    ("fit.validation_split", {"minimum": 0, "exclusiveMaximum": 1}),
    ("sweep.cv", {"minimum": 2}),
])
def test_limits_are_in_the_schema(path: str, bounds: dict) -> None:
    node = _at(path)
    assert {k: node.get(k) for k in bounds} == bounds, node


def test_holdout_size_is_a_fraction_or_a_count() -> None:
    size = json_schema()["$defs"]["Holdout"]["properties"]["size"]
    assert {"type": "integer", "minimum": 1} in size["anyOf"]
    assert {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1} in size["anyOf"]
    assert "gt" not in size  # pydantic's keyword, not JSON Schema's


def _spec(**sections: dict) -> dict:
    spec: dict = {"data": {"source": "random"}, "model": {"layers": [{"Dense": {"units": 1}}]},
                  "compile": {"loss": "mse"}}
    for name, value in sections.items():
        spec[name] = {**spec.get(name, {}), **value} if isinstance(value, dict) else value
    return spec


#: values just outside and just inside each limit: (section, values, refused)
EDGES = [
    ("fit", {"batch_size": 0}, True), ("fit", {"batch_size": 2**31}, True),
    ("fit", {"batch_size": 2**31 - 1}, False), ("fit", {"epochs": 0}, True),
    ("fit", {"epochs": 1_000_001}, True), ("fit", {"epochs": 1_000_000}, False),
    ("fit", {"validation_split": 1.0}, True), ("fit", {"validation_split": -0.1}, True),
    ("fit", {"validation_split": 0.5}, False),
    ("compile", {"loss": "mse", "steps_per_execution": 0}, True),
    ("compile", {"loss": "mse", "steps_per_execution": 70}, False),
    ("seed", -1, True), ("seed", 2**32, True), ("seed", 2**32 - 1, False), ("seed", 0, False),
    ("cv", {"folds": 1}, True), ("cv", {"folds": 2}, False), ("cv", {"seed": 2**32}, True),
    ("data", {"source": "random", "test": {"size": 1.5}}, True),
    ("data", {"source": "random", "test": {"size": 0}}, True),
    ("data", {"source": "random", "test": {"size": 0.25}}, False),
    ("data", {"source": "random", "test": {"size": 100}}, False),
    ("data", {"source": "random", "test": {"random_state": -1}}, True),
    ("preprocess", {"x": [{"tokenize": {"max_tokens": 2}}]}, True),
    ("preprocess", {"x": [{"tokenize": {"max_tokens": 3}}]}, False),
    ("sweep", {"method": "random", "trials": 2,
               "parameters": {"a": {"loguniform": [0, 1]}}}, True),
    ("sweep", {"method": "random", "trials": 2,
               "parameters": {"a": {"loguniform": [1.0e-4, 1.0e-2]}}}, False),
]


@pytest.mark.parametrize(("section", "value", "refused"), EDGES,
                         ids=[f"{s}={v}" for s, v, _ in EDGES])
def test_the_schema_flags_what_the_spec_refuses(section: str, value: object, refused: bool) -> None:
    spec = _spec(**{section: value})
    flagged = [e.message for e in VALIDATOR.iter_errors(spec)]
    assert bool(flagged) == refused, flagged
    try:
        Config.model_validate(spec)
    except ValidationError:
        assert refused
    else:
        assert not refused
