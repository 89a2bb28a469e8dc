from __future__ import annotations

import pytest

from kexp.errors import ConfigError
from kexp.spec import apply_overrides, format_path, parse_override, parse_spec


def test_lines_are_recorded_for_every_path():
    spec = parse_spec("name: a\nfit:\n  epochs: 3\nmodel:\n  layers:\n    - Dense: {units: 1}\n")
    assert spec.lines[("fit", "epochs")] == 3
    assert spec.lines[("model", "layers", 0, "Dense", "units")] == 6
    assert spec.locate(("fit", "epochs", "nonexistent")) == (3, None)


def test_format_path():
    assert format_path(("model", "layers", 2, "Dense", "units")) == "model.layers[2].Dense.units"


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "is empty"),
        ("# only a comment\n", "is empty"),
        ("- a\n- b\n", "expected a mapping"),
        ("a: [1, 2\n", "invalid YAML"),
        ("a: !!python/object/apply:os.system [ls]\n", "unsupported YAML tag"),
        ("a: 1\na: 2\n", "key given twice"),
    ],
)
def test_bad_yaml(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_spec(text)


def test_overrides_are_yaml_typed_and_tracked():
    spec = parse_spec("fit: {epochs: 3}\ncompile: {optimizer: {SGD: {momentum: 0.9}}}\n")
    out = apply_overrides(
        spec, ["fit.epochs=5", "compile.optimizer.SGD.momentum=0.5", "fit.shuffle=false", "name=x y"]
    )
    assert out.data["fit"] == {"epochs": 5, "shuffle": False}
    assert out.data["compile"]["optimizer"]["SGD"]["momentum"] == 0.5
    assert out.data["name"] == "x y"
    assert out.locate(("fit", "epochs")) == (None, "--set fit.epochs=5")
    assert spec.data["fit"]["epochs"] == 3  # the original is untouched


def test_override_list_index():
    spec = parse_spec("model:\n  layers:\n    - Dense: {units: 1}\n")
    out = apply_overrides(spec, ["model.layers.0.Dense.units=7"])
    assert out.data["model"]["layers"][0]["Dense"]["units"] == 7
    with pytest.raises(ConfigError, match="no list item 3"):
        apply_overrides(spec, ["model.layers.3.Dense.units=7"])


def test_override_needs_equals():
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("fit.epochs")


def test_validating_a_spec_imports_neither_tensorflow_nor_sklearn():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from kexp.spec import load_config, parse_spec\n"
        "load_config(parse_spec('data: {source: random}\\n"
        "preprocess: {x: [{impute: median}, standardize]}\\n"
        "model: {layers: [Dense]}\\ncompile: {loss: mse}\\n'))\n"
        "heavy = sorted({'tensorflow', 'sklearn', 'keras'} & set(sys.modules))\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
