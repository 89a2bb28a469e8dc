"""``precision``: Keras's mixed dtype policies for one model, its outputs in float32,
recorded, and Keras's global policy put back for the next model of the process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from kexp.cli import cli
from tests.conftest import TINY
from tests.helpers import only_folder


def test_mixed_bfloat16_trains_records_and_saves_its_policies(tiny: Path) -> None:
    import keras

    tiny.write_text("precision: mixed_bfloat16\n" + TINY)
    result = CliRunner().invoke(cli, ["run", str(tiny), "--runs-dir", "runs"])
    assert result.exit_code == 0, result.output
    run = only_folder(Path("runs"))
    assert json.loads((run / "env.json").read_text())["precision"] == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"  # put back for the next model
    model = keras.saving.load_model(run / "model.keras")
    hidden, output = model.layers[0], model.layers[-1]
    assert (hidden.compute_dtype, hidden.variable_dtype) == ("bfloat16", "float32")
    assert output.compute_dtype == "float32"  # the outputs in float32, as Keras's guide says
    probs = pd.read_csv(run / "predictions.csv").filter(like="prob_").to_numpy()
    assert np.isfinite(probs).all() and np.allclose(probs.sum(axis=1), 1, atol=1e-3)


def test_mixed_float16_scales_the_loss(tiny: Path) -> None:
    import keras

    from kexp import experiment
    from kexp.spec import load_spec

    tiny.write_text("precision: mixed_float16\n" + TINY)
    prepared = experiment.prepare(load_spec(tiny), experiment.Options())
    assert isinstance(prepared.model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert prepared.model.layers[0].compute_dtype == "float16"
    assert keras.config.dtype_policy().name == "float32"


def test_stack_refuses_a_mixed_precision(tiny: Path) -> None:
    tiny.write_text("precision: mixed_bfloat16\n" + TINY)
    result = CliRunner().invoke(cli, ["cv", str(tiny), "--folds", "2", "--stack", "--runs-dir", "runs"])
    assert result.exit_code == 2, result.output
    assert "precision (line 1)" in result.output and "--stack trains the folds as one float32 model" in result.output


def test_a_policy_the_device_cannot_compute_in_is_refused(monkeypatch) -> None:
    import keras
    import pytest

    from kexp.errors import ConfigError
    from kexp.model import precision

    def no_half(a, b):
        raise RuntimeError("no float16 kernel for MatMul on this device")

    monkeypatch.setattr(keras.ops, "matmul", no_half)
    with pytest.raises(ConfigError, match="precision: mixed_float16 computes in float16, which this backend"):
        precision.check("mixed_float16")
    precision.check("float32")  # never asked
