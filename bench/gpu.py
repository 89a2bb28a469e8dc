"""kexp against a hand-written Keras script on an accelerator: a Fashion-MNIST CNN's
training images per second, in float32 and in mixed precision, and device memory.

Both sides train the same convnet (Conv2D 32 -> MaxPool -> Conv2D 64 -> MaxPool -> Dense
128 -> Dense 10, softmax in float32) on the same arrays (scaled by 255 beforehand by the
hand-written side, by kexp's ``scale`` step), the same seed, batch size and epochs, in one
process (TensorFlow imported once), alternating; both training loops are timed by one
Keras callback, ``bench.images_baseline:FitClock`` (train begin to train end), which kexp
is handed as a callback. Mixed precision is Keras's ``mixed_float16`` policy on a GPU
(``mixed_bfloat16`` where the device is not a GPU), set by hand on one side and as the
spec's ``precision`` on the other. Device memory is TensorFlow's peak for the device
(``tf.config.experimental.get_memory_info``), reset before each fit.

The data: the full Fashion-MNIST from ``/usr/share/datasets/fashion-mnist`` (``apt-get
install dataset-fashion-mnist``) when it is there, else random images of its shape (60,000
+ 10,000; the speed is the same, the accuracies then mean nothing and are not printed).

    python bench/gpu.py                 # on the first accelerator; exits 0 with a line without one
    python bench/gpu.py --cpu --train 2048 --epochs 1   # the same on CPU: checks the script

Prints images/s for each side and precision, the ratios kexp/hand (goal: at least 0.95),
the speed-up of mixed precision on each side, and the peak device memory of each fit.
With two GPUs or more, also kexp's ``distribute: data_parallel`` over two, float32, and
its speed-up over one.
Finishes in under 5 minutes on one current GPU (3 epochs of 60,000 images, 4 fits).
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
SPEC = """\
name: gpu-bench
seed: {seed}
precision: {precision}
{distribute}data: {{source: npz, path: {npz}}}
preprocess:
  x: [{{scale: 255}}]
  y: sparse
model:
  layers:
    - Input: {{shape: [28, 28, 1]}}
    - Conv2D: {{filters: 32, kernel_size: 3, activation: relu}}
    - MaxPooling2D: {{pool_size: 2}}
    - Conv2D: {{filters: 64, kernel_size: 3, activation: relu}}
    - MaxPooling2D: {{pool_size: 2}}
    - Flatten
    - Dense: {{units: 128, activation: relu}}
    - Dense: {{units: 10, activation: softmax}}
