"""Paths a config names, and what a file holds: the small file jobs every layer shares."""

from __future__ import annotations

import os
from pathlib import Path


def resolve_path(base_dir: Path, value: str) -> Path:
    """A path from a config: `~` expanded, relative to `base_dir` (the config file's folder, like
    docker-compose), normalized."""
    path = Path(value).expanduser()
    return Path(os.path.normpath(path if path.is_absolute() else base_dir / path))

