"""Write Fashion-MNIST as PNG class folders (run from anywhere).

Reads the four idx files of the Debian package ``dataset-fashion-mnist``
(``apt-get install dataset-fashion-mnist``: the real 60,000 + 10,000 images, Zalando SE,
MIT licence) and writes one 28x28 8-bit grayscale PNG per image:

    OUT/train/<class>/<index>.png     OUT/test/<class>/<index>.png

``<index>`` is the image's position in its idx file, zero-padded to five digits, so a
sorted listing is file order. The class folders are the official class names made
folder-safe: t-shirt_top, trouser, pullover, dress, coat, sandal, shirt, sneaker, bag,
ankle_boot. (A reader that labels folders in sorted order, as
``keras.utils.image_dataset_from_directory`` does, numbers them alphabetically:
ankle_boot = 0, bag = 1, ..., trouser = 9, not in the idx files' label order.)

``--per-class-train N`` / ``--per-class-test N`` keep the first N images of each class
in file order (default: all), so a subset is the same every time. The folder is built
beside OUT under a temporary name and renamed into place when complete; an existing
OUT is refused unless ``--force`` replaces it.

    python datasets/make_fashion_folders.py --out datasets/fashion-folders \\
        --per-class-train 30 --per-class-test 10       # the copy shipped in the repository
    python datasets/make_fashion_folders.py --out /tmp/fashion-full     # all 70,000

At the end it prints the number of images and ``pixels sha256``: the sha256 of every
image's ``<split>/<class>/<index>.png`` path, a newline, and its 784 raw pixel bytes, in
sorted path order. It depends on the pixels only, not on the PNG encoder (the PNG bytes
depend on Pillow's zlib build).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SOURCE = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_PACKAGE = "dataset-fashion-mnist"

#: folder-safe official class names, by the idx files' label (0..9)
CLASSES = ["t-shirt_top", "trouser", "pullover", "dress", "coat",
           "sandal", "shirt", "sneaker", "bag", "ankle_boot"]

FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def read_idx(path: Path) -> np.ndarray:
    """An idx file (gzip'd) as a uint8 array: magic 0x0000 0x08 <ndim>, then big-endian dims."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an idx file of unsigned bytes")
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {array.size} bytes for dimensions {dims}")
    return array.reshape(dims)


def load_split(source: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    images_name, labels_name = FILES[split]
    missing = [n for n in (images_name, labels_name) if not (source / n).is_file()]
    if missing:
        sys.exit(f"Fashion-MNIST not found: {', '.join(str(source / n) for n in missing)} missing.\n"
                 f"This script needs the Debian package {DEBIAN_PACKAGE}:\n"
                 f"    apt-get install {DEBIAN_PACKAGE}\n"
                 f"(or pass --source DIR with the four idx .gz files).")
    images = read_idx(source / images_name)
    labels = read_idx(source / labels_name)
    if images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise ValueError(f"{source}: unexpected shapes {images.shape}, {labels.shape}")
    return images, labels


def choose(labels: np.ndarray, per_class: int | None) -> np.ndarray:
    """Indices of the first ``per_class`` images of each class, in file order."""
    if per_class is None:
        return np.arange(len(labels))
    keep = np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(len(CLASSES))])
    return np.sort(keep)


def write_split(images: np.ndarray, labels: np.ndarray, keep: np.ndarray, out: Path) -> list[tuple[str, bytes]]:
    for name in CLASSES:
        (out / name).mkdir(parents=True)
    written = []
    for i in keep:
        rel = f"{CLASSES[labels[i]]}/{i:05d}.png"
        Image.fromarray(images[i]).save(out / rel, format="PNG")
        written.append((rel, images[i].tobytes()))
    return written


def pixels_sha256(entries: list[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256()
    for rel, pixels in sorted(entries):
        digest.update(rel.encode() + b"\n" + pixels)
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write (train/ and test/ inside)")
    parser.add_argument("--per-class-train", type=int, default=None, metavar="N",
                        help="first N training images of each class (default: all 6,000)")
    parser.add_argument("--per-class-test", type=int, default=None, metavar="N",
                        help="first N test images of each class (default: all 1,000)")
    parser.add_argument("--source", type=Path, default=SOURCE,
                        help=f"folder of the idx .gz files (default: {SOURCE}, from {DEBIAN_PACKAGE})")
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
    args = parser.parse_args(argv)
    for n in (args.per_class_train, args.per_class_test):
        if n is not None and n < 1:
            parser.error("--per-class-train/--per-class-test must be at least 1")

    out: Path = args.out
    if out.exists() and not args.force:
        sys.exit(f"{out} exists; pass --force to replace it")
    splits = {split: load_split(args.source, split) for split in FILES}

    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    try:
        entries = []
        counts = {}
        for split, per_class in (("train", args.per_class_train), ("test", args.per_class_test)):
            images, labels = splits[split]
            keep = choose(labels, per_class)
            written = write_split(images, labels, keep, tmp / split)
            entries += [(f"{split}/{rel}", px) for rel, px in written]
            counts[split] = len(written)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    print(f"{out}: {counts['train']} training and {counts['test']} test images in "
          f"{len(CLASSES)} class folders each")
    print(f"pixels sha256 {pixels_sha256(entries)}")


if __name__ == "__main__":
    main()
