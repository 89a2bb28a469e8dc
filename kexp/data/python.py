"""Your own data set (``source: python``): a ``keras.utils.PyDataset`` subclass or a
generator function yielding ``(x, y)`` batches, named ``package.module:attribute``.

The object is imported and checked to be one of the two before anything calls it (a
class of another kind, a plain function, a built-in or a value is a ConfigError naming
``data.object``); its arguments are checked against its signature; then the training
part is made and its first batch taken, and that batch's structure is checked (a tuple
``(x, y)`` or ``(x, y, sample_weight)`` of arrays, or of dicts by the model's input and
output names). :class:`Batches` is one part (train, validation, test): what Keras's
``fit`` takes (the PyDataset itself, or a ``tf.data`` pipeline that calls the generator
function anew every epoch, as Keras's own generator adapter does for TensorFlow), and
its batches one by one for the predictions.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kexp.errors import ConfigError, DataError, exception_line
from kexp.imports import import_object
from kexp.spec import PythonData

KEY = ("data", "object")
ACCEPTS = "a subclass of keras.utils.PyDataset or a generator function yielding (x, y) batches"


@dataclass
class Batches:
    """One part of a Python data set: made anew from its object and arguments each time
    Keras or kexp goes through it; ``first`` is its first batch, as numbers."""

    name: str
    obj: Any
    args: dict[str, Any]
    steps: int | None
    settings: dict[str, Any] = field(default_factory=dict)
    first: tuple[Any, ...] = ()
    #: inputs, outputs given per name to a model with one of them: Keras takes the
    #: array alone (x, y), as kexp.data.named.for_keras gives it
    unwrap: tuple[bool, bool] = (False, False)

    @property
    def is_class(self) -> bool:
        return isinstance(self.obj, type)

    def make(self) -> Any:
        """A fresh PyDataset instance or generator; ConfigError naming the object when
        calling it fails."""
        try:
            made = self.obj(**self.args)
        except Exception as exc:
            raise ConfigError(KEY, f"'{self.name}' failed when called with {self.args}: "
                              f"{exception_line(exc)}") from None
        if self.is_class:
            for key, value in self.settings.items():
                setattr(made, key, value)  # PyDataset's workers, use_multiprocessing, ...
        return made

    def for_keras(self) -> Any:
        """What ``model.fit`` / ``evaluate`` take: the PyDataset, or a ``tf.data`` pipeline
        calling the generator function anew for each pass."""
        if self.is_class:
            made = self.make()
            return _Unwrapped.around(made, self) if any(self.unwrap) else made
        from kexp import backend

        tf = backend.tensorflow()

        def each() -> Iterator[tuple[Any, ...]]:
            for batch in self.make():
                yield self.as_keras(tuple(batch))

        return tf.data.Dataset.from_generator(
            each, output_signature=_signature(self.as_keras(self.first)))

    def as_keras(self, batch: tuple[Any, ...]) -> tuple[Any, ...]:
        """``batch`` with a lone input's (output's) array taken out of its dict."""
        parts = list(batch)
        for i, alone in enumerate(self.unwrap):
            if alone and isinstance(parts[i], dict) and len(parts[i]) == 1:
                parts[i] = next(iter(parts[i].values()))
        return tuple(parts)

    def batches(self) -> Iterator[tuple[Any, ...]]:
        """Every batch of one pass (at most ``steps``), in Keras's form (:meth:`as_keras`)."""
        made = self.make()
        if self.is_class:
            total = made.num_batches
            count = self.steps if total is None else min(total, self.steps or total)
            if count is None:
                raise DataError(f"{self.name}: an endless PyDataset (num_batches is None) needs "
                                "data.test_steps to be predicted")
            for i in range(count):
                yield self.as_keras(tuple(made[i]))
        else:
            for i, batch in enumerate(made):
                if self.steps is not None and i >= self.steps:
                    break
                yield self.as_keras(tuple(batch))


class _Unwrapped:
    """A PyDataset whose batches :meth:`Batches.as_keras` turns into Keras's form (made
    as a ``keras.utils.PyDataset`` subclass in :meth:`around`, where Keras is imported)."""

    @staticmethod
    def around(inner: Any, batches: Batches) -> Any:
        from kexp import backend

        base: Any = backend.keras().utils.PyDataset

        class Unwrapped(base):
            def __init__(self) -> None:
                super().__init__(workers=inner.workers, use_multiprocessing=inner.use_multiprocessing,
                                 max_queue_size=inner.max_queue_size)

            def __len__(self) -> int:
                return len(inner)

            @property
            def num_batches(self) -> int | None:
                return inner.num_batches

            def __getitem__(self, index: int) -> Any:
                return batches.as_keras(tuple(inner[index]))

            def on_epoch_end(self) -> None:
                inner.on_epoch_end()

        return Unwrapped()


def _signature(batch: tuple[Any, ...]) -> Any:
    from kexp import backend

    tf = backend.tensorflow()

    def spec(a: Any) -> Any:
        if isinstance(a, dict):
            return {k: spec(v) for k, v in a.items()}
        arr = np.asarray(a)
        return tf.TensorSpec((None, *arr.shape[1:]), tf.as_dtype(arr.dtype))

    return tuple(spec(part) for part in batch)


