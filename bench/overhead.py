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
"""

from __future__ import annotations

import argparse
import os
import shutil
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


def hand_written(cfg) -> tuple[float, float]:
    """The Keras MNIST tutorial's MLP script in plain Keras, with the spec's numbers."""
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", type=Path, default=ROOT / "configs" / "mnist.yaml")
    ap.add_argument("--fashion", action="store_true", help="use the full Fashion-MNIST (60k+10k)")
    ap.add_argument("--epochs", type=int, help="override fit.epochs")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each, alternating; best time counts")
    args = ap.parse_args()

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

    hand_times, kexp_times = [], []
    with tempfile.TemporaryDirectory() as runs:
        for _ in range(args.repeat):
            t_hand, acc_hand = hand_written(cfg)
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
