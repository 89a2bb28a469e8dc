"""Overhead of kexp over the same model written by hand in plain Keras.

Runs a spec (default ``configs/mnist.yaml``) through ``kexp run`` (the library
call the CLI makes) and the same model, data, preprocessing and seed written by
hand in Keras, in one process (TensorFlow imported once, warmed up by neither).
The hand-written baseline does what the Keras MNIST tutorial's MLP script does
plus what a careful script would keep: fit, evaluate, predict and save the model.
Prints both wall times, the ratio kexp/hand, and both test accuracies.

    python bench/overhead.py                       # configs/mnist.yaml (offline: the 10k sample)
    python bench/overhead.py --fashion             # full Fashion-MNIST (apt-get install dataset-fashion-mnist)
    python bench/overhead.py --repeat 3            # best of 3 each, alternating
    python bench/overhead.py --whole-process       # each as its own process, median of 3 alternating

``--whole-process`` times what a user waits for: ``python -m kexp run SPEC`` against
this file's hand-written script (``--hand-only``) as separate processes, start-up and
TensorFlow import included, alternating, and prints the medians, the ratio and both
test accuracies (read from the run folder's ``metrics.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def _fashion_into_keras_cache() -> None:
    """keras.datasets.fashion_mnist reads ~/.keras/datasets/fashion-mnist/*.gz if present."""
    import keras

    cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True, exist_ok=True)
    files = sorted(FASHION_DIR.glob("*.gz"))
    if len(files) < 4:
        sys.exit(f"Fashion-MNIST not found in {FASHION_DIR}: apt-get install dataset-fashion-mnist")
    for f in files:
        if not (cache / f.name).exists():
            shutil.copy(f, cache / f.name)
    del keras


def hand_written(cfg, tfdata: bool = False) -> tuple[float, float]:
    """The Keras MNIST tutorial's MLP script in plain Keras, with the spec's numbers.
    ``tfdata``: its batches from ``tf.data``, reshuffled every epoch from the seed
    (``shuffle(n, seed, reshuffle_each_iteration=True)``) in one repeated stream, the way
    kexp feeds a fit; given arrays, Keras 3 shuffles every epoch in the same order once a
    seed is set."""
    import keras
    import numpy as np

    from kexp.data.sources import load  # the same loader (and offline fallback) as kexp

    t0 = time.perf_counter()
    keras.utils.set_random_seed(cfg.seed)
    raw = load(cfg.data, cfg.seed, [ROOT])
    x_train = raw.x_train.reshape(len(raw.x_train), -1).astype("float32") / 255
    x_test = raw.x_test.reshape(len(raw.x_test), -1).astype("float32") / 255
    y_train = keras.utils.to_categorical(raw.y_train, 10)
    y_test = keras.utils.to_categorical(raw.y_test, 10)
    model = keras.Sequential([
        keras.Input(shape=(784,)),
        keras.layers.Dense(units=256, kernel_initializer="normal", activation="relu"),
        keras.layers.Dense(units=10, kernel_initializer="normal", activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    if tfdata:
        import tensorflow as tf

        n = int(len(x_train) * (1 - cfg.fit.validation_split))  # Keras's validation_split
        train = (tf.data.Dataset.from_tensor_slices((x_train[:n], y_train[:n]))
                 .shuffle(n, seed=cfg.seed, reshuffle_each_iteration=True)
                 .batch(cfg.fit.batch_size).repeat())
        val = tf.data.Dataset.from_tensor_slices((x_train[n:], y_train[n:])).batch(cfg.fit.batch_size)
        model.fit(train, validation_data=val, epochs=cfg.fit.epochs, verbose=0,
                  steps_per_epoch=-(-n // cfg.fit.batch_size))
    else:
        model.fit(x=x_train, y=y_train, validation_split=cfg.fit.validation_split,
                  epochs=cfg.fit.epochs, batch_size=cfg.fit.batch_size, verbose=0)
    scores = model.evaluate(x_test, y_test, batch_size=cfg.fit.batch_size, verbose=0, return_dict=True)
    np.argmax(model.predict(x_test, batch_size=cfg.fit.batch_size, verbose=0), axis=1)
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "model.keras")
    return time.perf_counter() - t0, float(scores["accuracy"])


def through_kexp(spec_path: Path, overrides: list[str], runs_dir: Path) -> tuple[float, float, Path]:
    from kexp import experiment
    from kexp.spec import load_spec

    t0 = time.perf_counter()
    spec = load_spec(spec_path)
    result = experiment.run(spec, experiment.Options(overrides=overrides, runs_dir=runs_dir, verbose=0))
    return time.perf_counter() - t0, result.metrics["accuracy"], result.run_dir


def whole_process(args: argparse.Namespace, overrides: list[str]) -> None:
    """Time ``kexp run`` and the hand-written script as separate processes, alternating."""
    sets = [a for o in overrides for a in ("--set", o)]
    hand_cmd = [sys.executable, str(Path(__file__).resolve()), "--hand-only", "--spec", str(args.spec), *(
        ["--fashion"] if args.fashion else []), *([f"--epochs={args.epochs}"] if args.epochs else []),
        f"--hand-data={args.hand_data}"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    hand_times, kexp_times = [], []
    acc_hand = acc_kexp = float("nan")
    with tempfile.TemporaryDirectory() as runs:
        for i in range(args.repeat):
            t0 = time.perf_counter()
            done = subprocess.run(hand_cmd, env=env, capture_output=True, text=True, check=True, cwd=ROOT)
            hand_times.append(time.perf_counter() - t0)
            acc_hand = float(done.stdout.split()[-1])
            runs_i = Path(runs) / str(i)
            runs_i.mkdir()
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "kexp", "run", str(args.spec), "--runs-dir", str(runs_i),
                            *sets], env=env, capture_output=True, text=True, check=True, cwd=ROOT)
            kexp_times.append(time.perf_counter() - t0)
            run_dir = next(runs_i.iterdir())
            acc_kexp = json.loads((run_dir / "metrics.json").read_text())["metrics"]["accuracy"]
            files = sorted(f.name for f in run_dir.iterdir())
            print(f"  repeat {i + 1}: hand {hand_times[-1]:6.2f} s   kexp {kexp_times[-1]:6.2f} s", flush=True)
    hand, kx = statistics.median(hand_times), statistics.median(kexp_times)
    print(f"whole process, median of {args.repeat} alternating  spec: {args.spec.name}")
    print(f"hand-written Keras: {hand:7.2f} s   test accuracy {acc_hand:.4f}")
    print(f"kexp run:           {kx:7.2f} s   test accuracy {acc_kexp:.4f}")
    print(f"ratio kexp/hand:    {kx / hand:7.3f}   (goal <= 1.05)")
    print(f"accuracies equal:   {acc_hand == acc_kexp}")
    print(f"run folder:         {' '.join(files)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", type=Path, default=ROOT / "configs" / "mnist.yaml")
    ap.add_argument("--fashion", action="store_true", help="use the full Fashion-MNIST (60k+10k)")
    ap.add_argument("--epochs", type=int, help="override fit.epochs")
    ap.add_argument("--repeat", type=int, help="runs of each, alternating; best time counts "
                    "(--whole-process: the median; default 1, 3 with --whole-process)")
    ap.add_argument("--whole-process", action="store_true",
                    help="time `python -m kexp run` and the hand-written script as separate processes")
    ap.add_argument("--hand-data", choices=["arrays", "tfdata"], default="arrays",
                    help="the hand-written fit's data: NumPy arrays as the tutorial passes them "
                         "(default), or tf.data reshuffled every epoch as kexp feeds it (then "
                         "the test accuracies are equal)")
    ap.add_argument("--hand-only", action="store_true", help=argparse.SUPPRESS)  # one --whole-process side
    args = ap.parse_args()
    if args.repeat is None:
        args.repeat = 3 if args.whole_process else 1
    if args.whole_process:
        whole_process(args, ["data.source=fashion_mnist"] * args.fashion
                      + ([f"fit.epochs={args.epochs}"] if args.epochs else []))
        return

    from kexp import backend
    from kexp.spec import apply_overrides, load_config, load_spec

    backend.keras()  # import TensorFlow once, outside both timings
    overrides = []
    if args.fashion:
        _fashion_into_keras_cache()
        overrides.append("data.source=fashion_mnist")
    if args.epochs:
        overrides.append(f"fit.epochs={args.epochs}")
    cfg = load_config(apply_overrides(load_spec(args.spec), overrides))
    if args.hand_only:  # timed from outside, with its start-up, by --whole-process
        print(f"test accuracy {hand_written(cfg, args.hand_data == 'tfdata')[1]}")
        return

    hand_times, kexp_times = [], []
    with tempfile.TemporaryDirectory() as runs:
        for _ in range(args.repeat):
            t_hand, acc_hand = hand_written(cfg, args.hand_data == "tfdata")
            t_kexp, acc_kexp, run_dir = through_kexp(args.spec, overrides, Path(runs))
            hand_times.append(t_hand)
            kexp_times.append(t_kexp)
    hand, kx = min(hand_times), min(kexp_times)
    print(f"spec: {args.spec.name}  data: {cfg.data.source}  epochs: {cfg.fit.epochs}  repeat: {args.repeat}")
    print(f"hand-written Keras: {hand:7.2f} s   test accuracy {acc_hand:.4f}")
    print(f"kexp run:           {kx:7.2f} s   test accuracy {acc_kexp:.4f}")
    print(f"ratio kexp/hand:    {kx / hand:7.3f}   (goal <= 1.05)")
    print(f"accuracies equal:   {acc_hand == acc_kexp}")


if __name__ == "__main__":
    main()
