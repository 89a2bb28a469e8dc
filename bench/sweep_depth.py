"""The hidden-layer study by hand and with ``kexp sweep``, timed in one invocation.

The hand-written study is what the tutorial does: a Python loop that builds and fits a
Dense(64, relu) network with h = 1..4 hidden layers on the MNIST sample, one after
another, with the same seed, preprocessing, validation split and epochs as
``configs/depth_sweep.yaml``; its batches come from ``tf.data``, reshuffled every epoch
from the seed in one repeated stream, as kexp feeds a fit (Keras 3, given arrays and a seed, would shuffle every
epoch in the same order), so both train the same numbers. Then ``kexp sweep configs/depth_sweep.yaml`` runs with
``--jobs 1`` and ``--jobs 2`` (each a separate process, as a user runs it). Prints the
wall times, the ratios against the hand loop, and each trial's validation accuracy.

    python bench/sweep_depth.py                  # 5 epochs per trial, as shipped
    python bench/sweep_depth.py --epochs 2       # quicker
    python bench/sweep_depth.py --repeat 5       # alternating, medians
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
SPEC = ROOT / "configs" / "depth_sweep.yaml"


def hand_loop(epochs: int) -> tuple[float, list[float]]:
    """The study as a hand-written loop, in a fresh process (what a user's script costs)."""
    code = f"""
import time, json, sys
t0 = time.perf_counter()
sys.path.insert(0, {str(ROOT)!r})
import keras
from kexp.data.sources import load
from kexp.spec import load_config, load_spec
cfg = load_config(load_spec({str(SPEC)!r}))
raw = load(cfg.data, cfg.seed, [{str(ROOT)!r}])
x = raw.x_train.reshape(len(raw.x_train), -1).astype("float32") / 255
y = keras.utils.to_categorical(raw.y_train, 10)
out = []
for extra in range(4):
    keras.utils.set_random_seed(cfg.seed)
    import tensorflow as tf
    tf.config.experimental.enable_op_determinism()
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(64, activation="relu")]
                             + [keras.layers.Dense(64, activation="relu") for _ in range(extra)]
                             + [keras.layers.Dense(10, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    n = int(len(x) * 0.8)  # validation_split=0.2, as Keras takes it: the last 20%
    train = (tf.data.Dataset.from_tensor_slices((x[:n], y[:n]))
             .shuffle(n, seed=cfg.seed, reshuffle_each_iteration=True).batch(128).repeat())
    val = tf.data.Dataset.from_tensor_slices((x[n:], y[n:])).batch(128)
    h = model.fit(train, validation_data=val, epochs={epochs}, verbose=0,
                  steps_per_epoch=-(-n // 128))
    out.append(h.history["val_accuracy"][-1])
print(json.dumps({{"seconds": time.perf_counter() - t0, "val_accuracy": out}}))
"""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    import json

    result = json.loads(done.stdout.strip().splitlines()[-1])
    return time.perf_counter() - t0, result["val_accuracy"]


def kexp_sweep(epochs: int, jobs: int, runs: Path) -> tuple[float, list[float]]:
    """``kexp sweep configs/depth_sweep.yaml --jobs N`` as a user runs it."""
    import pandas as pd

    target = runs / f"jobs{jobs}"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kexp", "sweep", str(SPEC), "--jobs", str(jobs),
                    "--epochs", str(epochs), "--runs-dir", str(target), "--no-plots",
                    "--no-save-models"], cwd=ROOT, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - t0
    (folder,) = list(target.iterdir())
    trials = pd.read_csv(folder / "trials.csv")
    return seconds, trials["val_accuracy"].tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the three in turn this many times; print the medians")
    args = parser.parse_args()
    times: dict[str, list[float]] = {}
    accuracies: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="kexp-bench-") as tmp:
        for i in range(args.repeat):
            runs = [("hand-written loop", lambda: hand_loop(args.epochs))]
            runs += [(f"kexp sweep --jobs {jobs}",
                      lambda jobs=jobs, i=i: kexp_sweep(args.epochs, jobs, Path(tmp) / str(i)))
                     for jobs in (1, 2)]
            for name, run in runs:
                seconds, acc = run()
                times.setdefault(name, []).append(seconds)
                accuracies[name] = acc
            if args.repeat > 1:
                print(f"  repeat {i + 1}: " + "  ".join(f"{n} {t[-1]:.1f} s" for n, t in times.items()),
                      flush=True)
    hand_s = statistics.median(times["hand-written loop"])
    print(f"hidden-layer study, h = 1..4, {args.epochs} epochs each, {os.cpu_count()} cores"
          + (f", medians of {args.repeat}" if args.repeat > 1 else ""))
    for name, values in times.items():
        seconds = statistics.median(values)
        print(f"{name:22s} {seconds:7.1f} s  ratio {seconds / hand_s:5.2f}  "
              f"speed-up {hand_s / seconds:4.2f}x  val_accuracy "
              + " ".join(f"{a:.4f}" for a in accuracies[name]))


if __name__ == "__main__":
    main()
