"""SHA-256 of a file, shared by fetch (verifying the data root) and pack (the pack's own sum)."""
from __future__ import annotations

import hashlib
import os

CHUNK_SIZE = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the SHA-256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()