def check_object(obj: Any, name: str) -> str:
    """``class`` or ``generator`` for what ``data.object`` may be; ConfigError otherwise
    (nothing is called)."""
    from kexp import backend

    base = backend.keras().utils.PyDataset
    if isinstance(obj, type) and issubclass(obj, base):
        return "class"
    if inspect.isgeneratorfunction(obj):
        return "generator"
    if isinstance(obj, type):
        what = f"the class {obj.__module__}.{obj.__qualname__}, not a PyDataset subclass"
        hint = "Subclass keras.utils.PyDataset (with __len__ and __getitem__)"
    elif inspect.isfunction(obj):
        what = f"the function {obj.__module__}.{obj.__qualname__}, which returns (no yield)"
        hint = "Make it a generator: yield each (x, y) batch"
    elif inspect.isbuiltin(obj):
        what, hint = "a built-in", "Name your own data set class or generator function"
    else:
        article = "an" if type(obj).__name__[:1].lower() in "aeiou" else "a"
        what = f"{article} {type(obj).__name__} object"
        hint = "Name the class or the generator function itself, with its arguments in data.args"
    raise ConfigError(KEY, f"'{name}' is {what}; data.object must be {ACCEPTS}", hint=hint)


def _check_args(obj: Any, name: str, args: dict[str, Any], key: tuple) -> None:
    try:
        inspect.signature(obj).bind(**args)
    except TypeError as exc:
        raise ConfigError(key, f"'{name}' cannot be called with {args or 'no arguments'}: {exc}",
                          hint=f"Give data.args that {name.split(':')[1]}{inspect.signature(obj)} "
                               "takes") from None
    except ValueError:
        pass  # no signature to check


def parts(cfg: PythonData) -> dict[str, Batches]:
    """The data set's parts (train, and validation and test when their arguments are
    given), checked; the first batch of each taken and checked."""
    obj = import_object(cfg.object, KEY)
    check_object(obj, cfg.object)
    settings = {k: v for k, v in (("workers", cfg.workers),
                                  ("use_multiprocessing", cfg.use_multiprocessing),
                                  ("max_queue_size", cfg.max_queue_size)) if v is not None}
    if settings and not isinstance(obj, type):
        raise ConfigError(("data", next(iter(settings))),
                          f"'{cfg.object}' is a generator function; {', '.join(settings)} are a "
                          "PyDataset's settings", hint="Remove them, or make it a PyDataset")
    wanted = {"train": (cfg.args, cfg.steps_per_epoch, ("data", "args")),
              "validation": (cfg.validation_args, cfg.validation_steps, ("data", "validation_args")),
              "test": (cfg.test_args, cfg.test_steps, ("data", "test_args"))}
    out = {}
    for part, (extra, steps, key) in wanted.items():
        if extra is None:
            continue
        args = {**cfg.args, **extra} if part != "train" else dict(cfg.args)
        _check_args(obj, cfg.object, args, key)
        batches = Batches(cfg.object, obj, args, steps, settings)
        batches.first = first_batch(batches, part)
        out[part] = batches
    return out


def first_batch(b: Batches, part: str) -> tuple[Any, ...]:
    """The part's first batch as NumPy arrays; ConfigError naming the object when it
    gives none, or not ``(x, y)`` / ``(x, y, sample_weight)``."""
    made = b.make()
    try:
        if b.is_class:
            if made.num_batches == 0:
                raise ConfigError(KEY, f"'{b.name}' ({part} part) has no batches (len 0)")
            batch = made[0]
        else:
            batch = next(iter(made))
    except StopIteration:
        raise ConfigError(KEY, f"'{b.name}' ({part} part) yields no batches") from None
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(KEY, f"'{b.name}' failed making its first {part} batch: "
                          f"{exception_line(exc)}") from None
    finally:
        close = getattr(made, "close", None)
        if not b.is_class and callable(close):
            close()
    if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
        got = (f"a {type(batch).__name__} of {len(batch)}" if isinstance(batch, (tuple, list))
               else f"a {type(batch).__name__}")
        raise ConfigError(KEY, f"'{b.name}' gave {got} as its first {part} batch; expected a "
                          "tuple (x, y) or (x, y, sample_weight)",
                          hint="yield (inputs, targets) batch by batch")
    return tuple(_numbers(v, b.name, part, what)
                 for v, what in zip(batch, ("x", "y", "sample_weight"), strict=False))


def _numbers(value: Any, name: str, part: str, what: str) -> Any:
    if isinstance(value, dict):
        return {str(k): _numbers(v, name, part, f"{what}[{k!r}]") for k, v in value.items()}
    try:
        arr = np.asarray(value)
    except Exception:
        arr = np.asarray([], dtype=object)
    if arr.dtype.kind not in "biuf" or arr.ndim == 0:
        raise ConfigError(KEY, f"'{name}': {what} of its first {part} batch is not a batch of "
                          f"numbers ({type(value).__name__}"
                          f"{f' of dtype {arr.dtype}' if arr.dtype.kind != 'O' else ''}"
                          f"{', a single value' if arr.ndim == 0 else ''})",
                          hint="Give arrays whose first dimension is the batch")
    return arr
