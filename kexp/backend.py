"""Keras's backend (TensorFlow, JAX or PyTorch), chosen before Keras is imported, and
Keras imported lazily and quietly; seeds, determinism, threads and versions per backend.

The backend is Keras's own ``KERAS_BACKEND``: :func:`select` sets it (from the spec's
``backend``, ``--backend``, or ``KERAS_BACKEND`` as the user set it) before the first
import of Keras in this process, and worker processes inherit it. TensorFlow is imported
with Keras on its own backend; on JAX and PyTorch only where something needs it
(:mod:`kexp.lazytf`), which saves those processes its 1.5 s import: in-memory arrays
are fed by :mod:`kexp.train.feed`'s NumPy batches there. Keras's start-up lines are
hidden as TensorFlow's are, unless ``-v``.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

from kexp import lazytf
from kexp.errors import ConfigError
from kexp.lazytf import needs_tensorflow as needs_tensorflow  # TensorFlow where needed
from kexp.lazytf import tensorflow as tensorflow

_verbose = False

#: Keras 3's backends that kexp trains on, and the package each needs
BACKENDS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
DEFAULT = "tensorflow"
#: ``backend: auto``: JAX when it is installed, for a model without convolutions: on the
#: 2-core CPU machine it trains them fastest (the README's benchmark table: the Pima CV in
#: 0.32x TensorFlow's time, text_lstm 0.46x, every shipped model without convolutions
#: faster; stacked or swept as one program on the device); TensorFlow for convolutions
#: (its oneDNN kernels train the shipped convnets 1.1x to 2.7x faster than XLA's on the
#: CPU), and when JAX is not installed.
AUTO = ("jax", "tensorflow")
#: the layers that make ``auto`` choose TensorFlow (Conv1D/2D/3D, their Transpose,
#: Separable and Depthwise kinds, ConvLSTM): class names as the spec writes them
CONVOLUTIONS = re.compile(r"Conv")
#: what ``backend: auto`` chose for the spec resolved last in this process, and why
#: (env.json's ``backend_auto``); None when that spec named its backend
_auto: str | None = None


def default_name() -> str:
    """The backend when the spec names none: ``KERAS_BACKEND`` when set (Keras's own
    variable), else TensorFlow."""
    return os.environ.get("KERAS_BACKEND") or DEFAULT


def imported() -> str | None:
    """The backend Keras was imported on in this process, or None before its import."""
    if "keras" not in sys.modules:
        return None
    return str(sys.modules["keras"].backend.backend())


def check(name: str) -> None:
    """ConfigError (at ``backend``) unless ``name`` can train in this process: a backend
    kexp knows, its package installed, Keras not already imported on another backend."""
    import importlib.util

    if name not in BACKENDS:
        raise ConfigError(("backend",), f"expected one of {', '.join(BACKENDS)}, received "
                          f"{name!r} (from KERAS_BACKEND)",
                          hint="Write backend: tensorflow, jax or torch in the spec, or set "
                               "KERAS_BACKEND to one of them")
    if importlib.util.find_spec(BACKENDS[name]) is None:
        raise ConfigError(("backend",), f"the {name} backend needs the {BACKENDS[name]} package, "
                          "which is not installed",
                          hint=f"pip install 'kexp[{name}]', or use backend: tensorflow")
    now = imported()
    if now is not None and now != name:
        raise ConfigError(
            ("backend",), f"{name}: Keras is already imported on {now} in this process, and a "
            "process trains on one backend",
            hint=f"Run it in its own process (kexp run ... --backend {name}), or set "
                 f"KERAS_BACKEND={name} before Keras is imported")


def resolve(name: str | None, model: Any = None) -> str:
    """The backend ``name`` means: itself, :func:`default_name` for None, and for ``auto``
    the fastest for ``model`` (the spec's ``model`` section, as data or validated) of
    :data:`AUTO` (what it chose and why is kept for :func:`auto_choice`)."""
    global _auto
    name = name or default_name()
    if name != "auto":
        _auto = None  # this process's last choice is not auto's
        return name
    import importlib.util

    now = imported()
    convs = sorted(_layer_names(model, CONVOLUTIONS))
    if now in AUTO:
        chosen, why = str(now), "Keras was imported on it already"
    elif importlib.util.find_spec(BACKENDS["jax"]) is None:
        chosen, why = DEFAULT, "jax is not installed"
    elif convs:
        chosen, why = DEFAULT, (f"the model has convolutions ({', '.join(convs)}), which "
                                "TensorFlow's CPU kernels train faster than XLA's")
    else:
        chosen, why = "jax", "a model without convolutions: JAX trains it fastest on the CPU"
    _auto = f"backend: auto chose {chosen} ({why})"
    return chosen


def _layer_names(tree: Any, pattern: re.Pattern[str]) -> set[str]:
    """The keys (layer class names) in ``tree`` that ``pattern`` finds."""
    if hasattr(tree, "model_dump"):
        tree = tree.model_dump(mode="json")
    if isinstance(tree, list):
        return set().union(*(_layer_names(v, pattern) for v in tree))
    if not isinstance(tree, dict):
        return set()
    found = {str(k) for k in tree if pattern.search(str(k))}
    return found.union(*(_layer_names(v, pattern) for v in tree.values()))


def auto_choice() -> str | None:
    """What ``backend: auto`` chose in this process, and why; None when not asked."""
    return _auto


def auto_notes() -> list[str]:
    """:func:`auto_choice` as a run's notes (none when ``auto`` was not asked)."""
    return [_auto] if _auto else []


def select(name: str | None, deterministic: bool = False, model: Any = None) -> str:
    """Use backend ``name`` (None: :func:`default_name`; ``auto``: :func:`resolve` for
    ``model``) in this process and the workers it starts: checked (:func:`check`), then
    set as ``KERAS_BACKEND`` before Keras's import (on JAX with ``deterministic``, XLA's
    deterministic GPU ops too: read when JAX starts)."""
    name = resolve(name, model)
    check(name)
    os.environ["KERAS_BACKEND"] = name
    if name == "jax" and "jax" not in sys.modules:
        _jax_cache()
        if deterministic:
            _add_xla_flag("--xla_gpu_deterministic_ops=true")
    return name


def name() -> str:
    """The backend this process trains on (Keras's, once imported)."""
    return imported() or default_name()


def is_verbose() -> bool:
    """Whether the user asked for TensorFlow's own log (``-v``)."""
    return _verbose


def set_verbose(flag: bool) -> None:
    global _verbose
    _verbose = flag
    lazytf.set_verbose(flag)
    if not flag:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")


def keras() -> Any:
    """Import and return keras, on the backend :func:`select` chose (none chosen:
    ``KERAS_BACKEND``, else TensorFlow); TensorFlow with it on its own backend."""
    os.environ.setdefault("KERAS_BACKEND", DEFAULT)
    if os.environ["KERAS_BACKEND"] == "jax" and "jax" not in sys.modules:
        _jax_cache()
    if not _verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    first = "keras" not in sys.modules
    with lazytf.stderr_silenced():
        import keras as _keras
    if os.environ["KERAS_BACKEND"] == "tensorflow" or "tensorflow" in sys.modules:
        tensorflow()
    elif first:
        lazytf.when_imported()
    return _keras


def _jax_cache() -> None:
    """JAX's persistent compilation cache, in the user's cache folder unless
    ``JAX_COMPILATION_CACHE_DIR`` says where (set before JAX is imported): a process
    compiles a training step another process compiled already once (``kexp cv`` of the
    Pima network, 5 folds x 30 epochs: 10.8 s, then 8.6 s a process)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(base, "kexp", "jax"))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


def seed_everything(seed: int, deterministic: bool) -> None:
    """Python, NumPy, the backend's and TensorFlow's seeds (Keras's ``set_random_seed``;
    TensorFlow's when it is imported, now or later: :func:`tensorflow`); with
    ``deterministic``, what :func:`determinism` says (JAX's flag is set by :func:`select`,
    before JAX starts)."""
    k = keras()
    k.utils.set_random_seed(seed)
    lazytf.seed(seed, deterministic)
    if not deterministic:
        return
    if name() == "torch":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        import torch

        torch.use_deterministic_algorithms(True)


def determinism(deterministic: bool) -> str | None:
    """What ``deterministic: true`` does on this process's backend, for the record."""
    if not deterministic:
        return None
    return {
        "tensorflow": "tf.config.experimental.enable_op_determinism (ops and tf.data)",
        "jax": "XLA on the CPU is deterministic; on GPUs --xla_gpu_deterministic_ops=true; "
               "batches of arrays drawn by NumPy from the seed; tf.data (image files, text) "
               "with TensorFlow's op determinism",
        "torch": "torch.use_deterministic_algorithms(True); batches of arrays drawn by NumPy "
                 "from the seed; tf.data (image files, text) with TensorFlow's op determinism",
    }[name()]


def _add_xla_flag(flag: str) -> None:
    flags = os.environ.get("XLA_FLAGS", "")
    if flag.split("=")[0] not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {flag}".strip()


def rng_state() -> dict[str, Any]:
    """The backend's global random state, where training draws from it (as NumPy arrays
    by name): PyTorch's, which Keras's Dropout without a seed draws from on that backend.
    TensorFlow's and JAX's Keras layers draw from their seed generators (model variables)."""
    if name() != "torch":
        return {}
    import torch

    out = {"torch.cpu": torch.get_rng_state().numpy()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            out[f"torch.cuda.{i}"] = state.numpy()
    return out


def set_rng_state(states: dict[str, Any]) -> None:
    """Put back what :func:`rng_state` gave."""
    if name() != "torch" or not states:
        return
    import torch

    for key, value in states.items():
        state = torch.from_numpy(value.copy())
        if key == "torch.cpu":
            torch.set_rng_state(state)
        elif key.startswith("torch.cuda.") and torch.cuda.is_available():
            torch.cuda.set_rng_state(state, int(key.rsplit(".", 1)[1]))


def versions() -> dict[str, str]:
    """The backend and the versions of Keras, TensorFlow, NumPy and the backend's packages."""
    import importlib.metadata

    import numpy

    k = keras()
    out = {"backend": name(), "tensorflow": importlib.metadata.version("tensorflow"),
           "keras": k.__version__,
           "numpy": numpy.__version__}
    for package in {"jax": ("jax", "jaxlib"), "torch": ("torch",)}.get(name(), ()):
        out[package] = importlib.metadata.version(package)
    if name() == "jax":
        out["jax_compilation_cache"] = os.environ.get("JAX_COMPILATION_CACHE_DIR", "")
    return out


def devices() -> dict[str, Any]:
    """The accelerators and CPU devices the backend sees."""
    if name() == "jax":
        import jax

        found = jax.devices()
        return {"gpus": [str(d) for d in found if d.platform != "cpu"],
                "cpus": len(jax.devices("cpu"))}
    if name() == "torch":
        import torch

        return {"gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
                "cpus": 1}
    tf = tensorflow()
    return {
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "cpus": len(tf.config.list_physical_devices("CPU")),
    }


_threads_set = False


def set_threads(threads: int) -> None:
    """TensorFlow's thread pools (and OpenMP's, PyTorch's; XLA's on the CPU at one thread),
    set once per process before its first op: a worker of ``kexp cv --jobs N`` or ``kexp
    sweep --jobs N`` uses its share of the cores."""
    global _threads_set
    if _threads_set:
        return
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    if threads == 1 and os.environ.get("KERAS_BACKEND") == "jax" and "jax" not in sys.modules:
        _add_xla_flag("--xla_cpu_multi_thread_eigen=false")
        _add_xla_flag("intra_op_parallelism_threads=1")
    keras()
    if name() == "torch":
        import torch

        torch.set_num_threads(threads)
    lazytf.threads(threads)
    _threads_set = True
