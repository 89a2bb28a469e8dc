"""The hand-written side of ``bench/stream.py``: a CSV file too big to hold, streamed
through a plain tf.data pipeline into a small Keras model.

The pipeline is the tf.data CSV idiom written out by hand: ``TextLineDataset`` (header
skipped) read in blocks of 4096 lines, rows held out by a seeded hash of each line
(``tf.strings.to_hash_bucket_strong``, ``--test-size``, as kexp's ``data.test.size`` holds
rows out by a hash: the training part is about 80% of the rows), the kept lines re-cut into
batches of B with ``rebatch`` (a ``filter`` per line is 6x slower: 20 s against 3 s for
the 800,000 training lines of the 1M file on the 2-core machine), then, per batch and in
parallel, ``tf.io.decode_csv``, the 20 numeric columns
standardized with means and standard deviations computed in a first streaming pass over
the training rows, the two categorical columns one-hot encoded with
``keras.layers.StringLookup(vocabulary=..., output_mode="one_hot")`` on the categories
that pass found (sorted, as ``get_dummies`` sorts them), ``prefetch(AUTOTUNE)``. The model
is ``Dense(64, relu) -> Dense(1, sigmoid)`` on the 37 features (20 + 5 + 12), adam,
binary cross-entropy, one epoch of ``model.fit``, then ``model.evaluate`` on the held-out
rows. Prints one JSON line:

    {"side": "hand", "rows": ..., "train_rows": ..., "test_rows": ..., "fit_s": ...,
     "rows_per_s": ..., "prep_s": ..., "vmhwm_mib": ..., "test_accuracy": ..., ...}

``fit_s`` is the training loop as :class:`FitClock` times it (Keras's ``on_train_begin``
to ``on_train_end``, the first step's tracing included); ``bench/stream.py`` names the
same clock in the ``kexp run`` spec (``bench.stream_baseline:FitClock``), so both sides'
training epochs are timed by one instrument and neither side's fitting pass (means,
standard deviations, categories) is in ``fit_s``: that pass is ``prep_s`` here.
``rows_per_s`` = train_rows / fit_s. ``vmhwm_mib`` is this process's peak resident memory
(``VmHWM`` of /proc/self/status) at the end; ``vmhwm_after_*`` the same after each stage.

    python bench/stream_baseline.py --csv FILE [--batch-size 256] [--seed 0] [--test-size 0.2]

Importing this module defines :class:`FitClock` and :func:`vmhwm_mib` and runs nothing
else.
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
import numpy as np  # noqa: E402

NUMERIC = [f"x{i}" for i in range(20)]
CATEGORICAL = ["c0", "c1"]
COLUMNS = [*NUMERIC, *CATEGORICAL, "label"]
BUCKETS = 1000  # the hash's resolution: test-size 0.2 holds out buckets 0..199


def vmhwm_mib(pid: int | str = "self") -> float | None:
    """Peak resident memory (VmHWM) of a process in MiB, from /proc; None off Linux."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


class FitClock(keras.callbacks.Callback):
    """Times the training loop (``on_train_begin`` .. ``on_train_end``), counts its
    batches and reads this process's VmHWM at both ends; with ``path``, writes
    ``{"fit_s", "epochs", "steps_per_epoch", "batches", "vmhwm_train_begin_mib",
    "vmhwm_train_end_mib"}`` there as JSON when training ends."""

    def __init__(self, path: str | None = None) -> None:
        super().__init__()
        self.path = path
        self.t0 = self.fit_s = 0.0
        self.batches = self.epochs = 0
        self.hwm_begin = self.hwm_end = None

    def on_train_begin(self, logs: Any = None) -> None:
        self.batches = self.epochs = 0
        self.hwm_begin = vmhwm_mib()
        self.t0 = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.batches += 1

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.epochs += 1

    def on_train_end(self, logs: Any = None) -> None:
        self.fit_s = time.perf_counter() - self.t0
        self.hwm_end = vmhwm_mib()
        if self.path:
            Path(self.path).write_text(json.dumps(self.record()) + "\n")

    def record(self) -> dict[str, Any]:
        steps = (self.params or {}).get("steps")
        return {"fit_s": round(self.fit_s, 4), "epochs": self.epochs, "steps_per_epoch": steps,
                "batches": self.batches, "vmhwm_train_begin_mib": self.hwm_begin,
                "vmhwm_train_end_mib": self.hwm_end}


