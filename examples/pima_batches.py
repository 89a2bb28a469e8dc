"""The Pima diabetes rows as batches made by your own code: a ``keras.utils.PyDataset``
and the same batches from a generator function (what ``fit_generator`` trained on in
Keras 2). Referenced from a spec as ``data.object: examples.pima_batches:PimaBatches``
(or ``:pima_rows``).

Both read ``datasets/pima-indians-diabetes.csv`` (no header; 8 features, then the 0/1
outcome; looked up in the current folder, then beside this package) and keep every fifth row for the test part (``part: test``), the others for
training (``part: train``); the features are divided by each column's maximum over the
training rows, so the batches are ready for the network as they come.

Under ``kexp cv`` each fold's batches are made with ``fold`` (1..K) and ``folds`` (K)
as well: then the test part is every K-th row from the fold's (fold ``fold``'s rows) and
the training part the other folds' rows.
"""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np

DATA = Path("datasets") / "pima-indians-diabetes.csv"


def _rows(part: str, fold: int | None = None, folds: int | None = None
          ) -> tuple[np.ndarray, np.ndarray]:
    if part not in ("train", "test"):
        raise ValueError(f"part must be 'train' or 'test', received {part!r}")
    path = DATA if DATA.is_file() else Path(__file__).resolve().parent.parent / DATA
    table = np.loadtxt(path, delimiter=",", dtype=np.float32)
    if fold is not None and folds is not None:  # kexp cv: fold `fold` of `folds` is the test part
        test = np.arange(len(table)) % folds == fold - 1
    else:
        test = np.arange(len(table)) % 5 == 4
    scale = table[~test, :8].max(axis=0)
    chosen = table[test] if part == "test" else table[~test]
    return chosen[:, :8] / scale, chosen[:, 8:]


class PimaBatches(keras.utils.PyDataset):
    """Batches of ``batch_size`` rows of one part, reshuffled every epoch (``shuffle``)."""

    def __init__(self, part: str = "train", batch_size: int = 10, shuffle: bool = True,
                 seed: int = 0, fold: int | None = None, folds: int | None = None, **kwargs):
        super().__init__(**kwargs)  # workers, use_multiprocessing, max_queue_size
        self.x, self.y = _rows(part, fold, folds)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(len(self.x))
        self.on_epoch_end()

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        return self.x[rows], self.y[rows]

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self.rng.shuffle(self.order)


def pima_rows(part: str = "train", batch_size: int = 10, seed: int = 0,
              fold: int | None = None, folds: int | None = None):
    """The same batches from a generator: one pass over the part, in a new order each
    time it is called (kexp calls it anew for every epoch)."""
    x, y = _rows(part, fold, folds)
    order = np.random.default_rng(seed).permutation(len(x))
    for start in range(0, len(x), batch_size):
        rows = order[start:start + batch_size]
        yield x[rows], y[rows]
