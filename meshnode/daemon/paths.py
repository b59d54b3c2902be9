"""Where a node keeps its files: one data directory, owner-only."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import platformdirs

__all__ = ["CONFIG_FILE", "DEFAULT_SOCKET", "IDENTITY_FILE", "api_socket_name", "data_dir"]

IDENTITY_FILE = "identity.key"
CONFIG_FILE = "config.toml"
DEFAULT_SOCKET = "api.sock"


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: `override`, else $MESHNODE_HOME, else the platform's user data dir."""
    if override is not None:
        return Path(override)
    env = os.environ.get("MESHNODE_HOME")
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir("meshnode", appauthor=False))


def api_socket_name(config_file: Path) -> str | None:
    """`[api] socket` from a config file, quickly, for clients: the default if the file or the
    key is missing; None if the file does not read as one (then load it in full for the error).
    """
    try:
        data = tomllib.loads(config_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return DEFAULT_SOCKET
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return None
    table = data.get("api", {})
    if not isinstance(table, dict):
        return None
    value = table.get("socket", DEFAULT_SOCKET)
    return value if isinstance(value, str) and value else None
