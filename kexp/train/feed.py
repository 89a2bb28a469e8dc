"""The batches a fit trains on: a ``tf.data`` pipeline that kexp builds, not Keras's.

Keras 3, given NumPy arrays, shuffles each epoch inside a fresh ``tf.data`` iterator;
once a global seed is set (every kexp run sets one), each new iterator restarts the
same random stream, so every epoch sees the batches in the same order, and creating
the iterator costs about 20 ms an epoch. kexp instead shuffles with
``Dataset.shuffle(n, seed, reshuffle_each_iteration=True)``: the whole training part,
a new order each epoch, the same orders for the same seed, every epoch's batches of
``batch_size`` with the remainder last, as Keras forms them.

Two pipelines give the same order for the same seed (a shuffle buffer of all ``n``
rows draws the same permutation whatever the rows hold): small data is shuffled row
by row (cheapest for a few thousand rows); larger data shuffles the row indices and
gathers each batch at once (Keras's vectorized way), so the choice between them by
size never changes a result.

On JAX and PyTorch, arrays in memory (numbers, not image files or text) are fed by
:class:`ArrayBatches`, a ``keras.utils.PyDataset`` of NumPy batches: the same batches of
``batch_size`` with the remainder last, each epoch's order a NumPy permutation drawn from
the seed and the epoch, so those processes never import TensorFlow for it (1.5 s of a
JAX process's start). The orders differ from TensorFlow's shuffle, so the batches'
:func:`generation` is another on those backends.

``holdout`` is Keras's ``validation_split``: the last part of the rows, before
shuffling, is the validation data.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from kexp.data import images
from kexp.data.named import rows
from kexp.errors import RunError

#: above this many bytes of training data, batches are gathered by shuffled index
GATHER_BYTES = 16 * 2**20
#: how a fit's batches are formed for a seed; raised whenever the rows a fit sees change.
#: 1: Keras's own batches from NumPy arrays (kexp before it fed its own stream); 2: one
#: ``tf.data`` stream reshuffled every epoch; 3: on JAX and PyTorch, NumPy's orders
#: (:class:`ArrayBatches`). A CV or sweep folder records it (:func:`generation`), and is
#: resumed only by a kexp of the same generation.
GENERATION = 2
NUMPY_GENERATION = 3


def generation() -> int:
    """The batch generation of this process's backend: :data:`NUMPY_GENERATION` where
    arrays are fed by :class:`ArrayBatches`, :data:`GENERATION` on TensorFlow."""
    return GENERATION if _tf_feeds() else NUMPY_GENERATION


def _tf_feeds() -> bool:
    from kexp import backend

    return backend.name() == "tensorflow"


def _numeric(a: Any) -> bool:
    """Whether ``a`` (an array, a dict of them, or None) holds only numbers and booleans,
    which NumPy batches feed on every backend (text goes through ``tf.data``)."""
    if a is None:
        return True
    values = a.values() if isinstance(a, dict) else [a]
    return all(np.asarray(v).dtype.kind in "biuf" for v in values)


def floatx(a: Any) -> Any:
    """``a`` with floating-point arrays cast to Keras's float type, as Keras's own data
    adapters do (float64 data from pandas trains in float32)."""
    from kexp import backend

    want = backend.keras().backend.floatx()

    def cast(v: Any) -> Any:
        v = np.asarray(v)
        return v.astype(want) if v.dtype.kind == "f" and v.dtype != np.dtype(want) else v

    return {k: cast(v) for k, v in a.items()} if isinstance(a, dict) else cast(a)


def nbytes(a: Any) -> int:
    return sum(v.nbytes for v in a.values()) if isinstance(a, dict) else int(a.nbytes)


def holdout_rows(n: int, fraction: float) -> int:
    """How many of ``n`` rows train when the last ``fraction`` is held out (Keras's
    ``validation_split``: ``floor(n * (1 - fraction))``)."""
    return int(math.floor(n * (1.0 - fraction)))


def holdout(x: Any, y: Any, fraction: float) -> tuple[Any, Any, Any, Any]:
    """``x_train, y_train, x_val, y_val``: the last ``fraction`` of the rows held out
    (Keras's ``validation_split``: :func:`holdout_rows` rows train)."""
    split_at = holdout_rows(rows(x), fraction)

    def part(a: Any, sl: slice) -> Any:
        return {k: v[sl] for k, v in a.items()} if isinstance(a, dict) else a[sl]

    head, tail = slice(0, split_at), slice(split_at, None)
    return part(x, head), part(y, head), part(x, tail), part(y, tail)


def batches(x: Any, y: Any, batch_size: int, shuffle: bool, seed: int,
            repeat: bool = False, skip: int = 0) -> Any:
    """A ``tf.data.Dataset`` of ``(x, y)`` batches, one epoch per iteration: reshuffled
    each epoch (``shuffle``) from ``seed``, in order otherwise; ``repeat``: every epoch
    after another in one endless stream (a fit with ``steps_per_epoch`` then keeps one
    iterator, and epoch ``e`` has row order ``epoch_orders(...)[e]``); ``skip``: that
    stream from its ``skip``-th batch on (a resumed run's next batch: the same batches
    as the stream that was not stopped)."""
    if images.is_files(x):
        return image_batches(x, y, batch_size, shuffle, seed, repeat).skip(skip)
    if not _tf_feeds() and _numeric(x) and _numeric(y):
        return array_batches(x, y, batch_size, shuffle, seed, repeat, skip)
    from kexp import backend

    tf = backend.tensorflow()
    x, y = floatx(x), floatx(y)
    n = rows(x)
    seed = int(seed) % 2**63
    if not shuffle or nbytes(x) + nbytes(y) <= GATHER_BYTES:  # in order: no buffer to fill
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        if shuffle:
            ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size)
        if repeat:
            ds = ds.repeat()
        ds = ds.skip(skip)
    else:
        index = _index(n, shuffle, seed).batch(batch_size)
        if repeat:
            index = index.repeat()
        index = index.skip(skip)  # before the rows are gathered: skipping costs no copy
        whole = tf.data.Dataset.from_tensors((x, y)).repeat()
        ds = tf.data.Dataset.zip((index, whole)).map(
            lambda i, data: tf.nest.map_structure(lambda a: tf.gather(a, i), data),
            num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    # no graph rewrites: they would serialize the pipeline (and its data) every epoch
    options.experimental_optimization.apply_default_optimizations = False
    return ds.with_options(options)


def image_batches(x: Any, y: Any, batch_size: int, shuffle: bool, seed: int,
                  repeat: bool = False) -> Any:
    """:func:`batches` of image files (``x``, or some of its inputs), decoded in parallel
    as each batch is formed: the file names are shuffled (the same orders as
    :func:`batches` for the same seed and rows), then each image decoded and resized as
    Keras's ``image_dataset_from_directory`` does, then batched and prefetched. With
    ``cache``, the decoded images are kept after the first pass and shuffled from there.
    ``y`` None: inputs only (predictions)."""
    from kexp import backend

    tf = backend.tensorflow()

    named = x if isinstance(x, dict) else None
    parts = named if named is not None else {"": x}
    tensors = {k: v.paths if isinstance(v, images.ImageFiles) else floatx(v) for k, v in parts.items()}
    decodings = {k: v.decoding for k, v in parts.items() if isinstance(v, images.ImageFiles)}
    first = next(iter(decodings.values()))

    def decode(xs: Any) -> Any:
        out = {k: images.decode(t, decodings[k]) if k in decodings else t for k, t in xs.items()}
        return out if named is not None else out[""]

    data = (tensors, floatx(y)) if y is not None else (tensors,)
    ds = tf.data.Dataset.from_tensor_slices(data)
    seed = int(seed) % 2**63

    def mix(d: Any) -> Any:
        return d.shuffle(rows(x), seed=seed, reshuffle_each_iteration=True) if shuffle else d

    def load(xs: Any, *rest: Any) -> Any:
        return (decode(xs), *rest)

    if first.cache is not False:  # decode once, keep, shuffle the decoded images
        ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)
        ds = mix(ds.cache("" if first.cache is True else str(first.cache)))
    else:
        ds = mix(ds).map(load, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size)
    if repeat:
        ds = ds.repeat()
    if first.prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    return ds if y is not None else ds.map(lambda xs: xs)


