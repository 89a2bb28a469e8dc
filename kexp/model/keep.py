"""The custom modules a run used, kept in its run folder, and loaded back from there.

A run folder keeps a copy of each module its spec names as ``package.module:attribute``
under ``custom/`` (``custom/examples/inventory.py``, with the packages'
``__init__.py``); env.json lists each copy with its sha256. Modules installed in
site-packages (or the standard library) are recorded by path and hash, not copied.
``kexp predict`` puts the run's ``custom/`` first on the import path while it loads the
model, so a run works from any folder.
"""

from __future__ import annotations

import importlib
import sys
import sysconfig
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from kexp.hashes import bytes_sha256
from kexp.model.custom import references
from kexp.rundir.write import atomic_write

FOLDER = "custom"


def modules_used(tree: dict[str, Any]) -> list[str]:
    """The modules a resolved config names custom code in."""
    return sorted({name.split(":", 1)[0] for _, name, _ in references(tree)})


def installed(path: Path) -> bool:
    """Whether ``path`` is part of the Python installation (stdlib or site-packages)."""
    roots = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    resolved = path.resolve()
    return any(resolved.is_relative_to(Path(r).resolve()) for r in roots)


def files_of(module_name: str) -> list[tuple[str, Path, str]]:
    """(module, source file, path under custom/) of a module and each package above it."""
    parts = module_name.split(".")
    out = []
    for i in range(1, len(parts) + 1):
        name = ".".join(parts[:i])
        module: ModuleType | None = sys.modules.get(name)
        if module is None:
            module = importlib.import_module(name)
        file = getattr(module, "__file__", None)
        if not file:  # a namespace package: nothing to copy
            continue
        src = Path(file)
        rel = "/".join(parts[:i]) + ("/__init__.py" if src.name == "__init__.py" else src.suffix)
        out.append((name, src, rel))
    return out


def keep(tree: dict[str, Any], folder: Path) -> list[dict[str, Any]]:
    """Copy the custom modules of ``tree`` into ``folder/custom``; env.json's records."""
    records: dict[str, dict[str, Any]] = {}
    for module_name in modules_used(tree):
        if module_name.split(".")[0] == "kexp":
            continue
        for name, src, rel in files_of(module_name):
            if name in records:
                continue
            data = src.read_bytes()
            if installed(src) or src.suffix != ".py":
                records[name] = {"module": name, "path": None, "file": str(src), "sha256": bytes_sha256(data)}
                continue
            dest = folder / FOLDER / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(dest, data)
            records[name] = {"module": name, "path": f"{FOLDER}/{rel}", "sha256": bytes_sha256(data)}
    return list(records.values())


@contextmanager
def import_path(*dirs: Path) -> Iterator[None]:
    """``dirs`` (those that exist) first on ``sys.path`` inside the block, as before after."""
    saved = list(sys.path)
    sys.path[:0] = [str(d.resolve()) for d in dirs if d.is_dir()]
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path[:] = saved


def differences(records: list[dict[str, Any]], run_dir: Path) -> list[str]:
    """Notes for kept modules that were loaded from elsewhere with other contents."""
    notes = []
    for rec in records:
        module = sys.modules.get(str(rec.get("module")))
        file = getattr(module, "__file__", None)
        if not rec.get("path") or not file or Path(file).resolve() == (run_dir / rec["path"]).resolve():
            continue
        if Path(file).is_file() and bytes_sha256(Path(file).read_bytes()) != rec.get("sha256"):
            notes.append(f"module '{rec['module']}' was loaded from {file}, which differs from the "
                         f"run's copy {run_dir / rec['path']}")
    return notes


def changed(records: list[dict[str, Any]]) -> list[str]:
    """For each module of ``records`` (env.json's ``custom_code``) imported now from a file
    whose content is not the one recorded: ``module 'm' (path): sha256 a… then, b… now``."""
    out = []
    for rec in records:
        module = sys.modules.get(str(rec.get("module")))
        file = getattr(module, "__file__", None)
        if not file or not Path(file).is_file():
            continue
        now = bytes_sha256(Path(file).read_bytes())
        if now != rec.get("sha256"):
            out.append(f"module '{rec['module']}' ({file}): sha256 {str(rec.get('sha256'))[:12]}… "
                       f"then, {now[:12]}… now")
    return out
