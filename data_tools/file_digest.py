"""A file's sha256, read in blocks: how weights, graphs, photos and run inputs are told apart from a file of the
same name with other bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path | str) -> str:
    """The hex sha256 of a file's bytes (read 1 MiB at a time, so a large file is never held whole)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