def steps(n: int, batch_size: int) -> int:
    """Batches in an epoch of ``n`` rows (the last one may be smaller)."""
    return max(1, math.ceil(n / batch_size))


def per_call(asked: int) -> int:
    """The steps one call into the backend may run, of the spec's ``steps_per_execution``:
    ``asked``; 1 on PyTorch, whose Keras trainer runs one step a call."""
    from kexp import backend

    return 1 if backend.name() == "torch" else asked


def per_execution(asked: int, steps_per_epoch: int) -> int:
    """The largest divisor of ``steps_per_epoch`` up to ``asked`` (the spec's
    ``steps_per_execution``, as :func:`per_call` allows): every call into the backend then
    ends on an epoch's last step of an endless stream of batches. The same batches and the
    same math either way."""
    top = min(per_call(asked), steps_per_epoch)
    return max(d for d in range(1, top + 1) if steps_per_epoch % d == 0)


def epoch_orders(n: int, shuffle: bool, seed: int, epochs: int) -> np.ndarray:
    """``[epochs, n]``: the row order of each epoch of :func:`batches` for ``n`` rows (made
    under the same TensorFlow global seed, the same orders: one shuffle stream reshuffled
    each epoch, repeated here instead of iterated anew; on JAX and PyTorch, the orders of
    :class:`ArrayBatches`)."""
    if not shuffle:
        return np.tile(np.arange(n, dtype=np.int64), (epochs, 1))
    if not _tf_feeds():
        return np.stack([numpy_order(n, seed, e) for e in range(epochs)])
    return next(iter(_index(n, True, seed).batch(n).repeat(epochs).batch(epochs))).numpy()


