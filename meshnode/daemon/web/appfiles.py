"""The resident's app (the browser node, docs/steunpunt.md): its files, as the hub serves them.

Every file is read from the package once, at start (`AppFiles.load`): the app is served from
memory under ``/app/`` (``/app/`` itself is ``index.html``) and its vendored dependencies under
``/vendor/``. Nothing else is served from these directories, so a path cannot name any other
file. The app's Content-Security-Policy lets its own scripts run and its WebSocket reach this
hub (`connect-src 'self'`), and nothing from any other origin.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

__all__ = ["APP_CSP", "AppFiles", "StaticFile"]

APP_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
           "connect-src 'self'; worker-src 'self'; manifest-src 'self'; base-uri 'none'; "
           "form-action 'none'; frame-ancestors 'none'")

_TYPES = {
    ".js": b"text/javascript; charset=utf-8",
    ".html": b"text/html; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".svg": b"image/svg+xml",
    ".webmanifest": b"application/manifest+json",
    ".json": b"application/json",
}
# Served under /app/ but not part of the app: the modules' self-test runs only in tests.
_NOT_SERVED = {"selftest.js"}


@dataclass(frozen=True, slots=True)
class StaticFile:
    content_type: bytes
    body: bytes


@dataclass(frozen=True, slots=True)
class AppFiles:
    """URL path -> file, for the app and its vendored modules."""

    files: dict[str, StaticFile]

    @classmethod
    def load(cls, *, selftest: bool = False) -> AppFiles:
        """The app's files from the package (`selftest`: also the vector self-test module)."""
        root = resources.files("meshnode.daemon.web").joinpath("static")
        files: dict[str, StaticFile] = {}
        for folder, prefix in (("app", "/app/"), ("vendor", "/vendor/")):
            for entry in root.joinpath(folder).iterdir():
                suffix = "." + entry.name.rsplit(".", 1)[-1]
                if suffix not in _TYPES or (entry.name in _NOT_SERVED and not selftest):
                    continue
                if folder == "vendor" and suffix != ".js":  # its lock file is for the tests
                    continue
                files[prefix + entry.name] = StaticFile(_TYPES[suffix], entry.read_bytes())
        files["/app/"] = files.pop("/app/index.html")
        return cls(files)

    def get(self, path: str) -> StaticFile | None:
        return self.files.get(path)

    def total_bytes(self) -> int:
        """The app's size as a phone downloads it on first use (uncompressed)."""
        return sum(len(f.body) for f in self.files.values())
