"""Whether a ``keras.datasets`` loader can get its files: from Keras's cache folder, or
from the host it downloads from. Asked before the loader is called, so that an offline
run without the cache goes to the shipped sample at once, with one line saying so,
instead of Keras printing ``Downloading data from https://...`` and then failing.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

#: what each loader keeps in ``<keras home>/datasets`` (a file, or the start of a folder's
#: name), and the host its files come from (Keras 3's ``keras.datasets`` modules)
LOADER_FILES: dict[str, tuple[str, str]] = {
    "mnist": ("mnist.npz", "storage.googleapis.com"),
    "fashion_mnist": ("fashion-mnist", "storage.googleapis.com"),
    "cifar10": ("cifar-10-batches-py", "www.cs.toronto.edu"),
    "cifar100": ("cifar-100-python", "www.cs.toronto.edu"),
    "boston_housing": ("boston_housing.npz", "storage.googleapis.com"),
    "california_housing": ("california_housing.npz", "storage.googleapis.com"),
    "imdb": ("imdb.npz", "storage.googleapis.com"),
    "reuters": ("reuters.npz", "storage.googleapis.com"),
}

#: seconds to wait for the download host to answer
CONNECT_TIMEOUT = 3.0


def cache_dir() -> Path:
    """Keras's cache of downloaded data sets: ``$KERAS_HOME/datasets``, else
    ``~/.keras/datasets``."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def cached(name: str) -> bool:
    """Whether the cache holds the files of ``keras.datasets.<name>`` (a partly filled
    cache counts: the loader fetches the rest, or fails and the caller falls back)."""
    entry = LOADER_FILES.get(name)
    folder = cache_dir()
    if entry is None or not folder.is_dir():
        return False
    return any(p.name.startswith(entry[0]) for p in folder.iterdir())


def reachable(name: str, timeout: float = CONNECT_TIMEOUT) -> bool:
    """Whether the host ``keras.datasets.<name>`` downloads from accepts a connection
    (True for a loader this module does not know: the loader is then left to try)."""
    entry = LOADER_FILES.get(name)
    if entry is None:
        return True
    try:
        with socket.create_connection((entry[1], 443), timeout=timeout):
            return True
    except OSError:  # no network, no name resolution, refused, timed out
        return False


def unavailable(name: str) -> str | None:
    """Why ``keras.datasets.<name>`` cannot be loaded without trying (neither cached nor
    its host reachable), or None when the loader should be called."""
    if cached(name) or reachable(name):
        return None
    host = LOADER_FILES[name][1]
    return f"not in {cache_dir()} and {host} cannot be reached (offline?)"