def _index(n: int, shuffle: bool, seed: int) -> Any:
    """Row indices ``0..n-1``, reshuffled each iteration from ``seed`` (``shuffle``): the
    order :func:`batches` gathers by, and :func:`epoch_orders` reads."""
    from kexp import backend

    tf = backend.tensorflow()

    index = tf.data.Dataset.range(n)
    if shuffle:
        index = index.shuffle(n, seed=int(seed) % 2**63, reshuffle_each_iteration=True)
    return index


def numpy_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """Epoch ``epoch``'s row order of :class:`ArrayBatches` shuffled from ``seed``."""
    return np.random.default_rng([int(seed) % 2**63, epoch]).permutation(n)


class ArrayBatches:
    """Marks :func:`array_batches`'s PyDataset (the class is made when Keras is there)."""

    def __getitem__(self, g: int) -> Any:
        raise NotImplementedError


_ARRAY_BATCHES: Any = None


def array_batches(x: Any, y: Any, batch_size: int, shuffle: bool, seed: int,
                  repeat: bool = False, skip: int = 0) -> Any:
    """The batches of :func:`batches` for arrays in memory on JAX and PyTorch, as a
    ``keras.utils.PyDataset``: batch ``g`` of the stream is batch ``g % steps`` of epoch
    ``g // steps`` (from ``skip`` on), rows in that epoch's order (:func:`numpy_order`, in
    order without ``shuffle``); endless with ``repeat`` (a fit with ``steps_per_epoch``
    keeps one iterator), one epoch otherwise. ``y`` None: inputs only (predictions)."""
    global _ARRAY_BATCHES
    if _ARRAY_BATCHES is None:
        _ARRAY_BATCHES = _array_batches_class()
    return _ARRAY_BATCHES(x, y, batch_size, shuffle, seed, repeat, skip)


def _array_batches_class() -> Any:
    from kexp import backend

    keras = backend.keras()

    py_dataset: Any = keras.utils.PyDataset

    class _ArrayBatches(py_dataset, ArrayBatches):
        def __init__(self, x: Any, y: Any, batch_size: int, shuffle: bool, seed: int,
                     repeat: bool = False, skip: int = 0) -> None:
            super().__init__(workers=1, use_multiprocessing=False)  # batches made here
            self.x, self.y = floatx(x), None if y is None else floatx(y)
            self.n, self.batch_size = rows(self.x), batch_size
            self.steps = steps(self.n, batch_size)
            self.shuffle, self.seed, self.repeat, self.skip = shuffle, seed, repeat, skip
            self.part: tuple[int, int] | None = None  # (workers, this one): its cut of a batch
            self._epoch, self._order = -1, np.arange(0)

        @property
        def num_batches(self) -> int | None:
            return None if self.repeat else self.steps - self.skip

        def __len__(self) -> int:
            return self.steps - self.skip

        def for_worker(self, workers: int, index: int) -> Any:
            """These batches, each cut to worker ``index``'s contiguous part of ``workers``."""
            self.part = (workers, index)
            return self

        def order(self, epoch: int) -> np.ndarray | None:
            if not self.shuffle:
                return None
            if epoch != self._epoch:
                self._epoch, self._order = epoch, numpy_order(self.n, self.seed, epoch)
            return self._order

        def __getitem__(self, g: int) -> Any:
            epoch, b = divmod(g + self.skip, self.steps)
            if not self.repeat and epoch:
                raise IndexError(g)
            lo, hi = b * self.batch_size, min(self.n, (b + 1) * self.batch_size)
            if self.part is not None:
                workers, index = self.part
                size = (hi - lo) // workers
                lo, hi = lo + index * size, lo + (index + 1) * size
            order = self.order(epoch)
            pick: Any = slice(lo, hi) if order is None else order[lo:hi]

            def take(a: Any) -> Any:
                return keras.tree.map_structure(lambda v: v[pick], a)

            return (take(self.x),) if self.y is None else (take(self.x), take(self.y))

    return _ArrayBatches


def check_generation(recorded: Any, path: Path, start_over: str) -> None:
    """RunError unless ``recorded`` (a CV's or sweep's record of how its fits formed their
    batches, missing before kexp recorded it) is this kexp's on this backend: what is left
    to train would see other rows for the same seeds than what finished, and the record
    would mix both."""
    now = generation()
    if recorded == now:
        return
    how = {GENERATION: "one tf.data stream reshuffled every epoch",
           NUMPY_GENERATION: "NumPy's orders of JAX and PyTorch"}
    whose = ("another backend" if recorded in how else "an earlier kexp")
    raise RunError(f"{path}: its finished work trained on the batches of {whose} (batch "
                   f"generation {recorded or 1}; this kexp on {_backend_name()}: {now}, "
                   f"{how[now]}), so resuming would mix two ways of training; {start_over}")


def _backend_name() -> str:
    from kexp import backend

    return backend.name()
