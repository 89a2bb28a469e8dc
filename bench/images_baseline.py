"""The hand-written side of ``bench/images.py``: class folders of images trained the way
Keras's image-classification workflow does it, in plain Keras.

``keras.utils.image_dataset_from_directory`` reads the training folder (one subfolder
per class; labels are the subfolders' indices in sorted order), ``prefetch(AUTOTUNE)``,
a small convnet (Rescaling 1/255, Conv2D 32 -> MaxPooling -> Conv2D 64 -> MaxPooling ->
Flatten -> Dropout 0.5 -> Dense softmax: the layers of ``configs/fashion_folders.yaml``),
``model.fit``, then ``model.evaluate`` on the test folder. Prints one JSON line:

    {"side": "hand", "train_images": ..., "epochs": ..., "steps_per_epoch": ...,
     "fit_s": ..., "fit_call_s": ..., "images_per_s": ..., "test_accuracy": ..., ...}

``fit_s`` is the training loop as :class:`FitClock` times it (Keras's ``on_train_begin``
to ``on_train_end``: every epoch's batches, the first step's tracing included), the same
clock ``bench/images.py`` puts into the ``kexp run`` spec as a custom callback
(``bench.images_baseline:FitClock``), so both sides are timed by one instrument;
``images_per_s`` = train_images * epochs / fit_s. ``fit_call_s`` is the whole
``model.fit`` call as this script sees it.

    python bench/images_baseline.py --train DIR/train --test DIR/test \\
        [--image-size 28 28] [--color-mode grayscale] [--batch-size 128] [--epochs 3] [--seed 7]

Importing this module defines :class:`FitClock` and runs nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402  (after the log level)


class FitClock(keras.callbacks.Callback):
    """Times the training loop (``on_train_begin`` .. ``on_train_end``) and counts its
    batches; with ``path``, writes ``{"fit_s", "epochs", "steps_per_epoch", "batches"}``
    there as JSON when training ends."""

    def __init__(self, path: str | None = None) -> None:
        super().__init__()
        self.path = path
        self.t0 = self.fit_s = 0.0
        self.batches = self.epochs = 0

    def on_train_begin(self, logs: Any = None) -> None:
        self.batches = self.epochs = 0
        self.t0 = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.batches += 1

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.epochs += 1

    def on_train_end(self, logs: Any = None) -> None:
        self.fit_s = time.perf_counter() - self.t0
        if self.path:
            Path(self.path).write_text(json.dumps(self.record()) + "\n")

    def record(self) -> dict[str, Any]:
        steps = (self.params or {}).get("steps")
        return {"fit_s": round(self.fit_s, 4), "epochs": self.epochs, "steps_per_epoch": steps,
                "batches": self.batches}


def convnet(shape: tuple[int, int, int], classes: int) -> keras.Model:
    """The layers of configs/fashion_folders.yaml, written out in Keras."""
    return keras.Sequential([
        keras.Input(shape=shape),
        keras.layers.Rescaling(1.0 / 255),
        keras.layers.Conv2D(32, kernel_size=3, activation="relu"),
        keras.layers.MaxPooling2D(pool_size=2),
        keras.layers.Conv2D(64, kernel_size=3, activation="relu"),
        keras.layers.MaxPooling2D(pool_size=2),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(classes, activation="softmax"),
    ])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", type=Path, required=True, help="training folder, one subfolder per class")
    ap.add_argument("--test", type=Path, required=True, help="test folder, the same subfolders")
    ap.add_argument("--image-size", type=int, nargs=2, default=[28, 28], metavar=("H", "W"))
    ap.add_argument("--color-mode", choices=["grayscale", "rgb", "rgba"], default="grayscale")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)

    import tensorflow as tf

    keras.utils.set_random_seed(args.seed)
    size = tuple(args.image_size)
    train = keras.utils.image_dataset_from_directory(
        args.train, image_size=size, color_mode=args.color_mode, batch_size=args.batch_size,
        seed=args.seed, verbose=False)
    test = keras.utils.image_dataset_from_directory(
        args.test, image_size=size, color_mode=args.color_mode, batch_size=args.batch_size,
        shuffle=False, verbose=False)
    classes = train.class_names
    if test.class_names != classes:
        raise SystemExit(f"the test folder's classes {test.class_names} are not {classes}")
    n_train = len(train.file_paths)
    channels = {"grayscale": 1, "rgb": 3, "rgba": 4}[args.color_mode]

    model = convnet((*size, channels), len(classes))
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    clock = FitClock()
    t0 = time.perf_counter()
    model.fit(train.prefetch(tf.data.AUTOTUNE), epochs=args.epochs, callbacks=[clock], verbose=2)
    fit_call_s = time.perf_counter() - t0
    scores = model.evaluate(test.prefetch(tf.data.AUTOTUNE), verbose=0, return_dict=True)

    rec = clock.record()
    print(json.dumps({
        "side": "hand", "train_images": n_train, "test_images": len(test.file_paths),
        "classes": len(classes), "batch_size": args.batch_size, "seed": args.seed, **rec,
        "fit_call_s": round(fit_call_s, 4),
        "images_per_s": round(n_train * rec["epochs"] / rec["fit_s"], 1),
        "test_accuracy": float(scores["accuracy"]), "test_loss": float(scores["loss"]),
    }), flush=True)


if __name__ == "__main__":
    main()
