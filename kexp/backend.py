"""Import TensorFlow/Keras lazily and quietly, and set seeds.

TensorFlow prints start-up lines (CUDA probing, oneDNN notices) to the process's
stderr from C++ before Python's logging exists; unless the user asked for
``-v`` they are hidden by pointing fd 2 at /dev/null while it imports.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

_verbose = False


def is_verbose() -> bool:
    """Whether the user asked for TensorFlow's own log (``-v``)."""
    return _verbose


def set_verbose(flag: bool) -> None:
    global _verbose
    _verbose = flag
    if not flag:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
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


def keras() -> Any:
    """Import and return keras (TensorFlow backend)."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if not _verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_silenced():
        import keras as _keras
        import tensorflow  # noqa: F401
    if not _verbose:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
    return _keras


def seed_everything(seed: int, deterministic: bool) -> None:
    """Python, NumPy and TensorFlow seeds; op determinism when asked."""
    k = keras()
    k.utils.set_random_seed(seed)
    import tensorflow as tf

    if deterministic:
        tf.config.experimental.enable_op_determinism()


def versions() -> dict[str, str]:
    import numpy

    k = keras()
    import tensorflow as tf

    return {"tensorflow": tf.__version__, "keras": k.__version__, "numpy": numpy.__version__}


def devices() -> dict[str, Any]:
    import tensorflow as tf

    return {
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "cpus": len(tf.config.list_physical_devices("CPU")),
    }


_threads_set = False


def set_threads(threads: int) -> None:
    """TensorFlow's thread pools (and OpenMP's), set once per process before its first op:
    a worker of ``kexp cv --jobs N`` or ``kexp sweep --jobs N`` uses its share of the cores."""
    global _threads_set
    if _threads_set:
        return
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    keras()
    import tensorflow

    try:
        tensorflow.config.threading.set_intra_op_parallelism_threads(threads)
        tensorflow.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow already initialized in this process
        pass
    _threads_set = True