def model_37(features: int, seed: int) -> keras.Model:
    """The spec's layers (bench/stream.py's SPEC), written out in Keras."""
    return keras.Sequential([
        keras.Input(shape=(features,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", type=Path, required=True, help="the file bench/stream.py generates")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test-size", type=float, default=0.2, help="share of rows held out by hash")
    args = ap.parse_args(argv)

    import tensorflow as tf

    keras.utils.set_random_seed(args.seed)
    cut = round(args.test_size * BUCKETS)
    defaults = [[0.0]] * len(NUMERIC) + [[""]] * len(CATEGORICAL) + [[0.0]]

    def lines() -> tf.data.Dataset:
        return tf.data.TextLineDataset(str(args.csv), buffer_size=1 << 22).skip(1)

    def bucket(line: tf.Tensor) -> tf.Tensor:
        return tf.strings.to_hash_bucket_strong(line, BUCKETS, [args.seed, 0x6B657870])

    def decode(batch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        cols = tf.io.decode_csv(batch, record_defaults=defaults)
        x = tf.stack(cols[:len(NUMERIC)], axis=1)
        return x, tf.stack(cols[len(NUMERIC):-1], axis=1), cols[-1]

    # ---- the fitting pass: means, standard deviations, categories of the training rows
    t0 = time.perf_counter()
    total = tf.zeros([len(NUMERIC)], tf.float64)
    squares = tf.zeros([len(NUMERIC)], tf.float64)
    seen: list[set[str]] = [set() for _ in CATEGORICAL]
    n = n_test = 0

    def split(batch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        keep = bucket(batch) >= cut
        x, c, _ = decode(tf.boolean_mask(batch, keep))
        return x, c, tf.reduce_sum(tf.cast(~keep, tf.int64))

    pass1 = lines().batch(4096).map(split, num_parallel_calls=tf.data.AUTOTUNE)
    for x, c, held in pass1.prefetch(tf.data.AUTOTUNE):
        n_test += int(held)
        x64 = tf.cast(x, tf.float64)
        n += int(x.shape[0])
        total += tf.reduce_sum(x64, axis=0)
        squares += tf.reduce_sum(x64 * x64, axis=0)
        for j, s in enumerate(seen):
            s.update(v.decode() for v in tf.unique(c[:, j])[0].numpy())
    mean = (total / n).numpy()
    std = np.sqrt(np.maximum((squares / n).numpy() - mean * mean, 0.0))
    std = np.where(std > 0, std, 1.0)
    vocab = [sorted(s) for s in seen]
    prep_s = time.perf_counter() - t0
    hwm_prep = vmhwm_mib()

    lookups = [keras.layers.StringLookup(vocabulary=v, num_oov_indices=0, output_mode="one_hot")
               for v in vocab]
    mean_t, std_t = tf.constant(mean, tf.float32), tf.constant(std, tf.float32)

    def features(batch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x, c, y = decode(batch)
        parts = [(x - mean_t) / std_t] + [tf.cast(lk(c[:, j]), tf.float32) for j, lk in enumerate(lookups)]
        return tf.concat(parts, axis=1), tf.expand_dims(y, 1)

    def pipeline(test: bool) -> tf.data.Dataset:
        """Lines read in blocks of 4096, the block's training (or test) lines kept by their
        hash, re-cut into batches of B (``rebatch``: one tf.data op, not a filter per line),
        decoded and encoded per batch in parallel."""
        def keep(block: tf.Tensor) -> tf.Tensor:
            return tf.boolean_mask(block, (bucket(block) < cut) if test else (bucket(block) >= cut))

        ds = lines().batch(4096).map(keep, num_parallel_calls=tf.data.AUTOTUNE).rebatch(args.batch_size)
        return ds.map(features, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    width = len(NUMERIC) + sum(len(v) for v in vocab)
    model = model_37(width, args.seed)
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    clock = FitClock()
    t0 = time.perf_counter()
    model.fit(pipeline(test=False), epochs=1, callbacks=[clock], verbose=0)
    fit_call_s = time.perf_counter() - t0
    hwm_fit = vmhwm_mib()
    t0 = time.perf_counter()
    scores = model.evaluate(pipeline(test=True), verbose=0, return_dict=True)
    eval_s = time.perf_counter() - t0

    rec = clock.record()
    print(json.dumps({
        "side": "hand", "rows": n + n_test, "train_rows": n, "test_rows": n_test,
        "features": width, "batch_size": args.batch_size, "seed": args.seed,
**rec, "fit_call_s": round(fit_call_s, 4),
        "rows_per_s": round(n / rec["fit_s"], 1), "prep_s": round(prep_s, 3),
        "eval_s": round(eval_s, 3),
        "test_accuracy": round(float(scores["accuracy"]), 5), "test_loss": round(float(scores["loss"]), 5),
        "vmhwm_after_prep_mib": hwm_prep, "vmhwm_after_fit_mib": hwm_fit, "vmhwm_mib": vmhwm_mib(),
    }), flush=True)


if __name__ == "__main__":
    main()
