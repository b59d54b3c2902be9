"""`meshnode tui --web`: the app served to browsers by textual-serve, with our own page.

The page (tui/templates/app_index.html) is textual-serve's, changed where a crisis or a phone
needs it: no fonts fetched from the internet (the system's monospace font), a viewport so that
a 412-pixel phone screen is not laid out as a desktop page, and a smaller font there.

Each browser session runs `meshnode tui` in a process of its own. The command is exec'd (no
shell in between), and `die_with_parent` makes that process end when the server does, however
the server ends; the app itself also ends on SIGTERM and SIGHUP (tui.app).
"""

from __future__ import annotations

import ctypes
import signal
from pathlib import Path

__all__ = ["TEMPLATES", "die_with_parent", "serve", "served"]

TEMPLATES = Path(__file__).parent / "templates"
_PR_SET_PDEATHSIG = 1


def serve(command: list[str], *, host: str, port: int) -> None:
    """Serve `command` (the app, as argv) until SIGINT or SIGTERM."""
    import shlex

    from textual_serve.server import Server

    Server("exec " + shlex.join(command), host=host, port=port, title="meshnode",
           templates_path=TEMPLATES).serve()


def served(environ: dict[str, str]) -> bool:
    """Whether this process is an app session that textual-serve started."""
    return "web_driver" in environ.get("TEXTUAL_DRIVER", "")


def die_with_parent() -> bool:
    """Have the kernel send this process SIGTERM when its parent ends (Linux); False where
    that is not available."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False
