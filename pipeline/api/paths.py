"""Paths a config names, and what a file holds: the small file jobs every layer shares."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def resolve_path(base_dir: Path, value: str) -> Path:
    """A path from a config: `~` expanded, relative to `base_dir` (the config file's folder, like
    docker-compose), normalized."""
    path = Path(value).expanduser()
    return Path(os.path.normpath(path if path.is_absolute() else base_dir / path))


def sha256_file(path: str | Path) -> str:
    """The file's sha256, read in blocks (videos and models are large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
