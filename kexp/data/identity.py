"""What a data file or image folder is now, as :class:`kexp.data.sources.RawData`'s
``info`` records it when it is read (a file's sha256, an image folder's fingerprint), so
that a resume can tell the data it started from is still there and unchanged."""

from __future__ import annotations

from pathlib import Path

from kexp.hashes import file_sha256

#: data files by role: RawData.info's (path, sha256) keys
FILES = {"data": ("path", "sha256"), "test data": ("test_path", "test_sha256")}


def sha256_now(path: str) -> str | None:
    """The fingerprint a data file or image folder has now, as ``RawData.info`` records
    it (None: it is gone)."""
    p = Path(path)
    if p.is_dir():
        from kexp.data.images import list_folder

        return list_folder(p, ("data", "path")).fingerprint
    return file_sha256(p) if p.is_file() else None
