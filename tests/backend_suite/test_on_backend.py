"""kexp on the backend of this process (``KERAS_BACKEND``): every shipped config trains,
the backend is recorded, and the main suite's tests of the features most tied to the
backend pass here as they do on TensorFlow: resume identity byte for byte, determinism,
mixed precision, custom code, callbacks, Functional graphs, text, Python data sets, CV
with worker processes and MLflow. What a backend cannot do is refused or noted
(``--stack`` trains sub-networks; ``distribute`` is refused: tests/test_backends.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.helpers import invoke, only_folder

# the main suite's tests, collected again here to run on this backend
from tests.test_custom_code import (  # noqa: F401
    kxcustom,
    test_run_keeps_its_custom_modules_and_predicts_from_any_folder,
)
from tests.test_cv import (  # noqa: F401
    PROJECT,
    in_process,
    test_jobs_2_gives_the_same_fold_metrics,
)
from tests.test_functional import keras, test_shared_input_two_branch_cnn_model  # noqa: F401
from tests.test_mlflow import test_run_logs_params_epochs_metrics_artifacts_and_tags  # noqa: F401
from tests.test_precision import (  # noqa: F401
    test_mixed_bfloat16_trains_records_and_saves_its_policies,
    test_mixed_float16_scales_the_loss,
)
from tests.test_python_data import (  # noqa: F401
    mydata,
    test_batches_by_input_and_output_name_feed_a_functional_model,
)
from tests.test_resume import (  # noqa: F401
    test_a_cv_fold_resumes_from_its_own_checkpoint,
    test_a_stopped_run_resumes_to_the_record_of_one_never_stopped,
)
from tests.test_run import (  # noqa: F401
    test_callbacks_early_stopping_and_checkpoint,
    test_same_seed_deterministic_same_history,
    test_tensorboard_callback_logs_into_the_run_folder,
)
from tests.test_text_tabular import test_text_run_and_predict_reuse_the_vocabulary  # noqa: F401

BACKEND = os.environ["KERAS_BACKEND"]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def test_keras_runs_on_this_backend() -> None:
    from kexp import backend

    assert backend.keras().backend.backend() == backend.name() == BACKEND


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_every_shipped_config_trains_and_records_its_backend(config: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    # the plots read the run folder only, on no backend: drawn in the main suite
    result = invoke("run", str(config.relative_to(ROOT)), "--epochs", "1", "--runs-dir",
                    str(tmp_path), "--set", "fit.checkpoint=false", "--no-plots", exit_code=0)
    run = only_folder(tmp_path)
    assert json.loads((run / "status.json").read_text())["status"] == "completed", result.output
    env = json.loads((run / "env.json").read_text())
    assert env["backend"] == BACKEND and env[BACKEND]
    assert f"\nbackend: {BACKEND}\n" in (run / "config.yaml").read_text()


def test_stack_trains_the_folds_vectorized(tiny: Path) -> None:
    """On JAX the folds' own models as one program on the device; on PyTorch one batched
    kernel per layer (kexp.cv.vector)."""
    invoke("cv", str(tiny), "--folds", "2", "--stack", "--runs-dir", "runs", "--no-plots",
           exit_code=0)
    cv = only_folder(Path("runs"))
    assert json.loads((cv / "summary.json").read_text())["completed"] == 2
    notes = json.loads((cv / "fold-01" / "status.json").read_text())["notes"]
    assert ("trained with --stack on JAX: the folds' models as one program on the device"
            if BACKEND == "jax" else
            "trained with --stack, vectorized: one batched kernel per layer for all folds") in notes


def test_a_run_of_this_backend_predicts_on_tensorflow_too(write_spec, workdir: Path) -> None:
    import subprocess
    import sys

    import numpy as np
    import pandas as pd

    from tests.conftest import PIMA_SPEC
    from tests.helpers import kexp_env

    invoke("run", str(write_spec(PIMA_SPEC)), exit_code=0)
    run = only_folder(workdir / "runs")
    new = workdir / "new.csv"  # new patients: feature columns only
    rows = (workdir / "datasets" / "pima.csv").read_text().splitlines()[:20]
    new.write_text("\n".join(",".join(r.split(",")[:8]) for r in rows) + "\n")
    invoke("predict", str(run), str(new), "--out", "here.csv", exit_code=0)
    done = subprocess.run([sys.executable, "-m", "kexp", "predict", str(run), str(new),
                           "--backend", "tensorflow", "--out", "tf.csv"], env=kexp_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    a, b = pd.read_csv("here.csv"), pd.read_csv("tf.csv")
    assert (a["y_pred"] == b["y_pred"]).all()
    np.testing.assert_allclose(a.filter(like="prob_"), b.filter(like="prob_"), atol=1e-5)


def test_distribute_is_refused_before_training(tiny: Path) -> None:
    result = invoke("run", str(tiny), "--set", "distribute.devices=[/cpu:0, /cpu:1]",
                    "--runs-dir", "runs", exit_code=2)
    if BACKEND == "torch":
        assert ("distribute trains on TensorFlow's MirroredStrategy or JAX's DataParallel; this "
                "spec trains on torch") in result.output, result.output
    else:  # JAX started its one CPU device in this process already (tests/test_distribute.py)
        assert ("2 CPU devices must be made before JAX starts its devices, and this process has "
                "started JAX with 1. Run it as its own kexp run") in result.output, result.output
    assert not Path("runs").exists() or not any(Path("runs").iterdir())


def test_another_backend_in_this_process_is_refused(tiny: Path) -> None:
    result = invoke("run", str(tiny), "--backend", "tensorflow", exit_code=2)
    assert f"Keras is already imported on {BACKEND} in this process" in result.output


def test_numpy_batches_are_each_epochs_order_in_batches_remainder_last() -> None:
    """What a fit on this backend trains on (kexp.train.feed.array_batches): batch ``g`` is
    batch ``g % steps`` of epoch ``g // steps`` in that epoch's order (the orders the
    stack gathers by), the last batch of an epoch the remainder; ``skip`` goes on from
    there; a worker's cut is its contiguous part of each batch."""
    import numpy as np

    from kexp.train import feed

    x = np.arange(23 * 2, dtype="float32").reshape(23, 2)
    y = np.arange(23, dtype="int64")
    stream = feed.batches(x, y, 5, shuffle=True, seed=11, repeat=True)
    assert isinstance(stream, feed.ArrayBatches) and feed.generation() == feed.NUMPY_GENERATION
    orders = feed.epoch_orders(23, True, 11, 3)
    assert sorted(orders[1]) == list(range(23)) and (orders[0] != orders[1]).any()
    got = [stream[g] for g in range(15)]
    for g, (bx, by) in enumerate(got):
        e, b = divmod(g, 5)
        want = orders[e][b * 5:(b + 1) * 5]
        np.testing.assert_array_equal(by, want)
        np.testing.assert_array_equal(bx, x[want])
    assert [len(b[1]) for b in got[:5]] == [5, 5, 5, 5, 3]
    later = feed.batches(x, y, 5, shuffle=True, seed=11, repeat=True, skip=7)
    np.testing.assert_array_equal(later[0][1], got[7][1])
    once = feed.batches(x, None, 5, shuffle=False, seed=0)
    assert len(once) == 5 and once.num_batches == 5 and len(once[4]) == 1  # inputs only
    np.testing.assert_array_equal(once[4][0], x[20:])
    with pytest.raises(IndexError):
        once[5]
    half = feed.batches(x, y, 4, shuffle=False, seed=0, repeat=True).for_worker(2, 1)
    np.testing.assert_array_equal(half[0][1], [2, 3])
