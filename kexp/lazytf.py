"""TensorFlow, imported where something needs it: with Keras on its own backend; on JAX
and PyTorch only for a ``tf.data`` pipeline (image files, streamed CSVs, text), Keras's
lookup and text layers, TensorBoard (:mod:`kexp.backend` imports Keras). Whenever it is
imported, the process's seed, op determinism and threads are applied to it, as if it had
been there from the start.

TensorFlow prints start-up lines (CUDA probing, oneDNN notices) to the process's stderr
from C++ before Python's logging exists; unless the user asked for ``-v`` they are hidden
by pointing fd 2 at /dev/null while it imports.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

_verbose = False
#: what :func:`tensorflow` applies to TensorFlow when it is imported after they were set
_seed: int | None = None
_deterministic = False
_threads: int | None = None
_ready = False


def set_verbose(flag: bool) -> None:
    global _verbose
    _verbose = flag


@contextlib.contextmanager
def stderr_silenced() -> Iterator[None]:
    """fd 2 at /dev/null meanwhile, unless ``-v`` or TensorFlow is imported already."""
    if _verbose or "tensorflow" in sys.modules:
        yield
        return
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    try:
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def tensorflow() -> Any:
    """Import and return TensorFlow, quietly, with the process's seed, op determinism and
    threads applied if they were set before (:func:`seed`, :func:`threads`)."""
    global _ready
    if not _verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with stderr_silenced():
        import tensorflow as tf
    if _ready:
        return tf
    _ready = True
    if not _verbose:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
        tf.get_logger().setLevel("ERROR")
    if _threads is not None:
        _pools(tf, _threads)
    if _seed is not None:
        tf.random.set_seed(_seed)
    if _deterministic:
        tf.config.experimental.enable_op_determinism()
    return tf


def seed(value: int, deterministic: bool) -> None:
    """TensorFlow's global seed (and op determinism), now if it is imported, else when it is."""
    global _seed, _deterministic, _ready
    _seed, _deterministic = value, deterministic
    if "tensorflow" in sys.modules:
        _ready = False  # applied again
        tensorflow()


def threads(count: int) -> None:
    """TensorFlow's thread pools, now if it is imported, else when it is."""
    global _threads
    _threads = count
    if "tensorflow" in sys.modules:
        _pools(tensorflow(), count)


def _pools(tf: Any, count: int) -> None:
    try:
        tf.config.threading.set_intra_op_parallelism_threads(count)
        tf.config.threading.set_inter_op_parallelism_threads(count)
    except RuntimeError:  # TensorFlow already initialized in this process
        pass


def when_imported() -> None:
    """Tell Keras (on JAX or PyTorch) that TensorFlow is there only once it is imported:
    Keras's lazy ``tensorflow`` module answers ``available`` by importing it, which its
    ``set_random_seed`` and its serializer ask for any object; before the import no
    object can be one of TensorFlow's, and :func:`tensorflow` sets its seed after. Keras's
    own import of it goes through :func:`tensorflow`. The layers that need TensorFlow on
    every backend (Keras's lookup and text layers) are built after
    :func:`needs_tensorflow` imported it. Keras without that module as kexp knows it:
    left as it is."""
    try:
        from keras.src.utils import module_utils
    except ImportError:  # pragma: no cover - another Keras layout
        return
    lazy = getattr(module_utils, "tensorflow", None)
    if type(lazy) is not getattr(module_utils, "LazyModule", None):
        return
    base: Any = type(lazy)

    class WhenImported(base):
        @property
        def available(self) -> bool:
            if "tensorflow" not in sys.modules:
                return False
            return bool(base.available.fget(self))

        def initialize(self) -> None:
            self.module = tensorflow()

    lazy.__class__ = WhenImported


def needs_tensorflow(cls: Any) -> None:
    """Import TensorFlow (:func:`tensorflow`) before ``cls``, a Keras layer class, is made,
    where Keras's layer needs it on every backend: its preprocessing layers (lookups,
    hashing, text vectorization and the others written with ``tf.data``)."""
    if "tensorflow" in sys.modules:
        return
    if str(getattr(cls, "__module__", "")).startswith("keras.src.layers.preprocessing"):
        tensorflow()
