"""Folders of images (``source: images``): the files of each class, checked and listed,
never decoded here.

A folder holds one subfolder per class, as ``keras.utils.image_dataset_from_directory``
reads it: the classes are the subfolders' names in sorted order, the images are the
files with Keras's extensions (``.bmp .gif .jpeg .jpg .png``) anywhere below them, and
other files are skipped. The data is :class:`ImageFiles`, an array-like list of paths
that splits, folds and samples like an array; :mod:`kexp.train.feed` decodes its
images batch by batch with ``tf.data`` (:func:`decode`, Keras's own decoding and
resizing).

Every file is checked before training: an empty (0-byte) file, or one whose first bytes
are not the image format its name says, or a PNG or JPEG cut short, is an error naming
it. The fingerprint that ``kexp cv --resume`` and ``kexp sweep --resume`` compare is the
sha256 of the file list: each file's relative path and size, and its content's sha256
when it is at most :data:`HASHED_BYTES` (its modification time otherwise).
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from kexp.errors import ConfigError, DataError

#: Keras's image extensions (``image_dataset_from_directory``'s ALLOWLIST_FORMATS)
IMAGE_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
#: files up to this size are fingerprinted by content, larger ones by size and mtime
HASHED_BYTES = 64 * 1024
#: the pixel channels of each color_mode
CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
#: what the first bytes of each format are
_MAGIC = {".png": (b"\x89PNG\r\n\x1a\n",), ".jpg": (b"\xff\xd8\xff",), ".jpeg": (b"\xff\xd8\xff",),
          ".gif": (b"GIF87a", b"GIF89a"), ".bmp": (b"BM",)}


@dataclass(frozen=True)
class Decoding:
    """How every image of a folder becomes a float32 array (Keras's loader's settings),
    divided by ``scale`` (the ``scale`` step's factor; 1: pixels as read, 0-255)."""

    image_size: tuple[int, int]
    channels: int
    interpolation: str = "bilinear"
    crop_to_aspect_ratio: bool = False
    pad_to_aspect_ratio: bool = False
    cache: bool | str = False
    prefetch: bool = True
    scale: float = 1.0

    @classmethod
    def of(cls, cfg: Any) -> Decoding:
        """The decoding a spec's ``data`` section (an ImagesData) asks for."""
        return cls((int(cfg.image_size[0]), int(cfg.image_size[1])), CHANNELS[cfg.color_mode],
                   cfg.interpolation, cfg.crop_to_aspect_ratio, cfg.pad_to_aspect_ratio,
                   cfg.cache, cfg.prefetch)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (*self.image_size, self.channels)


class ImageFiles:
    """The image files of one part of the data: indexed, split and folded like a 1-D
    array of paths; a sample's shape is the decoded image's (height, width, channels).
    Turning it into a NumPy array is refused: its images are decoded by ``tf.data``."""

    dtype = np.dtype("float32")  # what a decoded image holds

    def __init__(self, paths: Any, decoding: Decoding) -> None:
        self.paths = np.asarray(paths, dtype=str)
        self.decoding = decoding

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, idx: Any) -> ImageFiles:
        picked = self.paths[idx]
        return ImageFiles(np.atleast_1d(picked), self.decoding)

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("image files are decoded batch by batch (kexp.train.feed), never "
                        "converted into one array")

    def __repr__(self) -> str:
        return f"ImageFiles({len(self)} files, {self.decoding.shape})"

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.decoding.shape)

    @property
    def ndim(self) -> int:
        return 4

    @property
    def nbytes(self) -> int:
        """The bytes of the decoded images (float32)."""
        return int(np.prod(self.shape)) * 4

    def followed_by(self, other: ImageFiles) -> ImageFiles:
        """These files, then ``other``'s (decoded alike)."""
        return ImageFiles(np.concatenate([self.paths, other.paths]), self.decoding)

    def scaled(self, factor: float) -> ImageFiles:
        """The same files, their pixels divided by ``factor`` once decoded."""
        return ImageFiles(self.paths, replace(self.decoding, scale=self.decoding.scale * factor))


