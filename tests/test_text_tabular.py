"""Text, sequence and table preprocessing (issue 6): steps, data options, layers, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kexp.data.preprocess import Preprocessor
from kexp.errors import ConfigError, DataError
from kexp.spec import PreprocessConfig
from tests.helpers import invoke, write_yaml

ROOT = Path(__file__).resolve().parent.parent

TEXTS = pd.DataFrame(
    {
        "text": [
            "The cat sat on the mat.",
            "Dogs and cats!",
            "A dog, a cat, a bird",
            "Birds fly; cats don't",
            "the THE the",
            "",
        ],
        "label": ["a", "b", "a", "b", "a", "b"],
    }
)


def _pre(x: list, y: str = "none") -> Preprocessor:
    return Preprocessor(PreprocessConfig.model_validate({"x": x, "y": y}))


# ------------------------------------------------------------------ tokenize + pad


def test_tokenize_and_pad_fit_on_training_only_and_round_trip_through_json() -> None:
    pre = _pre([{"tokenize": {"column": "text", "max_tokens": 6}}, {"pad": {"maxlen": 4}}])
    train = TEXTS[["text"]]
    pre.fit(train, None)
    vocab = pre.steps[0].vocabulary
    assert vocab[:3] == ["", "[UNK]", "the"]  # lower-cased, most frequent first
    assert len(vocab) == 6 and pre.vocabulary_size == 6
    out = pre.transform_x(pd.DataFrame({"text": ["the zebra cat"]}), "x")
    assert out.shape == (1, 4) and out.dtype == np.float32
    the, cat = vocab.index("the"), vocab.index("cat")
    assert out[0].tolist() == [0, the, 1, cat]  # pre-padding, 1 = out of vocabulary
    state = json.loads(json.dumps(pre.state()))
    again = Preprocessor.from_state(state)
    assert np.array_equal(again.transform_x(pd.DataFrame({"text": ["the zebra cat"]}), "x"), out)


def test_tokenize_options_oov_dropped_post_padding_truncating_and_value() -> None:
    pre = _pre(
        [
            {"tokenize": {"oov_token": None, "lower": False}},
            {"pad": {"maxlen": 3, "padding": "post", "truncating": "post", "value": -1}},
        ]
    )
    pre.fit(TEXTS[["text"]], None)
    assert "THE" in pre.steps[0].vocabulary and "The" in pre.steps[0].vocabulary
    out = pre.transform_x(pd.DataFrame({"text": ["zebra the", "the the the the the"]}), "x")
    the = pre.steps[0].vocabulary.index("the")
    assert out.tolist() == [[the, -1, -1], [the, the, the]]


def test_pad_without_maxlen_learns_the_longest_training_sequence() -> None:
    seqs = np.empty(3, dtype=object)
    seqs[:] = [[1, 2], [3, 4, 5, 6], [7]]
    pre = _pre(["pad"]).fit(seqs, None)
    assert pre.state()["steps"][0]["state"] == {"maxlen": 4}
    longer = np.empty(1, dtype=object)
    longer[0] = [1, 2, 3, 4, 5, 6]
    assert pre.transform_x(longer).tolist() == [[3, 4, 5, 6]]  # truncating: pre


def test_ragged_sequences_without_pad_say_how_to_fix() -> None:
    seqs = np.empty(2, dtype=object)
    seqs[:] = [[1, 2], [3]]
    with pytest.raises(DataError, match=r"sequences of different lengths; add \{pad"):
        _pre([]).fit(seqs, None)


def test_table_step_after_an_array_step_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"preprocess.x\[1\]: 'pad' .* must come before 'scale'"):
        _pre([{"scale": 2}, {"pad": 3}])


# ----------------------------------------------------------------------- tabular

TABLE = pd.DataFrame(
    {
        "num": [1.0, np.nan, 3.0, 5.0],
        "colour": ["red", "blue", None, "red"],
        "tags": ["a/b", "b", None, "c/a"],
        "empty": [np.nan] * 4,
    }
)


def test_get_dummies_learns_categories_and_zeroes_unseen_ones() -> None:
    pre = _pre(
        [
            {"get_dummies": ["colour"]},
            {"get_dummies": {"columns": ["tags"], "separator": "/"}},
            {"impute": {"strategy": "median", "columns": ["num"]}},
            {"standardize": {"columns": ["num"]}},
        ]
    )
    x = TABLE.drop(columns=["empty"])
    pre.fit(x, None)
    new = pd.DataFrame({"num": [np.nan], "colour": ["green"], "tags": ["b/zzz"]})
    # columns: num, colour_blue, colour_red, tags_a, tags_b, tags_c
    out = pre.transform_x(new)
    assert out.shape == (1, 6)
    assert out[0, 1:].tolist() == [0, 0, 0, 1, 0]  # unseen colour: all zero; zzz ignored
    assert out[0, 0] == pytest.approx(0.0)  # median 3 filled, then standardized (mean 3)
    state = json.loads(json.dumps(pre.state()))
    assert state["steps"][0]["state"] == {"categories": [["colour", ["blue", "red"]]]}
    assert state["steps"][2]["state"] == {"columns": ["num"], "statistics_": [3.0]}
    assert np.array_equal(Preprocessor.from_state(state).transform_x(new), out)


@pytest.mark.parametrize("strategy, expected", [("mean", 3.0), ("most_frequent", 1.0)])
def test_impute_strategies(strategy: str, expected: float) -> None:
    pre = _pre([{"impute": {"strategy": strategy}}]).fit(TABLE[["num"]], None)
    assert pre.transform_x(pd.DataFrame({"num": [np.nan]}))[0, 0] == expected


def test_impute_constant_and_categorical_most_frequent() -> None:
    pre = _pre([{"impute": {"strategy": "constant", "fill_value": -1}}]).fit(TABLE[["num"]], None)
    assert pre.transform_x(pd.DataFrame({"num": [np.nan]}))[0, 0] == -1
    pre = _pre([{"impute": "most_frequent"}, {"get_dummies": ["colour"]}]).fit(TABLE[["colour"]], None)
    assert pre.transform_x(pd.DataFrame({"colour": [None]})).tolist() == [[0, 1]]  # red


def test_impute_restores_its_statistics_without_refitting(monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.impute import SimpleImputer

    pre = _pre([{"impute": "most_frequent"}])
    pre.steps[0].fit(TABLE[["num", "colour"]])
    state = json.loads(json.dumps(pre.state()))
    assert state["steps"][0] == {
        "name": "impute", "state": {"columns": ["num", "colour"], "statistics_": [1.0, "red"]}
    }

    def no_fit(*args: object, **kwargs: object) -> None:
        raise AssertionError("refitted")

    monkeypatch.setattr(SimpleImputer, "fit", no_fit)
    new = pd.DataFrame({"num": [np.nan, 7.0], "colour": [None, "blue"]})
    out = Preprocessor.from_state(state).steps[0].transform(new)
    assert out["num"].tolist() == [1.0, 7.0] and out["colour"].tolist() == ["red", "blue"]


def test_impute_loads_the_fill_state_of_older_run_folders() -> None:
    state = _pre([{"impute": {"strategy": "median", "columns": ["num"]}}]).state()
    state["steps"][0]["state"] = {"fill": [["num", 3.0]]}
    out = Preprocessor.from_state(state).transform_x(pd.DataFrame({"num": [np.nan, 5.0]}))
    assert out[:, 0].tolist() == [3.0, 5.0]


def test_impute_constant_fills_a_column_missing_in_training_and_names_unseen_ones() -> None:
    pre = _pre([{"impute": {"strategy": "constant", "fill_value": 0}}]).fit(TABLE[["num", "empty"]], None)
    assert pre.transform_x(TABLE[["num", "empty"]])[:, 1].tolist() == [0, 0, 0, 0]
    with pytest.raises(ConfigError, match=r"preprocess.x\[0\].impute.columns: no column 'empty'"):
        pre.transform_x(TABLE[["num"]])


def test_every_step_name_has_exactly_one_implementation_and_vice_versa() -> None:
    from kexp.data.steps import STEP_CLASSES, step_classes
    from kexp.spec import X_STEPS
    from kexp.spec.steps import step_models

    models = step_models()
    classes = step_classes()
    assert sorted(m.step for m in models) == sorted(set(m.step for m in models)) == sorted(X_STEPS)
    assert sorted(c.name for c in classes) == sorted(set(c.name for c in classes))
    assert set(STEP_CLASSES) == set(X_STEPS)
    for name, cls in STEP_CLASSES.items():
        assert cls.Args is X_STEPS[name] and cls.name == name
    for model in models:
        assert model.shorthand is None or model.shorthand in model.model_fields


@pytest.mark.parametrize(
    "steps, match",
    [
        ([{"get_dummies": ["empty"]}], r"get_dummies.columns\[0\]: column 'empty' has no values .*all 4 missing"),
        ([{"impute": {"columns": ["empty"]}}], r"impute.columns\[0\]: column 'empty' has no values"),
        ([{"impute": {"strategy": "mean", "columns": ["colour"]}}], r"strategy mean needs numbers"),
        ([{"standardize": {"columns": ["colour"]}}], r"standardize.columns\[0\]: column 'colour' is not numeric"),
        ([{"get_dummies": ["colur"]}], r"no column 'colur' .*Did you mean 'colour'"),
    ],
)
def test_table_steps_bad_columns(steps: list, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _pre(steps).fit(TABLE, None)


# ------------------------------------------------------------------------ the CLI


def _text_spec(tmp_path: Path, **overrides: object) -> dict:
    csv = tmp_path / "texts.csv"
    pd.concat([TEXTS] * 3).assign(n=1.0).to_csv(csv, index=False)
    spec: dict = {
        "name": "t",
        "seed": 1,
        "data": {"source": "csv", "path": str(csv), "features": "text", "target": "label",
                 "test": {"size": 0.25}},
        "preprocess": {"x": [{"tokenize": {"column": "text", "max_tokens": 20}}, {"pad": {"maxlen": 5}}],
                       "y": "one_hot"},
        "model": {"layers": [
            {"Embedding": {"input_dim": 20, "output_dim": 4}},
            {"LSTM": {"units": 3}},
            {"Dense": {"units": 2, "activation": "softmax"}},
        ]},
        "compile": {"loss": "categorical_crossentropy", "metrics": ["accuracy"]},
        "fit": {"epochs": 1, "batch_size": 4, "verbose": 0},
    }
    for key, value in overrides.items():
        node = spec
        *parents, last = key.split(".")
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return spec


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"preprocess.x.0": {"tokenize": {"column": "txt"}}},
         r"preprocess.x\[0\].tokenize.column \(line \d+\): no column 'txt' .*Did you mean 'text'\?"),
        ({"preprocess.x.1": {"pad": {"maxlen": 0}}},
         r"preprocess.x\[1\].pad.maxlen \(line \d+\): expected a sequence length greater than 0, received 0"),
        ({"preprocess.x.0": {"tokenize": {"max_tokens": 2}}},
         r"preprocess.x\[0\].tokenize.max_tokens \(line \d+\): expected more than 2: indices 0 "
         r"\(padding\) and 1 \(out-of-vocabulary\) are reserved, received 2"),
        ({"preprocess.x.1": {"pad": {"maxlen": 5, "value": "zero"}}},
         r"preprocess.x\[1\].pad.value \(line \d+\): expected a number \(the fill value of padding\), "
         r"received 'zero'"),
        ({"model.layers.0": {"Embedding": {"input_dim": 8, "output_dim": 4}}},
         r"model.layers\[0\].Embedding.input_dim \(line \d+\): expected at least \d+: the vocabulary "
         r"fitted on the training data has \d+ entries .*received 8\. Set input_dim: \d+"),
        ({"model.layers.0": {"Embedding": {"input_dim": 20, "output_dim": 4, "input_length": 7}}},
         r"model.layers\[0\].Embedding.input_length \(line \d+\): the model expects samples of shape "
         r"\(7,\).*\(5,\)\. Set it to the padded length 5"),
        ({"data.features": None},
         r"preprocess.x\[0\].tokenize.column .*features also hold"),
    ],
)
def test_bad_text_specs_exit_2_naming_the_key(tmp_path: Path, overrides: dict, message: str) -> None:
    result = invoke("validate", str(write_yaml(tmp_path, _text_spec(tmp_path, **overrides))))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert re.search(message, result.output), result.output


def test_categorical_column_all_missing_exits_2(tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    pd.DataFrame({"a": [1, 2, 3, 4], "c": ["", "", "", ""], "y": [0, 1, 0, 1]}).to_csv(csv, index=False)
    spec = {
        "data": {"source": "csv", "path": str(csv), "target": "y", "test": None},
        "preprocess": {"x": [{"get_dummies": {"columns": ["c"]}}]},
        "model": {"layers": [{"Dense": {"units": 1, "activation": "sigmoid"}}]},
        "compile": {"loss": "binary_crossentropy"},
    }
    result = invoke("validate", str(write_yaml(tmp_path, spec)))
    assert result.exit_code == 2
    assert "preprocess.x[0].get_dummies.columns[0] (line" in result.output
    assert "column 'c' has no values in the training data (all 4 missing)" in result.output


@pytest.mark.filterwarnings("ignore:.*does not support masking")
def test_sequence_layers_and_input_length_note(tmp_path: Path) -> None:
    layers = [
        {"Embedding": {"input_dim": 20, "output_dim": 4, "input_length": 5}},
        {"Conv1D": {"filters": 2, "kernel_size": 2, "activation": "relu"}},
        {"Masking": {"mask_value": 0.0}},
        {"LSTM": {"units": 3, "return_sequences": True}},
        {"Dropout": {"rate": 0.1}},
        {"Bidirectional": {"layer": {"LSTM": {"units": 2, "return_sequences": True}}}},
        {"GRU": {"units": 2, "return_sequences": True}},
        {"SimpleRNN": {"units": 2, "return_sequences": True}},
        {"GlobalMaxPooling1D": {}},
        {"Dense": {"units": 2, "activation": "softmax"}},
    ]
    spec = _text_spec(tmp_path, **{"model.layers": layers})
    result = invoke("validate", str(write_yaml(tmp_path, spec)))
    assert result.exit_code == 0, result.output
    assert "model.layers[0].Embedding.input_length: Keras 3 dropped it" in result.output
    assert "bidirectional" in result.output and "global_max_pooling1d" in result.output


def test_missing_values_and_dropna(tmp_path: Path) -> None:
    from kexp.data.sources import load_csv
    from kexp.spec import CsvData

    csv = tmp_path / "m.csv"
    pd.DataFrame({"a": [0, 1, 2, 0], "b": [5, 0, 7, 8], "y": [0, 1, 0, 1]}).to_csv(csv, index=False)
    cfg = CsvData(source="csv", path=str(csv), target="y", missing_values={"a": [0]}, dropna=["a"])
    raw = load_csv(cfg, [tmp_path])
    assert raw.x_train["a"].tolist() == [1, 2] and raw.x_train["b"].tolist() == [0, 7]
    assert raw.y_train.tolist() == [1, 0]
    assert "dropped 2 of 4 rows" in raw.notes[0]


def test_imdb_offline_is_a_clear_data_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    from kexp.data.sources import load_sequences
    from kexp.spec import SequenceData

    def offline(**kwargs: object) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(keras.datasets.imdb, "load_data", offline)
    with pytest.raises(DataError, match=r"keras.datasets.imdb could not be loaded .*no offline copy"):
        load_sequences(SequenceData(source="imdb", num_words=100))


def test_imdb_spec_validates_without_tensorflow_errors() -> None:
    from kexp.spec import Spec, load_config

    data = {"data": {"source": "reuters", "num_words": 1000, "maxlen": 0},
            "model": {"layers": ["Dense"]}, "compile": {"loss": "mse"}}
    with pytest.raises(ConfigError, match=r"data.maxlen: expected greater than 0"):
        load_config(Spec(data=data))


def test_text_run_and_predict_reuse_the_vocabulary(tmp_path: Path) -> None:
    spec = write_yaml(tmp_path, _text_spec(tmp_path))
    result = invoke("run", str(spec), "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    run_dir = next((tmp_path / "runs").iterdir())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["baseline"]["strategy"] == "majority_class"
    vocab = json.loads((run_dir / "preprocess.json").read_text())["steps"][0]["state"]["vocabulary"]
    assert vocab[:2] == ["", "[UNK]"]
    new = tmp_path / "new.csv"
    pd.DataFrame({"text": ["a cat and a dog", "unknown words only"]}).to_csv(new, index=False)
    result = invoke("predict", str(run_dir), str(new), "--out", str(tmp_path / "p.csv"))
    assert result.exit_code == 0, result.output
    preds = pd.read_csv(tmp_path / "p.csv")
    assert list(preds.columns) == ["y_pred", "prob_a", "prob_b"] and len(preds) == 2


# ----------------------------------------------------------------- shipped configs


@pytest.mark.slow
@pytest.mark.parametrize("config", ["text_lstm", "tabular", "regression"])
def test_shipped_config_runs(tmp_path: Path, config: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = invoke("run", f"configs/{config}.yaml", "--epochs", "1", "--runs-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    run_dir = next(tmp_path.iterdir())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["evaluated_on"] == "test" and "baseline" in metrics
    preds = pd.read_csv(run_dir / "predictions.csv")
    assert {"y_true", "y_pred"} <= set(preds.columns)
    if config == "regression":
        assert set(metrics["metrics"]) == {"loss", "mae"} and list(preds.columns) == ["y_true", "y_pred"]
