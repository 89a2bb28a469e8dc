"""The sha256 digests kexp records: of a file, of text, of bytes, and of a value as
canonical JSON (sorted keys, no spaces), so that a record can be checked against what
it was made from."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def bytes_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def text_sha256(text: str) -> str:
    """The sha256 of ``text`` as UTF-8."""
    return bytes_sha256(text.encode("utf-8"))


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read a megabyte at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def json_sha256(obj: Any) -> str:
    """The sha256 of ``obj`` as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return text_sha256(text)
