"""``kexp init FOLDER``: a small convolutional network's spec for a folder of class
subfolders of images.

The folder is listed and checked as ``source: images`` reads it
(:func:`kexp.data.images.list_folder`); a sample of its images, opened with Pillow
(which matplotlib installs), gives the image size (the most common one, shrunk to at
most :data:`MAX_SIDE` pixels a side) and the color mode. A folder whose subfolders are
``train`` and ``test`` gives ``path`` and ``test_path``. Every decision is a comment.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from kexp.data.images import Folder, list_folder
from kexp.errors import KexpError

#: the longest side an initial spec resizes images to
MAX_SIDE = 128
#: images opened to choose the size and color mode
SAMPLE = 200


@dataclass
class ImageSurvey:
    """What ``kexp init`` read of an image folder."""

    path: str
    test_path: str | None
    folder: Folder
    test_images: int
    size: tuple[int, int]  # the most common (height, width)
    common: int  # how many sampled images have it
    sampled: int
    color_mode: str
    modes: dict[str, int]


def survey_images(data: str) -> ImageSurvey:
    """List and sample the image folder ``data`` (or its train/ and test/ folders)."""
    root = Path(data)
    subs = {d.name for d in root.iterdir() if d.is_dir()} if root.is_dir() else set()
    split = {"train", "test"} <= subs and all(
        any(c.is_dir() for c in (root / s).iterdir()) for s in ("train", "test"))
    path = str(root / "train") if split else data
    test_path = str(root / "test") if split else None
    folder = list_folder(Path(path), ("data", "path"))
    test_images = 0
    if test_path is not None:
        test_images = len(list_folder(Path(test_path), ("data", "test_path"),
                                      classes=folder.class_names).paths)
    step = max(1, len(folder.paths) // SAMPLE)
    sizes: Counter[tuple[int, int]] = Counter()
    modes: Counter[str] = Counter()
    from PIL import Image, UnidentifiedImageError

    for p in folder.paths[::step][:SAMPLE]:
        try:
            with Image.open(p) as img:
                sizes[(img.height, img.width)] += 1
                modes[img.mode] += 1
        except (OSError, UnidentifiedImageError) as exc:
            raise KexpError(f"{p}: cannot be read as an image ({exc})") from None
    (size, common), = sizes.most_common(1)
    gray = sum(n for m, n in modes.items() if m in ("1", "L", "LA", "I", "I;16", "F"))
    mode = "grayscale" if gray == sum(modes.values()) else "rgb"
    return ImageSurvey(path, test_path, folder, test_images, size, common, sum(sizes.values()),
                       mode, dict(modes))


def shrunk(size: tuple[int, int]) -> tuple[int, int]:
    """``size`` with its longest side at most :data:`MAX_SIDE` (the aspect ratio kept)."""
    h, w = size
    scale = min(1.0, MAX_SIDE / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def image_spec_text(s: ImageSurvey, command: str) -> str:
    """The commented spec of a small CNN for the surveyed folder."""
    h, w = shrunk(s.size)
    c = 1 if s.color_mode == "grayscale" else 3
    classes = s.folder.class_names
    counts = s.folder.counts()
    k = len(classes)
    name = "".join(ch if ch.isalnum() or ch in "_.+-" else "-" for ch in Path(s.path).resolve().name
                   if ch) or "images"
    if name in ("train", "images") and s.test_path is not None:
        name = Path(s.path).resolve().parent.name or name
    resized = "" if (h, w) == s.size else f", shrunk to at most {MAX_SIDE} pixels a side"
    lines = [
        f"# {command}",
        f"# A small convolutional network for {len(s.folder.paths)} images in {k} classes "
        f"({', '.join(f'{c_}: {n}' for c_, n in list(counts.items())[:8])}"
        f"{', ...' if k > 8 else ''}).",
        "# Every choice below is a comment; train it with kexp run, or kexp cv for k folds.",
        f"name: {name[:60]}",
        "seed: 0",
        "data:",
        "  source: images                # one subfolder of images per class",
        f"  path: {s.path}",
    ]
    if s.test_path is not None:
        lines.append(f"  test_path: {s.test_path}   # {s.test_images} test images")
    lines += [
        f"  image_size: [{h}, {w}]         # the most common size ({s.size[0]}x{s.size[1]}: "
        f"{s.common} of {s.sampled} sampled images){resized}",
        f"  color_mode: {s.color_mode}         # sampled images' modes: "
        + ", ".join(f"{m} {n}" for m, n in s.modes.items()),
    ]
    if s.test_path is None:
        lines.append("  test: {size: 0.2}             # held out of the files, stratified by class")
    lines += [
        "  validation: {size: 0.1}       # for the validation curves and early stopping",
        *network_lines(h, w, c, k),
    ]
    return "\n".join(lines)


def network_lines(h: int, w: int, c: int, k: int) -> list[str]:
    """The model, compile and fit sections: two convolution blocks, then one probability
    for each of the ``k`` classes."""
    return [
        "model:",
        "  layers:",
        f"    - Input: {{shape: [{h}, {w}, {c}]}}",
        "    - Rescaling: {scale: 0.00392156862745098}   # pixels 0-255 -> 0-1",
        "    # augmentation, applied in training only (leave it out when a flipped image is "
        "another class, e.g. digits):",
        "    # - RandomFlip: {mode: horizontal}",
        "    # - RandomRotation: {factor: 0.05}",
        "    - Conv2D: {filters: 32, kernel_size: 3, activation: relu}",
        "    - MaxPooling2D: {pool_size: 2}",
        "    - Conv2D: {filters: 64, kernel_size: 3, activation: relu}",
        "    - MaxPooling2D: {pool_size: 2}",
        "    - GlobalAveragePooling2D      # one number per filter, whatever the image size",
        "    - Dropout: {rate: 0.3}",
        f"    - Dense: {{units: {k}, activation: softmax}}   # one probability per class",
        "compile:",
        "  loss: sparse_categorical_crossentropy   # the class index of each image's folder",
        "  optimizer: {Adam: {learning_rate: 0.001}}",
        "  metrics: [accuracy]",
        "fit:",
        "  epochs: 10",
        "  batch_size: 32",
        "  callbacks:",
        "    - EarlyStopping: {monitor: val_loss, patience: 3, restore_best_weights: true}",
        "",
    ]
