#!/usr/bin/env python3
"""Rebuild the browser node's vendored JavaScript from the pinned npm packages.

    python web/vendor_js.py          # npm ci, bundle, write the files and vendor.lock.json
    python web/vendor_js.py --check  # only check the vendored files against vendor.lock.json

`package-lock.json` pins every package (with npm's integrity hashes); `npm ci` installs exactly
those, and esbuild bundles `web/src/*.js` into one ES module per entry in
`meshnode/daemon/web/static/vendor/`. `vendor.lock.json` there records each file's SHA-256 and
the package versions it came from; tests/web/test_vendor.py checks the files against it, so
`pip install` needs no npm and a changed vendored file is caught.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

WEB = Path(__file__).resolve().parent
VENDOR = WEB.parent / "meshnode" / "daemon" / "web" / "static" / "vendor"
ENTRIES = ("crypto", "qr")
LOCK = VENDOR / "vendor.lock.json"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build() -> None:
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)
    VENDOR.mkdir(parents=True, exist_ok=True)
    esbuild = WEB / "node_modules" / ".bin" / "esbuild"
    for entry in ENTRIES:
        subprocess.run([str(esbuild), f"src/{entry}.js", "--bundle", "--format=esm",
                        "--minify", "--legal-comments=eof", "--target=es2020",
                        f"--outfile={VENDOR / (entry + '.js')}"], cwd=WEB, check=True)
    lock = json.loads((WEB / "package-lock.json").read_text())
    packages = {name.removeprefix("node_modules/"): info["version"]
                for name, info in lock["packages"].items()
                if name.startswith("node_modules/") and not info.get("dev")}
    manifest = {"packages": dict(sorted(packages.items())),
                "files": {f"{entry}.js": digest(VENDOR / f"{entry}.js") for entry in ENTRIES}}
    LOCK.write_text(json.dumps(manifest, indent=2) + "\n")


def check() -> list[str]:
    """What is wrong with the vendored files (nothing: an empty list)."""
    manifest = json.loads(LOCK.read_text())
    problems = []
    for name, expected in manifest["files"].items():
        path = VENDOR / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif digest(path) != expected:
            problems.append(f"{name}: sha256 differs from vendor.lock.json")
    return problems


if __name__ == "__main__":
    if "--check" not in sys.argv[1:]:
        build()
    found = check()
    print("\n".join(found) or "vendored files match vendor.lock.json")
    sys.exit(1 if found else 0)