def is_files(a: Any) -> bool:
    """Whether ``a`` (data of one name, or a dict by name) holds image files."""
    if isinstance(a, dict):
        return any(isinstance(v, ImageFiles) for v in a.values())
    return isinstance(a, ImageFiles)


# --------------------------------------------------------------------------- listing


@dataclass
class Folder:
    """The images of a folder of class subfolders: paths (sorted by class, then by file,
    as Keras lists them) and their class names."""

    root: Path
    class_names: list[str]
    paths: list[str]
    labels: list[str]
    skipped: list[str] = field(default_factory=list)
    fingerprint: str = ""

    def counts(self) -> dict[str, int]:
        per = Counter(self.labels)
        return {c: per.get(c, 0) for c in self.class_names}

    def note(self) -> str | None:
        """A note on the files skipped as not images, if any."""
        if not self.skipped:
            return None
        shown = ", ".join(self.skipped[:3]) + (", ..." if len(self.skipped) > 3 else "")
        return (f"{self.root}: skipped {len(self.skipped)} file(s) that are not images "
                f"({' '.join(IMAGE_FORMATS)}): {shown}")


def list_folder(root: Path, key: tuple, follow_links: bool = False,
                classes: list[str] | None = None) -> Folder:
    """The images below ``root``'s class subfolders, every one of them checked.

    ``classes``: the training folder's classes (for a test folder, whose subfolders
    must be among them). ConfigError (at ``key``) for a folder that is not one of class
    subfolders of images; DataError naming the file for an empty or damaged image."""
    if not root.is_dir():
        raise ConfigError(key, f"{root} is not a folder; expected a folder with one subfolder "
                          "of images per class",
                          hint="Name the folder that holds the class subfolders")
    subfolders = sorted(d.name for d in _entries(root) if _is_dir(d, follow_links))
    loose = sorted(f.name for f in _entries(root) if f.is_file() and _is_image(f.name))
    if not subfolders:
        found = (f"it holds {len(loose)} image(s) but no subfolder" if loose
                 else "it holds no subfolder")
        raise ConfigError(key, f"{root}: no class subfolders ({found}); expected one subfolder "
                          "of images per class, e.g. cats/1.jpg and dogs/2.jpg",
                          hint="Put the images of each class in a subfolder named after the class")
    if classes is None and len(subfolders) == 1:
        raise ConfigError(key, f"{root} has one class only ({subfolders[0]}); a classifier needs "
                          "at least two", hint="Add a subfolder of images for each other class")
    if classes is not None:
        unknown = [c for c in subfolders if c not in classes]
        if unknown:
            raise ConfigError(key, f"{root}: class subfolder(s) {', '.join(unknown[:5])} are not "
                              f"classes of the training folder ({', '.join(classes[:10])})",
                              hint="Give the test folder the training folder's class subfolders")
    paths: list[str] = []
    labels: list[str] = []
    skipped: list[str] = []
    digest = hashlib.sha256()
    for name in subfolders:
        images = []
        for f in _walk(root / name, follow_links):
            rel = f.relative_to(root).as_posix()
            if _is_image(f.name):
                images.append(f)
                digest.update(_file_record(f, rel, root).encode())
            else:
                skipped.append(rel)
        if not images:
            raise ConfigError(key, f"{root / name}: the class folder '{name}' holds no images "
                              f"({' '.join(IMAGE_FORMATS)})",
                              hint="Add its images, or remove the empty folder")
        paths += [str(f) for f in images]
        labels += [name] * len(images)
    return Folder(root, list(classes or subfolders), paths, labels, skipped, digest.hexdigest())


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as it:
        return [e for e in it if not e.name.startswith(".")]


def _is_dir(entry: os.DirEntry[str], follow_links: bool) -> bool:
    return entry.is_dir(follow_symlinks=follow_links)


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_FORMATS)


def _walk(folder: Path, follow_links: bool) -> list[Path]:
    """Every file below ``folder``, folders and files in sorted order, hidden ones left out."""
    out = []
    for here, dirs, files in os.walk(folder, followlinks=follow_links):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # walked in this order
        out += [Path(here) / f for f in sorted(files) if not f.startswith(".")]
    return out


