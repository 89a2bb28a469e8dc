"""Where a spec's data files are, and whether they can be read: checked before pandas,
the data or TensorFlow are loaded, so that a wrong path is reported at once.

Relative paths are looked up in the current folder, then the spec's folder and its
parent (:func:`base_dirs`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kexp.errors import ConfigError, DataError
from kexp.spec import CsvData, ImagesData, NpzData


def base_dirs(spec_path: Path | None) -> list[Path]:
    """Where relative data paths and custom code are looked up: the current folder,
    the spec's folder and its parent."""
    if spec_path is None:
        return [Path.cwd()]
    here = spec_path.resolve().parent
    return [Path.cwd(), here, here.parent]


def candidates(value: str, base_dirs: list[Path]) -> list[Path]:
    """The places ``value`` may be, in the order they are tried: as given (absolute, or
    from the current folder), then relative to each of ``base_dirs``."""
    p = Path(value).expanduser()
    return [p] if p.is_absolute() else [p, *(d / p for d in base_dirs)]


def looked_in(tried: list[Path]) -> str:
    """The places tried, each once (the current folder is often the spec's folder too)."""
    return ", ".join(dict.fromkeys(str(t.absolute().resolve()) for t in tried))


def find_file(value: str, key: tuple, base_dirs: list[Path]) -> Path:
    """Resolve a data path: as given (absolute or from the current folder), then
    relative to the spec's folder and its parent."""
    tried = candidates(value, base_dirs)
    for cand in tried:
        if cand.is_file():
            return cand
    folder = next((c for c in tried if c.is_dir()), None)
    if folder is not None:
        files = sorted(f.name for f in folder.iterdir() if f.is_file() and not f.name.startswith("."))
        raise ConfigError(
            key,
            f"{value} is a folder{'' if str(folder) == value else f' ({folder})'}; expected a data file",
            hint=f"Name one of its files, e.g. {Path(value) / files[0]}" + (
                f" (it holds {', '.join(files[:5])}{', ...' if len(files) > 5 else ''})")
            if files else "Name a data file; this folder holds no files",
        )
    raise ConfigError(
        key,
        f"data file not found: {value} (looked in: {looked_in(tried)})",
        hint="Check the path; relative paths are read from the current folder or the spec's folder",
    )


def find_folder(value: str, key: tuple, base_dirs: list[Path]) -> Path:
    """Resolve a folder as :func:`find_file` resolves a file."""
    tried = candidates(value, base_dirs)
    for cand in tried:
        if cand.is_dir():
            return cand.resolve()
    if any(c.is_file() for c in tried):
        raise ConfigError(key, f"{value} is a file; expected a folder with one subfolder of "
                          "images per class", hint="Name the folder that holds the class subfolders")
    raise ConfigError(
        key, f"folder not found: {value} (looked in: {looked_in(tried)})",
        hint="Check the path; relative paths are read from the current folder or the spec's folder")


def check_readable(path: Path) -> None:
    """DataError naming ``path`` when its first byte cannot be read (its permissions)."""
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc.strerror or exc}). Check that it is "
                        "readable by this user (its permissions)") from None


def check_listable(folder: Path) -> None:
    """DataError naming ``folder`` when its entries cannot be listed (its permissions)."""
    try:
        with os.scandir(folder) as it:
            next(it, None)
    except OSError as exc:
        raise DataError(f"{folder}: cannot read the folder ({exc.strerror or exc}). Check that "
                        "it is readable by this user (its permissions)") from None


def check_data_paths(data: Any, base_dirs: list[Path]) -> None:
    """Every file or folder the data section names exists and can be read (a ConfigError
    naming the key, or a DataError naming the file); nothing is loaded. Sources without
    a path (``keras.datasets``, random, a Python data set) have nothing to check here."""
    if isinstance(data, (CsvData, NpzData)):
        check_readable(find_file(data.path, ("data", "path"), base_dirs))
        if isinstance(data, CsvData) and data.test_path:
            check_readable(find_file(data.test_path, ("data", "test_path"), base_dirs))
    elif isinstance(data, ImagesData):
        check_listable(find_folder(data.path, ("data", "path"), base_dirs))
        if data.test_path:
            check_listable(find_folder(data.test_path, ("data", "test_path"), base_dirs))
