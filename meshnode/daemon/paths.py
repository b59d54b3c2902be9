"""Where a node keeps its files: one data directory, owner-only."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

__all__ = ["IDENTITY_FILE", "data_dir"]

IDENTITY_FILE = "identity.key"


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: `override`, else $MESHNODE_HOME, else the platform's user data dir."""
    if override is not None:
        return Path(override)
    env = os.environ.get("MESHNODE_HOME")
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir("meshnode", appauthor=False))
