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


# ---------------------------------------------------------------- size, aliases, numbers


def billion_laughs(levels: int = 9) -> str:
    """Nine aliases per level: 9**levels strings from a few hundred bytes of YAML."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_at_once_with_little_memory():
    import time
    import tracemalloc

    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ConfigError, match="more than 100,000 values once its YAML aliases"):
            parse_spec(billion_laughs())
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 5, elapsed  # it took minutes and 3.8 GB before; about 0.02 s now
    assert peak < 20 * 2**20, peak


def test_aliases_are_counted_expanded_up_to_the_limit():
    import yaml

    from kexp.spec.load import MAX_VALUES, expanded_size

    node = yaml.compose("a: &x [1, 2, 3]\nb: [*x, *x]\n")
    # mapping, 2 keys, a's list and 3 items, b's list and its 2 copies of a's list (4 each)
    assert expanded_size(node) == 1 + 2 + 4 + 1 + 2 * 4
    assert expanded_size(yaml.compose(billion_laughs(9))) == MAX_VALUES + 1
    parse_spec(billion_laughs(4))  # 9**4 strings: fine


def test_an_alias_inside_its_own_anchor_is_refused():
    with pytest.raises(ConfigError, match="refers to the mapping or list it is inside"):
        parse_spec("a: &x [1, *x]\n")


def test_deeply_nested_spec_is_refused():
    with pytest.raises(ConfigError, match="nested too deeply"):
        parse_spec("a: " + "[" * 5000 + "]" * 5000 + "\n")


def test_a_spec_over_1_mb_is_refused_before_it_is_read(tmp_path):
    from kexp.spec import load_spec

    path = tmp_path / "big.yaml"
    path.write_text("name: big\n# " + "x" * 1_000_000 + "\n")
    with pytest.raises(ConfigError, match=r"is 1,000,013 bytes; expected at most 1,000,000"):
        load_spec(path)
    with pytest.raises(ConfigError, match="expected at most 1,000,000"):
        parse_spec(path.read_text())


def test_exponent_numbers_are_numbers_as_in_yaml_1_2():
    spec = parse_spec("a: 1e-3\nb: 1e20\nc: -2E5\nd: 1.5e3\ne: 12e\nf: '1e3'\ng: 1.0\n")
    assert spec.data == {"a": 0.001, "b": 1e20, "c": -2e5, "d": 1500.0, "e": "12e", "f": "1e3",
                         "g": 1.0}
    assert parse_override("compile.optimizer.Adam.learning_rate=1e-3")[1] == 0.001


def test_an_override_value_with_too_many_aliases_is_refused():
    value = "[&a [1,1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], " \
        "&c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c], " \
        "[*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]]"
    with pytest.raises(ConfigError, match=r"^\(spec\) \(from --set x=.*more than 100,000 values"):
        parse_override(f"x={value}")


# ---------------------------------------------------------------- did you mean


@pytest.mark.parametrize(
    "name, choices, expected",
    [
        ("adma", ["Adam", "Adamax", "AdamW", "Nadam"], "Adam"),  # a swapped pair is one edit
        ("adamm", ["Adam", "Adamax", "AdamW"], "Adam"),
        ("amda", ["adam", "adamax"], "adam"),
        ("dense", ["Dense", "DenseFeatures"], "Dense"),  # case first
        ("epocs", ["epochs", "batch_size"], "epochs"),
        ("glorot_unifrom", ["glorot_uniform", "glorot_normal"], "glorot_uniform"),
        ("standardise", ["standardize", "scale"], "standardize"),
        ("onehot", ["one_hot", "sparse", "none"], "one_hot"),
        ("zzz", ["Dense", "Conv2D"], None),
        ("Dense", ["Dense", "Dropout"], None),  # a choice itself needs no suggestion
    ],
)
def test_did_you_mean(name, choices, expected):
    from kexp.errors import did_you_mean

    hint = did_you_mean(name, choices)
    assert hint == (f"Did you mean '{expected}'?" if expected else None)


def test_edit_distance_counts_a_swap_as_one_edit():
    from kexp.errors import edit_distance

    assert edit_distance("adma", "adam") == 1
    assert edit_distance("adma", "adamax") == 2
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3


# ---------------------------------------------------------------- limits and messages


def _config(text: str):
    from kexp.spec import load_config

    return load_config(parse_spec(text))


BASE = "data: {source: random}\nmodel: {layers: [Dense]}\ncompile: {loss: mse}\n"


@pytest.mark.parametrize(
    "extra, match",
    [
        ("seed: -1\n", r"^seed \(line 4\): expected a seed from 0 to 4294967295, received -1$"),
        ("seed: 4294967296\n", "received 4294967296. NumPy and scikit-learn take seeds below 2\\*\\*32"),
        ("cv: {seed: -3}\n", "cv.seed .*expected a seed from 0"),
        ("fit: {batch_size: 1e20}\n", "fit.batch_size .*expected a batch size of at most 2147483647, "
         "received 100000000000000000000"),
        ("fit: {batch_size: 100000000000000000000}\n", "batch size of at most 2147483647"),
        ("fit: {epochs: 1e20}\n", "expected a number of epochs of at most 1000000.*EarlyStopping"),
        ("fit: {epochs: 0}\n", "expected a number of epochs greater than 0, received 0"),
        ("compile: {loss: mse, steps_per_execution: 1e12}\n", "number of batches of at most"),
        ("fit: {epochs: true}\n", "fit.epochs .*expected a whole number, received true"),
        ("cv: {folds: 1e20}\n", "cv.folds .*expected a whole number below 2\\*\\*63, received 1e\\+20"),
    ],
)
def test_numbers_beyond_what_the_libraries_take_are_refused(extra, match):
    text = BASE.replace("compile: {loss: mse}\n", "") if extra.startswith("compile") else BASE
    with pytest.raises(ConfigError, match=match):
        _config(text + extra)


def test_seed_limits_are_inclusive():
    assert _config(BASE + "seed: 0\n").seed == 0
    assert _config(BASE + "seed: 4294967295\n").seed == 2**32 - 1


@pytest.mark.parametrize(
    "size, ok",
    [("0.2", 0.2), ("30", 30), ("1", 1), ("1.0", None), ("30.0", None), ("1.5", None),
     ("true", None), ("0", None)],
)
def test_test_size_is_a_fraction_below_1_or_a_whole_number_of_samples(size, ok):
    text = BASE.replace("{source: random}", f"{{source: random, test: {{size: {size}}}}}")
    if ok is None:
        with pytest.raises(ConfigError, match="data.test.size"):
            _config(text)
    else:
        size_value = _config(text).data.test.size
        assert size_value == ok and type(size_value) is type(ok)


def test_a_whole_float_size_says_how_to_write_a_count():
    text = BASE.replace("{source: random}", "{source: random, test: {size: 1.0}}")
    with pytest.raises(ConfigError, match="a number with a decimal point is a fraction; "
                       "for 1 sample\\(s\\) write 1"):
        _config(text)


def test_random_data_that_does_not_fit_in_memory_is_refused():
    text = BASE.replace("{source: random}", "{source: random, samples: 1000000, shape: [1000]}")
    with pytest.raises(ConfigError, match="samples x shape is 1000000000 random values"):
        _config(text)


def test_csv_encoding_is_checked_and_kept():
    text = BASE.replace("{source: random}", "{source: csv, path: d.csv, target: 0, encoding: %s}")
    assert _config(text % "latin-1").data.encoding == "latin-1"
    assert _config(text % "utf-8".replace("-8", "-16")).data.encoding == "utf-16"
    with pytest.raises(ConfigError, match="data.encoding .*expected a text encoding .*'latin-2x'"):
        _config(text % "latin-2x")
    default = BASE.replace("{source: random}", "{source: csv, path: d.csv, target: 0}")
    assert _config(default).data.encoding == "utf-8"


@pytest.mark.parametrize(
    "layers, path, received",
    [
        ("[{Dense: {units: 1, input_dim: 7.5}}]", "model.layers[0].Dense.input_dim", "7.5"),
        ("[{Dense: {units: 1, input_dim: abc}}]", "model.layers[0].Dense.input_dim", "'abc'"),
        ("[{Dense: {units: 1, input_dim: true}}]", "model.layers[0].Dense.input_dim", "True"),
        ("[{Dense: {units: 1, input_dim: 0}}]", "model.layers[0].Dense.input_dim", "0"),
        ("[{Dense: {units: 1, input_shape: [a]}}]", "model.layers[0].Dense.input_shape", "['a']"),
        ("[{Embedding: {input_dim: 10.5, output_dim: 2}}]", "model.layers[0].Embedding.input_dim",
         "10.5"),
        ("[{Embedding: {input_dim: 10, output_dim: 2, input_length: x}}]",
         "model.layers[0].Embedding.input_length", "'x'"),
        ("[{Input: {shape: [2.5]}}, Dense]", "model.layers[0].Input.shape", "[2.5]"),
        ("[{Input: [8]}, Dense]", "model.layers[0].Input", "[8]"),
    ],
)
def test_input_shape_arguments_must_be_whole_numbers(layers, path, received):
    text = BASE.replace("{layers: [Dense]}", f"{{layers: {layers}}}")
    with pytest.raises(ConfigError) as info:
        _config(text)
    message = str(info.value)
    assert message.startswith(f"{path} (line 2): expected"), message
    assert f"received {received}" in message


def test_valid_input_shapes_pass():
    for layers in ("[{Dense: {units: 1, input_dim: 8}}]", "[{Dense: {units: 1, input_shape: [8]}}]",
                   "[{LSTM: {units: 1, input_shape: [null, 8]}}]", "[{Input: {shape: [8]}}, Dense]",
                   "[{Embedding: {input_dim: 50, output_dim: 2, input_length: 10}}]"):
        _config(BASE.replace("{layers: [Dense]}", f"{{layers: {layers}}}"))


@pytest.mark.parametrize(
    "data, hint",
    [("7", "e.g. data: {source: csv"), ("[{source: csv}]", "e.g. data: {source: csv"),
     ("csv", "Write data: {source: csv, ...}"), ("null", "e.g. data: {source: csv")],
)
def test_data_that_is_not_a_mapping_says_so(data, hint):
    with pytest.raises(ConfigError) as info:
        _config(BASE.replace("data: {source: random}", f"data: {data}"))
    message = str(info.value)
    assert message.startswith("data (line 1): expected a mapping with a 'source' key"), message
    assert "is missing" not in message and hint in message


def test_union_errors_name_the_place_and_every_alternative():
    from kexp.errors import ConfigErrors

    text = BASE.replace("{source: random}", "{source: csv, path: d.csv, target: 0, "
                        "features: [0, [1]], test: {stratify: {x: 1}}}")
    text = text.replace("{loss: mse}", "{loss: 2, metrics: [[mae]]}")
    with pytest.raises(ConfigErrors) as info:
        _config(text)
    assert sorted(str(e) for e in info.value.errors) == [
        "compile.loss (line 3): expected a string or a mapping, received 2",
        "compile.metrics[0] (line 3): expected a string or a mapping, received ['mae']",
        "data.features[1] (line 1): expected a whole number or a string, received [1]",
        "data.test.stratify (line 1): expected true, false or 'auto', received {'x': 1}",
    ]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("preprocess: {y: onehot}\n", "preprocess.y (line 4): expected 'one_hot', 'sparse' or "
         "'none', received 'onehot'. Did you mean 'one_hot'?"),
        ("preprocess: {y: {out: onehot}}\n", "preprocess.y.out (line 4): expected 'one_hot'"),
        ("fit: 3\n", "fit (line 4): expected a mapping, received 3"),
        ("preprocess: {x: [{scale: abc}]}\n", "preprocess.x[0].scale.factor (line 4): expected"),
    ],
)
def test_messages_point_at_the_key_the_user_wrote(text, expected):
    with pytest.raises(ConfigError) as info:
        _config(BASE + text)
    assert str(info.value).startswith(expected), str(info.value)


@pytest.mark.parametrize(
    "columns, expected",
    [
        ("target: {}", "data.target (line 1): expected at least 1 item(s), received {}"),
        ("target: []", "data.target (line 1): expected at least 1 item(s), received []"),
        ("target: {out: []}", "data.target.out (line 1): expected at least 1 item(s)"),
        ("target: 0, features: []", "data.features (line 1): expected at least 1 item(s)"),
        ("target: 0, path: ''", "data.path (line 1): expected at least 1 character(s), received ''"),
    ],
)
def test_empty_columns_are_refused(columns, expected):
    path = "" if "path:" in columns else "path: d.csv, "
    text = BASE.replace("{source: random}", f"{{source: csv, {path}{columns}}}")
    with pytest.raises(ConfigError) as info:
        _config(text)
    assert str(info.value).startswith(expected), str(info.value)


def test_model_that_is_not_a_mapping_says_what_a_model_is():
    with pytest.raises(ConfigError, match=r"^model \(line 2\): expected a mapping: \{layers: "):
        _config(BASE.replace("model: {layers: [Dense]}", "model: 7"))


# ---------------------------------------------------------------- optimizer arguments


OPT = BASE.replace("compile: {loss: mse}", "compile: {loss: mse, optimizer: %s}")


@pytest.mark.parametrize(
    "optimizer, path, expected",
    [
        ("{Adam: {learning_rate: -0.01}}", "Adam.learning_rate", "greater than 0, received -0.01"),
        ("{Adam: {learning_rate: .inf}}", "Adam.learning_rate", "greater than 0, received inf"),
        ("{RMSprop: {lr: .NaN}}", "RMSprop.lr", "greater than 0, received nan"),
        ("{adamw: {weight_decay: -0.1}}", "adamw.weight_decay", "of at least 0, received -0.1"),
        ("{Nadam: {beta_1: 1}}", "Nadam.beta_1", "from 0 to below 1, received 1"),
        ("{Adam: {epsilon: -1.0e-7}}", "Adam.epsilon", "of at least 0, received -1e-07"),
        ("{SGD: {momentum: -0.5}}", "SGD.momentum", "from 0 to 1, received -0.5"),
        ("{RMSprop: {rho: 1.5}}", "RMSprop.rho", "from 0 to 1, received 1.5"),
        ("{Adam: {global_clipnorm: -1}}", "Adam.global_clipnorm", "greater than 0, received -1"),
        ("{Adam: {use_ema: true, ema_momentum: 2}}", "Adam.ema_momentum", "from 0 to 1, received 2"),
        ("{Ftrl: {learning_rate_power: 0.5}}", "Ftrl.learning_rate_power", "of at most 0, received 0.5"),
        ("{Lion: {beta_1: 0}}", "Lion.beta_1", "greater than 0 and at most 1, received 0"),
        ("{Adam: {learning_rate: false}}", "Adam.learning_rate", "greater than 0, received false"),
        ("{'mypkg.opt:Mine': {learning_rate: 0}}", "mypkg.opt:Mine.learning_rate", "greater than 0, received 0"),
        ("{SGD: {learning_rate: {CosineDecay: {initial_learning_rate: 0, decay_steps: 5}}}}",
         "SGD.learning_rate.CosineDecay.initial_learning_rate", "greater than 0, received 0"),
        ("{SGD: {lr: {PiecewiseConstantDecay: {boundaries: [5], values: [0.1, -1]}}}}",
         "SGD.lr.PiecewiseConstantDecay.values[1]", "greater than 0, received -1"),
    ],
)
def test_optimizer_arguments_out_of_their_range_are_refused(optimizer, path, expected):
    with pytest.raises(ConfigError) as info:
        _config(OPT % optimizer)
    assert str(info.value) == f"compile.optimizer.{path} (line 3): expected a finite number {expected}"


@pytest.mark.parametrize("optimizer", [
    "adam", "{Adam: {learning_rate: 1.0e-3, beta_1: 0, beta_2: 0.999, epsilon: 0}}",
    "{SGD: {momentum: 1, nesterov: true}}", "{Ftrl: {learning_rate_power: -0.5}}",
    "{Lion: {beta_1: 1}}", "{Adam: {learning_rate: {ExponentialDecay: {initial_learning_rate: 0.1, "
    "decay_steps: 10, decay_rate: 0.9}}}}", "{Adam: {learning_rate: 'mypkg.lr:schedule'}}",
    "{Adafactor: {beta_2_decay: -0.8}}", "{'mypkg.opt:Mine': {beta_1: 7}}",
])
def test_optimizer_arguments_within_their_range_pass(optimizer):
    _config(OPT % optimizer)


def test_optimizer_arguments_are_checked_without_keras():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from kexp.errors import ConfigError\n"
        "from kexp.spec import load_config, parse_spec\n"
        "try:\n"
        "    load_config(parse_spec('data: {source: random}\\nmodel: {layers: [Dense]}\\n"
        "compile: {loss: mse, optimizer: {Adam: {learning_rate: -1}}}\\n'))\n"
        "except ConfigError as exc:\n"
        "    assert 'learning_rate' in str(exc), exc\n"
        "else:\n"
        "    raise SystemExit('not refused')\n"
        "heavy = sorted({'tensorflow', 'keras'} & set(sys.modules))\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- the spec as written, then --set


def _configure(text: str, overrides: list):
    from kexp.spec import configure

    return configure(parse_spec(text), overrides)


def test_a_value_the_file_gets_wrong_is_reported_though_an_override_replaces_it():
    text = BASE + "fit: {epochs: ten}\n"
    for override in (("fit.epochs=1", "--epochs 1"), "fit.epochs=1", "fit={epochs: 1}"):
        with pytest.raises(ConfigError, match=r"^fit.epochs \(line 4\): .*received 'ten'$"):
            _configure(text, [override])
    assert _configure(BASE + "fit: {epochs: 2}\n", [("fit.epochs=1", "--epochs 1")]).fit.epochs == 1


def test_what_the_file_leaves_out_may_come_from_an_override():
    text = "data: {source: csv, path: d.csv}\nmodel: {layers: [Dense]}\n"
    cfg = _configure(text, ["data.target=0", "compile.loss=mse"])
    assert cfg.data.target == 0 and cfg.compile.loss == "mse"
    with pytest.raises(ConfigError, match="data.target"):  # still needed after the overrides
        _configure(text, ["compile.loss=mse"])
    # keys that do not go together in the file, one of them changed by an override
    both = BASE + "fit: {validation_split: 0.2, validation_data: test}\ndata_test: 1\n"
    assert _configure(both.replace("data_test: 1\n", ""),
                      ["fit.validation_data=null"]).fit.validation_split == 0.2


def test_a_string_read_as_a_number_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match=r"^fit.batch_size \(line 4\): expected a whole number, "
                       r"received the string '800'. Write 800 without quotes$"):
        _config(BASE + 'fit: {batch_size: "800"}\n')
    with pytest.raises(ConfigError, match=r"^data.test.size \(line 1\): expected a number, received "
                       r"the string '0.3'. Write 0.3 without quotes$"):
        _config(BASE.replace("{source: random}", "{source: random, test: {size: '0.3'}}"))
    with pytest.raises(ConfigError, match="fit.batch_size .*received the string '800'"):
        _configure(BASE + 'fit: {batch_size: "800"}\n', ["fit.batch_size=800"])  # as written
    with pytest.raises(ConfigError, match=r"\(from --set fit.batch_size='800'\).*without quotes"):
        _configure(BASE, ["fit.batch_size='800'"])
    # overrides arrive as text and are read as YAML: a number stays a number
    assert _configure(BASE, ["fit.batch_size=800"]).fit.batch_size == 800
    # a string that is a string (a column name, a name of digits) stays one
    assert _config(BASE + "name: '007'\n").name == "007"


def test_the_name_option_is_a_string_as_given():
    from kexp.cli.common import spec_overrides

    assert _configure(BASE, spec_overrides((), "007", None, 3, None)).name == "007"
    assert _configure(BASE, spec_overrides((), "1e3", 4, None, None)).name == "1e3"


# ---------------------------------------------------------------- name and delimiter


def test_the_name_taken_from_a_long_or_odd_file_name_is_a_valid_name():
    from pathlib import Path

    from kexp.spec import load_config

    for stem, name in (("x" * 300, "x" * 100), ("..", "experiment"), ("essai été", "essai--t-")):
        assert load_config(parse_spec(BASE, Path(f"/nowhere/{stem}.yaml"))).name == name


@pytest.mark.parametrize("delimiter, ok", [
    ("';;'", True), ("'::'", True), ("'\\s+'", True), ("'|'", True), ("'\\|\\|'", True),
    ("'||'", False), ("'(;'", False), ("''", False), ("';*'", False),
])
def test_a_delimiter_of_several_characters_is_a_regular_expression_as_in_pandas(delimiter, ok):
    text = BASE.replace("{source: random}", f"{{source: csv, path: d.csv, target: 0, delimiter: {delimiter}}}")
    if ok:
        _config(text)
    else:
        with pytest.raises(ConfigError, match=r"^data.delimiter \(line 1\)"):
            _config(text)
