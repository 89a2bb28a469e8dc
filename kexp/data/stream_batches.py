"""A streamed CSV's part batched for Keras (:class:`CsvBatches`): the rows of
:class:`kexp.data.stream.Table` chunks preprocessed, shuffled within each chunk, and fed
to ``tf.data`` in blocks of whole batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kexp.data.stream import Table

#: what a block of streamed rows that is not finite raises, inside tf.data (the fit turns
#: it back into a DataError)
NOT_FINITE = "kexp: streamed rows not finite: "


@dataclass
class CsvBatches:
    """One part of a streamed CSV, preprocessed chunk by chunk and batched for Keras.

    ``name_data(x, y)`` names a chunk's columns by the model's inputs and outputs;
    ``pre`` is the fitted NamedPreprocessor. The training part (``shuffle``) is repeated
    endlessly with ``steps`` batches an epoch; the others are one pass each time."""

    tables: list[Table]
    part: str
    pre: Any
    name_data: Any
    batch_size: int
    rows: int
    shuffle: bool = False
    seed: int = 0
    repeat: bool = False
    epoch: int = 0
    sample: tuple[Any, Any] | None = None  # a few rows in Keras's form, for the signature

    @property
    def name(self) -> str:
        return str(self.tables[0].path)

    @property
    def steps(self) -> int | None:
        """Batches an epoch of the training part (None: a pass of the others)."""
        return max(1, -(-self.rows // self.batch_size)) if self.repeat else None

    def keras_form(self, x: Any, y: Any) -> tuple[Any, Any]:
        """A chunk's rows preprocessed, in the form Keras takes (an array for a model's
        only input or output, a dict by name for several)."""
        xn, yn = self.name_data(x, y)
        xs = self.pre.transform_x(xn, "x_" + self.part)
        ys = self.pre.transform_y(yn, "y_" + self.part)
        return _alone(xs), _alone(ys)

    def _blocks(self) -> Iterator[tuple[Any, Any]]:
        """The part's rows in blocks of whole batches (the last one what is left),
        shuffled within each chunk, a new order each pass."""
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        carry: tuple[Any, Any] | None = None
        for table in self.tables:
            for x, y, first_line in table.chunks(self.part):
                xs, ys = self.keras_form(x, y)
                _check_finite(xs, table.path, first_line)
                if self.shuffle:
                    order = rng.permutation(_length(xs))
                    xs, ys = _take(xs, order), _take(ys, order)
                if carry is not None:  # the rows left from the chunk before go first
                    need = self.batch_size - _length(carry[0])
                    head = slice(0, need)
                    if _length(xs) < need:
                        carry = (_join(carry[0], xs), _join(carry[1], ys))
                        continue
                    yield _join(carry[0], _take(xs, head)), _join(carry[1], _take(ys, head))
                    xs, ys = _take(xs, slice(need, None)), _take(ys, slice(need, None))
                whole = _length(xs) // self.batch_size * self.batch_size
                if whole:  # views of the chunk's rows, copied only by tf.data
                    yield _take(xs, slice(0, whole)), _take(ys, slice(0, whole))
                carry = (_take(xs, slice(whole, None)), _take(ys, slice(whole, None)))
        if carry is not None and _length(carry[0]):
            yield carry

    def for_keras(self) -> Any:
        """A ``tf.data`` pipeline of the part's batches."""
        from kexp import backend

        tf = backend.tensorflow()

        assert self.sample is not None
        signature = tf.nest.map_structure(
            lambda a: tf.TensorSpec((None, *np.shape(a)[1:]), tf.as_dtype(np.asarray(a).dtype)),
            self.sample)
        def stacked() -> Iterator[tuple[Any, Any]]:  # a block as (batches, batch, ...)
            for xs, ys in self._blocks():
                n = _length(xs)
                k, b = (n // self.batch_size, self.batch_size) if n % self.batch_size == 0 else (1, n)
                yield _shaped(xs, k, b), _shaped(ys, k, b)

        signature = tf.nest.map_structure(
            lambda spec: tf.TensorSpec((None, *spec.shape), spec.dtype), signature)
        ds = tf.data.Dataset.from_generator(stacked, output_signature=signature).unbatch()
        if self.repeat:
            ds = ds.repeat()
        return ds.prefetch(tf.data.AUTOTUNE)

    def batches(self) -> Iterator[tuple[Any, Any]]:
        """Each chunk of the part: its inputs preprocessed, its labels as given (label
        maps applied), for the predictions."""
        for table in self.tables:
            for x, y, _ in table.chunks(self.part):
                xn, yn = self.name_data(x, y)
                yield _alone(self.pre.transform_x(xn, "x_" + self.part)), self.pre.map_labels(yn)


def _alone(a: dict[str, Any]) -> Any:
    return next(iter(a.values())) if len(a) == 1 else a


def _length(a: Any) -> int:
    return len(next(iter(a.values()))) if isinstance(a, dict) else len(a)


def _take(a: Any, idx: Any) -> Any:
    return {k: v[idx] for k, v in a.items()} if isinstance(a, dict) else a[idx]


def _shaped(a: Any, k: int, b: int) -> Any:
    """``a``'s rows as ``k`` batches of ``b``."""
    if isinstance(a, dict):
        return {name: v.reshape(k, b, *v.shape[1:]) for name, v in a.items()}
    return a.reshape(k, b, *a.shape[1:])


def _join(a: Any, b: Any) -> Any:
    if isinstance(a, dict):
        return {k: np.concatenate([a[k], b[k]]) for k in a}
    return np.concatenate([a, b])


def _check_finite(xs: Any, path: Path, first_line: int) -> None:
    for name, arr in (xs.items() if isinstance(xs, dict) else [("x", xs)]):
        arr = np.asarray(arr)
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            row = int(np.nonzero(~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1))[0][0])
            raise ValueError(f"{NOT_FINITE}{path}: a row of the chunk from line {first_line} "
                             f"(row {row + 1} of the part there) has a missing or infinite value "
                             f"after preprocessing ({name}); mark and fill missing values with an "
                             "impute step, or drop those rows with data.dropna")
