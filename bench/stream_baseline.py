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

try:  # imported as bench.stream_baseline (the kexp spec's callback) or run as a script
    from bench import images_baseline
except ImportError:  # pragma: no cover - python bench/stream_baseline.py
    import images_baseline  # type: ignore[no-redef]

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


class FitClock(images_baseline.FitClock):
    """bench/images_baseline.py's clock of the training loop, also reading this process's
    VmHWM at both ends; with ``path``, writes ``{"fit_s", "epochs", "steps_per_epoch",
    "batches", "vmhwm_train_begin_mib", "vmhwm_train_end_mib"}`` there as JSON when
    training ends."""

    def __init__(self, path: str | None = None) -> None:
        super().__init__(path)
        self.hwm_begin: float | None = None
        self.hwm_end: float | None = None

    def on_train_begin(self, logs: Any = None) -> None:
        self.hwm_begin = vmhwm_mib()
        super().on_train_begin(logs)

    def on_train_end(self, logs: Any = None) -> None:
        self.hwm_end = vmhwm_mib()  # before the clock's record is written
        super().on_train_end(logs)

    def record(self) -> dict[str, Any]:
        return {**super().record(), "vmhwm_train_begin_mib": self.hwm_begin,
                "vmhwm_train_end_mib": self.hwm_end}


def model_37(features: int) -> keras.Model:
    """The spec's layers (bench/stream.py's SPEC), written out in Keras."""
    return keras.Sequential([
        keras.Input(shape=(features,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])


class CsvPipeline:
    """The file's lines as tf.data pipelines: :meth:`fit_pass` (means, standard deviations,
    categories of the training rows) and :meth:`batches` (a part's rows, encoded)."""

    def __init__(self, path: Path, batch_size: int, seed: int, test_size: float) -> None:
        import tensorflow as tf

        self.tf, self.path, self.batch_size, self.seed = tf, path, batch_size, seed
        self.cut = round(test_size * BUCKETS)
        self.defaults = [[0.0]] * len(NUMERIC) + [[""]] * len(CATEGORICAL) + [[0.0]]
        self.mean_t = self.std_t = None
        self.lookups: list[Any] = []
        self.vocab: list[list[str]] = []

    def lines(self) -> Any:
        return self.tf.data.TextLineDataset(str(self.path), buffer_size=1 << 22).skip(1)

    def bucket(self, lines: Any) -> Any:
        return self.tf.strings.to_hash_bucket_strong(lines, BUCKETS, [self.seed, 0x6B657870])

    def decode(self, lines: Any) -> tuple[Any, Any, Any]:
        tf = self.tf
        cols = tf.io.decode_csv(lines, record_defaults=self.defaults)
        x = tf.stack(cols[:len(NUMERIC)], axis=1)
        return x, tf.stack(cols[len(NUMERIC):-1], axis=1), cols[-1]

    def fit_pass(self) -> tuple[int, int]:
        """One pass over the file: the training rows' means, standard deviations and
        categories (kept for :meth:`batches`); returns (training rows, test rows)."""
        tf = self.tf
        total = tf.zeros([len(NUMERIC)], tf.float64)
        squares = tf.zeros([len(NUMERIC)], tf.float64)
        seen: list[set[str]] = [set() for _ in CATEGORICAL]
        n = n_test = 0

        def split(block: Any) -> tuple[Any, Any, Any]:
            keep = self.bucket(block) >= self.cut
            x, c, _ = self.decode(tf.boolean_mask(block, keep))
            return x, c, tf.reduce_sum(tf.cast(~keep, tf.int64))

        blocks = self.lines().batch(4096).map(split, num_parallel_calls=tf.data.AUTOTUNE)
        for x, c, held in blocks.prefetch(tf.data.AUTOTUNE):
            n_test += int(held)
            x64 = tf.cast(x, tf.float64)
            n += int(x.shape[0])
            total += tf.reduce_sum(x64, axis=0)
            squares += tf.reduce_sum(x64 * x64, axis=0)
            for j, found in enumerate(seen):
                found.update(v.decode() for v in tf.unique(c[:, j])[0].numpy())
        mean = (total / n).numpy()
        std = np.sqrt(np.maximum((squares / n).numpy() - mean * mean, 0.0))
        self.mean_t = tf.constant(mean, tf.float32)
        self.std_t = tf.constant(np.where(std > 0, std, 1.0), tf.float32)
        self.vocab = [sorted(found) for found in seen]
        self.lookups = [keras.layers.StringLookup(vocabulary=v, num_oov_indices=0,
                                                  output_mode="one_hot") for v in self.vocab]
        return n, n_test

    @property
    def width(self) -> int:
        return len(NUMERIC) + sum(len(v) for v in self.vocab)

    def features(self, lines: Any) -> tuple[Any, Any]:
        tf = self.tf
        x, c, y = self.decode(lines)
        parts = [(x - self.mean_t) / self.std_t]
        parts += [tf.cast(lk(c[:, j]), tf.float32) for j, lk in enumerate(self.lookups)]
        return tf.concat(parts, axis=1), tf.expand_dims(y, 1)

    def batches(self, test: bool) -> Any:
        """Lines read in blocks of 4096, the block's training (or test) lines kept by their
        hash, re-cut into batches of B (``rebatch``: one tf.data op, not a filter per line),
        decoded and encoded per batch in parallel."""
        tf = self.tf

        def keep(block: Any) -> Any:
            b = self.bucket(block)
            return tf.boolean_mask(block, (b < self.cut) if test else (b >= self.cut))

        ds = self.lines().batch(4096).map(keep, num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.rebatch(self.batch_size).map(self.features, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", type=Path, required=True, help="the file bench/stream.py generates")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test-size", type=float, default=0.2, help="share of rows held out by hash")
    args = ap.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    csv = CsvPipeline(args.csv, args.batch_size, args.seed, args.test_size)
    t0 = time.perf_counter()
    n, n_test = csv.fit_pass()
    prep_s = time.perf_counter() - t0
    hwm_prep = vmhwm_mib()

    model = model_37(csv.width)
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    clock = FitClock()
    t0 = time.perf_counter()
    model.fit(csv.batches(test=False), epochs=1, callbacks=[clock], verbose=0)
    fit_call_s = time.perf_counter() - t0
    hwm_fit = vmhwm_mib()
    t0 = time.perf_counter()
    scores = model.evaluate(csv.batches(test=True), verbose=0, return_dict=True)
    eval_s = time.perf_counter() - t0

    rec = clock.record()
    print(json.dumps({
        "side": "hand", "rows": n + n_test, "train_rows": n, "test_rows": n_test,
        "features": csv.width, "batch_size": args.batch_size, "seed": args.seed, **rec,
        "fit_call_s": round(fit_call_s, 4), "rows_per_s": round(n / rec["fit_s"], 1),
        "prep_s": round(prep_s, 3), "eval_s": round(eval_s, 3),
        "test_accuracy": round(float(scores["accuracy"]), 5),
        "test_loss": round(float(scores["loss"]), 5),
        "vmhwm_after_prep_mib": hwm_prep, "vmhwm_after_fit_mib": hwm_fit, "vmhwm_mib": vmhwm_mib(),
    }), flush=True)


if __name__ == "__main__":
    main()