def _file_record(path: Path, rel: str, root: Path) -> str:
    """One line of the fingerprint, the file checked: an empty file, a header that is not
    its format's, or a PNG/JPEG cut short is a DataError naming it."""
    try:
        size = path.stat().st_size
        if size == 0:
            raise DataError(f"{path}: an empty (0-byte) image file; remove it or replace it "
                            "with the image")
        with open(path, "rb") as fh:
            if size <= HASHED_BYTES:
                content = fh.read()
                head, tail = content[:16], content[-64:]
                stamp = hashlib.sha256(content).hexdigest()
            else:
                head = fh.read(16)
                fh.seek(-64, os.SEEK_END)
                tail = fh.read(64)
                stamp = f"mtime {path.stat().st_mtime_ns}"
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    check_image_bytes(path, head, tail)
    return f"{rel}\t{size}\t{stamp}\n"


def check_image_bytes(path: Path, head: bytes, tail: bytes) -> None:
    """DataError naming ``path`` when its first bytes are no image format's, or a PNG
    lacks its closing IEND chunk or a JPEG its end-of-image marker (a file cut short)."""
    suffix = path.suffix.lower()
    if not any(head.startswith(m) for magics in _MAGIC.values() for m in magics):
        raise DataError(f"{path}: not a readable image (its first bytes are not those of a "
                        f"{suffix.lstrip('.').upper()} file); remove or replace it")
    if head.startswith(_MAGIC[".png"][0]) and b"IEND" not in tail:
        raise DataError(f"{path}: a damaged PNG (it ends before its last chunk: cut short?); "
                        "remove or replace it")
    if head.startswith(_MAGIC[".jpg"][0]) and b"\xff\xd9" not in tail:
        raise DataError(f"{path}: a damaged JPEG (it ends before its end-of-image marker: cut "
                        "short?); remove or replace it")


def checked_files(path: Path, follow_links: bool = False) -> list[str]:
    """An image file, or every image file below a folder, checked (``kexp predict``'s
    new images); DataError when there is none, or for a damaged one."""
    found = _walk(path, follow_links) if path.is_dir() else [path]
    files = [f for f in found if _is_image(f.name)]
    if not files:
        raise DataError(f"{path}: {'no image files below it' if path.is_dir() else 'not an image file'} "
                        f"(expected {' '.join(IMAGE_FORMATS)})")
    for f in files:
        _file_record(f, f.name, path)
    return [str(f) for f in files]


def image_files(paths: list[str], decoding: Decoding) -> ImageFiles:
    return ImageFiles(np.asarray(paths, dtype=str), decoding)


def interleaved(labels: list[str], n: int) -> np.ndarray:
    """The indices of ``n`` files taken from the classes in turn (``data.limit``): a first
    ``n`` that holds every class, in the files' order within each."""
    by_class: dict[str, list[int]] = {}
    for i, c in enumerate(labels):
        by_class.setdefault(c, []).append(i)
    out: list[int] = []
    queues = list(by_class.values())
    depth = 0
    while len(out) < n and any(depth < len(q) for q in queues):
        out += [q[depth] for q in queues if depth < len(q)]
        depth += 1
    return np.asarray(sorted(out[:n]), dtype=np.int64)


# -------------------------------------------------------------------------- decoding


def decode(path: Any, d: Decoding) -> Any:
    """One image file (a string tensor) as a float32 ``(height, width, channels)``
    tensor: Keras's ``image_dataset_from_directory`` loader step by step, then divided
    by ``d.scale``."""
    from kexp import backend

    tf = backend.tensorflow()

    img = tf.io.decode_image(tf.io.read_file(path), channels=d.channels, expand_animations=False)
    if d.crop_to_aspect_ratio:
        from kexp import backend

        img = backend.keras().preprocessing.image.smart_resize(
            img, d.image_size, interpolation=d.interpolation)
    elif d.pad_to_aspect_ratio:
        img = tf.image.resize_with_pad(img, d.image_size[0], d.image_size[1],
                                       method=d.interpolation)
    else:
        img = tf.image.resize(img, d.image_size, method=d.interpolation)
    img.set_shape(d.shape)
    img = tf.cast(img, tf.float32)
    if d.scale != 1.0:
        img = img / tf.constant(d.scale, tf.float32)
    return img
