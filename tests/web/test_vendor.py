"""The browser node's vendored JavaScript (meshnode/daemon/web/static/vendor/) is exactly what
web/vendor_js.py built from the pinned npm packages: each file's SHA-256 against
vendor.lock.json, so that `pip install` needs no npm and an edited vendored file is caught."""

from __future__ import annotations

import hashlib
import json
from importlib import resources

VENDOR = resources.files("meshnode.daemon.web").joinpath("static/vendor")


def test_every_vendored_file_matches_its_hash_in_the_lock() -> None:
    manifest = json.loads(VENDOR.joinpath("vendor.lock.json").read_text())
    assert manifest["files"], "the lock names no vendored file"
    for name, expected in manifest["files"].items():
        data = VENDOR.joinpath(name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == expected, name


def test_no_unlisted_script_is_vendored() -> None:
    manifest = json.loads(VENDOR.joinpath("vendor.lock.json").read_text())
    shipped = {p.name for p in VENDOR.iterdir() if p.name != "vendor.lock.json"}
    assert shipped == set(manifest["files"])


def test_the_lock_names_the_pinned_crypto_packages() -> None:
    packages = json.loads(VENDOR.joinpath("vendor.lock.json").read_text())["packages"]
    assert {"@noble/curves", "@noble/hashes", "@noble/ciphers", "qr"} <= set(packages)
    assert not any(name.startswith("@esbuild/") for name in packages)  # build tool only
