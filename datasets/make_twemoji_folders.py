"""Write Twemoji emoji images as RGB PNG class folders, one folder per emoji category.

Reads the npm package ``emoji-datasource-twitter`` (16.0.0) as fetched, without
installing it:

    cd /tmp && npm pack emoji-datasource-twitter@16.0.0     # -> emoji-datasource-twitter-16.0.0.tgz

The package holds one 64x64 PNG per emoji (``img/twitter/64/``: Twemoji graphics,
Copyright Twitter, Inc and other contributors, CC-BY 4.0) and ``emoji.json`` (MIT,
Cal Henderson's emoji-data), which gives each emoji its Unicode category and sort order.
The classes are categories; by default four of them:

    smileys_emotion   Smileys & Emotion      food_drink      Food & Drink
    animals_nature    Animals & Nature       travel_places   Travel & Places

For each category the emoji that have a Twitter image are taken in ``sort_order``
(Unicode's emoji ordering) and ``--per-class N`` of them are chosen evenly spaced along
it (the k-th of N at position floor((k + 0.5) * count / N)), so a class spans its
sub-categories (faces, hands and hearts; mammals, birds and plants; ...) instead of only
the first few. Skin-tone variants are not used. Each image is written as
``OUT/<class>/<sort_order, 4 digits>_<short name>.png``, 8-bit RGB: the images have an
alpha channel, which is composited onto a white background (transparent pixels become
white) and dropped. ``--size S`` resizes to S x S (Lanczos); by default the images keep
their 64 x 64 pixels. The folder is built under a temporary name and renamed into place;
an existing OUT is refused unless ``--force`` replaces it.

    python datasets/make_twemoji_folders.py /tmp/emoji-datasource-twitter-16.0.0.tgz \\
        --out datasets/twemoji-folders --per-class 40     # the copy shipped in the repository

The package argument is the .tgz or the folder it unpacks to (``package/``). At the end
it prints ``pixels sha256``: the sha256 of every image's ``<class>/<file>.png`` path, a
newline and its raw RGB bytes, in sorted path order (independent of the PNG encoder).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

PACKAGE = "emoji-datasource-twitter"
VERSION = "16.0.0"
IMAGES = "img/twitter/64"

#: category in emoji.json -> folder name
DEFAULT_CATEGORIES = {
    "Smileys & Emotion": "smileys_emotion",
    "Animals & Nature": "animals_nature",
    "Food & Drink": "food_drink",
    "Travel & Places": "travel_places",
}


def folder_name(category: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", category.lower()).strip("_")


class Package:
    """The files of the npm package, from its .tgz or from the unpacked folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tar: tarfile.TarFile | None = None
        if path.is_file():
            self.tar = tarfile.open(path, "r:gz")
            self.members = {m.name.removeprefix("package/"): m for m in self.tar.getmembers()
                            if m.isfile()}
        elif path.is_dir():
            self.root = path / "package" if (path / "package").is_dir() else path
        else:
            sys.exit(missing_message(f"{path} not found."))

    def read(self, name: str) -> bytes:
        if self.tar is not None:
            member = self.members.get(name)
            if member is None:
                raise FileNotFoundError(f"{self.path}: no {name}")
            f = self.tar.extractfile(member)
            assert f is not None
            return f.read()
        return (self.root / name).read_bytes()


def missing_message(what: str) -> str:
    return (f"{what}\nThis script reads the npm package {PACKAGE} {VERSION}, fetched without "
            f"installing it:\n    cd /tmp && npm pack {PACKAGE}@{VERSION}\nthen pass "
            f"/tmp/{PACKAGE}-{VERSION}.tgz (or the folder it unpacks to).")


def evenly(items: list, n: int) -> list:
    count = len(items)
    if n > count:
        raise ValueError(f"{n} asked for, only {count} there")
    return [items[int((k + 0.5) * count / n)] for k in range(n)]


def to_rgb(png: bytes, size: int | None) -> Image.Image:
    """RGBA (or palette with transparency) onto white, as 8-bit RGB."""
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, image).convert("RGB")
    if size is not None and rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.LANCZOS)
    return rgb


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("package", type=Path, help=f"{PACKAGE}-{VERSION}.tgz, or the folder it unpacks to")
    parser.add_argument("--out", type=Path, required=True, help="folder to write (one subfolder per class)")
    parser.add_argument("--per-class", type=int, default=40, metavar="N",
                        help="images per class, evenly spaced along the category (default: 40)")
    parser.add_argument("--category", action="append", metavar="NAME",
                        help="an emoji.json category, e.g. 'Flags' (repeat; default: "
                             + ", ".join(DEFAULT_CATEGORIES) + ")")
    parser.add_argument("--size", type=int, default=None, metavar="S",
                        help="resize to S x S (default: keep 64 x 64)")
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
    args = parser.parse_args(argv)
    if args.per_class < 1:
        parser.error("--per-class must be at least 1")

    categories = ({c: folder_name(c) for c in args.category} if args.category
                  else DEFAULT_CATEGORIES)
    out: Path = args.out
    if out.exists() and not args.force:
        sys.exit(f"{out} exists; pass --force to replace it")
    package = Package(args.package)
    try:
        emoji = json.loads(package.read("emoji.json"))
    except FileNotFoundError as e:
        sys.exit(missing_message(str(e)))
    known = sorted({e["category"] for e in emoji})
    unknown = [c for c in categories if c not in known]
    if unknown:
        sys.exit(f"unknown category {unknown}; emoji.json has: {', '.join(known)}")

    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    digest_entries = []
    try:
        for category, folder in categories.items():
            members = sorted((e for e in emoji if e["category"] == category and e["has_img_twitter"]),
                             key=lambda e: e["sort_order"])
            try:
                chosen = evenly(members, args.per_class)
            except ValueError as e:
                sys.exit(f"{category}: {e}")
            (tmp / folder).mkdir(parents=True)
            for e in chosen:
                name = re.sub(r"[^a-z0-9_-]+", "_", e["short_name"].lower())
                rel = f"{folder}/{e['sort_order']:04d}_{name}.png"
                image = to_rgb(package.read(f"{IMAGES}/{e['image']}"), args.size)
                image.save(tmp / rel, format="PNG")
                digest_entries.append((rel, np.asarray(image).tobytes()))
            print(f"{folder}: {len(chosen)} of {len(members)} ({category})")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    digest = hashlib.sha256()
    for rel, pixels in sorted(digest_entries):
        digest.update(rel.encode() + b"\n" + pixels)
    print(f"{out}: {len(digest_entries)} images in {len(categories)} class folders")
    print(f"pixels sha256 {digest.hexdigest()}")


if __name__ == "__main__":
    main()
