"""The library's public API is curated: `meshnode.__all__` is exactly what is promised, every name
resolves to the sans-IO library (never the daemon application), and importing the package or
the daemon's API protocol pulls in neither the protocol core nor SQLite."""

from __future__ import annotations

import inspect
import subprocess
import sys

import meshnode

PROMISED = {
    "Node", "NodeConfig", "NodeStats",
    "AlertReceived", "AlertRemoved", "AnnounceReceived", "Close", "DmCarried", "DmDelivered",
    "DmReceived", "Event", "LinkId", "Output", "PostReceived", "Refusal", "Rejected", "Result",
    "Send", "SyncFinished", "TrustUpdated", "Verdict",
    "Identity", "PublicIdentity", "TrustStore", "Rejection", "VerifiedAlert",
    "MessageStore", "StoredMessage", "MemoryStore",
    "Kind", "Message", "Routing", "decode_message", "encode_message", "WireError",
}


def test_the_public_api_is_exactly_what_is_promised() -> None:
    assert set(meshnode.__all__) == PROMISED
    assert set(dir(meshnode)) >= PROMISED


def test_every_exported_name_resolves_inside_the_library_not_the_daemon() -> None:
    aliases = {"LinkId", "Event", "Output"}  # type aliases of outside types and unions
    for name in set(meshnode.__all__) - aliases:
        value = getattr(meshnode, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            module = value.__module__
            assert module.startswith("meshnode."), (name, module)
            assert not module.startswith(("meshnode.daemon", "meshnode.testing")), (name, module)


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    return set(out.split())


def test_importing_the_package_loads_nothing_until_a_name_is_used() -> None:
    loaded = _modules_after("import meshnode")
    assert "meshnode.node" not in loaded and "sqlite3" not in loaded
    assert "meshnode.node" in _modules_after("import meshnode; meshnode.Node")


def test_the_tui_imports_no_sqlite_module() -> None:
    loaded = _modules_after("import tui.app")
    assert "sqlite3" not in loaded and "_sqlite3" not in loaded
    assert not {m for m in loaded if m.startswith(("meshnode.store", "meshnode.daemon.inbox",
                                                    "meshnode.daemon.alertlog"))}