compile: {{loss: sparse_categorical_crossentropy, optimizer: adam, metrics: [accuracy]}}
fit: {{epochs: {epochs}, batch_size: {batch}, verbose: 0}}
"""


def fashion(train: int, test: int, seed: int) -> tuple[dict[str, np.ndarray], bool]:
    """Fashion-MNIST's arrays (28x28x1 uint8), the first ``train`` / ``test`` of each; random
    ones of that shape when the data set is not installed (the second value: real)."""
    files = {p.name.split("-")[0] + "-" + p.name.split("-")[1]: p for p in FASHION_DIR.glob("*.gz")}
    if len(files) >= 4:
        def read(name: str, offset: int) -> np.ndarray:
            with gzip.open(files[name], "rb") as fh:
                return np.frombuffer(fh.read(), np.uint8, offset=offset)
        x_train = read("train-images", 16).reshape(-1, 28, 28, 1)[:train]
        x_test = read("t10k-images", 16).reshape(-1, 28, 28, 1)[:test]
        y_train, y_test = read("train-labels", 8)[:train], read("t10k-labels", 8)[:test]
        return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}, True
    rng = np.random.default_rng(seed)
    return {"x_train": rng.integers(0, 256, (train, 28, 28, 1), dtype=np.uint8),
            "y_train": rng.integers(0, 10, train).astype(np.uint8),
            "x_test": rng.integers(0, 256, (test, 28, 28, 1), dtype=np.uint8),
            "y_test": rng.integers(0, 10, test).astype(np.uint8)}, False


def convnet(keras: Any) -> Any:
    """The spec's layers, written out in Keras; the softmax in float32 (Keras's guide)."""
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax", dtype="float32"),
    ])


def peak_mib(tf: Any, device: str) -> float | None:
    try:
        return tf.config.experimental.get_memory_info(device)["peak"] / 2**20
    except (ValueError, RuntimeError):  # CPU: not tracked
        return None


def reset_peak(tf: Any, device: str) -> None:
    try:
        tf.config.experimental.reset_memory_stats(device)
    except (ValueError, RuntimeError):
        pass


def hand(data: dict[str, np.ndarray], policy: str, args: argparse.Namespace, clock: Any) -> float:
    """The hand-written script: test accuracy."""
    import keras

    keras.utils.set_random_seed(args.seed)
    keras.config.set_dtype_policy(policy)
    try:
        model = convnet(keras)
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    finally:
        keras.config.set_dtype_policy("float32")
    x, x_test = data["x_train"].astype("float32") / 255, data["x_test"].astype("float32") / 255
    model.fit(x, data["y_train"], batch_size=args.batch, epochs=args.epochs, verbose=0,
              callbacks=[clock])
    return float(model.evaluate(x_test, data["y_test"], batch_size=args.batch, verbose=0,
                                return_dict=True)["accuracy"])


def kexp_run(npz: Path, policy: str, args: argparse.Namespace, clock: Any, work: Path,
             devices: list[str] | None = None) -> float:
    """``kexp run`` of the same spec (the library call the CLI makes): test accuracy."""
    from kexp import experiment
    from kexp.spec import load_spec

    spec = work / f"gpu-{policy}-{len(devices or [1])}.yaml"
    distribute = f"distribute: {{devices: [{', '.join(devices)}]}}\n" if devices else ""
    spec.write_text(SPEC.format(seed=args.seed, precision=policy, npz=npz, epochs=args.epochs,
                                batch=args.batch, distribute=distribute))
    options = experiment.Options(runs_dir=work / "runs", verbose=0, plots=False,
                                 save_model=False, callbacks=[clock], argv=["bench/gpu.py"])
    return float(experiment.run(load_spec(spec), options).metrics["accuracy"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="run on the CPU (a check of the script)")
    parser.add_argument("--train", type=int, default=60_000)
    parser.add_argument("--test", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus and not args.cpu:
        print("bench/gpu.py: no accelerator visible to TensorFlow; nothing measured "
              "(--cpu runs the same comparison on the CPU)")
        return
    device = "GPU:0" if gpus and not args.cpu else "CPU:0"
    mixed = "mixed_float16" if device.startswith("GPU") else "mixed_bfloat16"
    from bench.images_baseline import FitClock

    data, real = fashion(args.train, args.test, args.seed)
    start = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="kexp-gpu-") as tmp:
        work = Path(tmp)
        npz = work / "fashion.npz"
        np.savez(npz, **data)
        with tf.device(device):  # one device; data_parallel places its own
            for policy in ("float32", mixed):
                for side in ("hand", "kexp"):
                    clock = FitClock()
                    reset_peak(tf, device)
                    acc = (hand(data, policy, args, clock) if side == "hand"
                           else kexp_run(npz, policy, args, clock, work))
                    images = min(clock.batches * args.batch, args.train * clock.epochs)
                    rows.append((policy, side, images / clock.fit_s, acc, peak_mib(tf, device)))
        parallel = None
        if len(gpus) >= 2 and not args.cpu:  # kexp's data_parallel over two GPUs, float32
            clock = FitClock()
            kexp_run(npz, "float32", args, clock, work, ["/gpu:0", "/gpu:1"])
            parallel = min(clock.batches * args.batch, args.train * clock.epochs) / clock.fit_s
    report(rows, device, real, time.perf_counter() - start, parallel)


def report(rows: list[tuple[str, str, float, float, float | None]], device: str, real: bool,
           wall: float, parallel: float | None) -> None:
    print(f"device {device}; data: {'Fashion-MNIST' if real else 'random images (no accuracy)'}; "
          f"{wall:.0f} s in all")
    print(f"{'precision':16} {'side':5} {'images/s':>10} {'accuracy':>9} {'peak MiB':>9}")
    speed = {}
    for policy, side, ips, acc, peak in rows:
        speed[policy, side] = ips
        shown = f"{acc:9.4f}" if real else f"{'-':>9}"
        print(f"{policy:16} {side:5} {ips:10.0f} {shown} {'-' if peak is None else f'{peak:.0f}':>9}")
    for policy in dict.fromkeys(p for p, *_ in rows):
        ratio = speed[policy, "kexp"] / speed[policy, "hand"]
        print(f"{policy}: kexp/hand {ratio:.3f} (goal >= 0.95: {'met' if ratio >= 0.95 else 'not met'})")
    policies = list(dict.fromkeys(p for p, *_ in rows))
    if len(policies) == 2:
        for side in ("hand", "kexp"):
            print(f"{side}: {policies[1]} / float32 images/s {speed[policies[1], side] / speed[policies[0], side]:.2f}")
    if parallel is None:
        print("data_parallel: not measured (fewer than two GPUs)")
    else:
        print(f"kexp data_parallel on 2 GPUs, float32: {parallel:.0f} images/s, "
              f"{parallel / speed['float32', 'kexp']:.2f}x one GPU")


if __name__ == "__main__":
    main()
