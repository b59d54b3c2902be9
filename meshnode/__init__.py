"""meshnode: a sans-IO crisis messaging mesh (signed posts, sealed DMs, verifiable alerts).

The public API of the library is what this module exports; everything else may change. A
driver builds a `Node` (with a `MemoryStore` or `meshnode.store.sqlite.SqliteStore`, an
`Identity` and the pinned roots in a `TrustStore`) and keeps the driving contract in
`meshnode.node`'s docstring; `meshnode.testing` checks that it does. The daemon application
(`meshnode.daemon`) is one such driver, the simulator (`sim`) another.

Names are imported on first use, so that `import meshnode.daemon.api` (the CLI, the TUI) does
not pay for the protocol core.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"  # as in pyproject.toml; `meshnode --version`, the daemon's `software`

if TYPE_CHECKING:
    from meshnode.codec import WireError
    from meshnode.crypto.authority import Rejection, TrustStore, VerifiedAlert
    from meshnode.crypto.identity import Identity, PublicIdentity
    from meshnode.events import (
        AlertReceived,
        AlertRemoved,
        AnnounceReceived,
        Close,
        DmCarried,
        DmDelivered,
        DmReceived,
        Event,
        LinkId,
        Output,
        PostReceived,
        Refusal,
        Rejected,
        Result,
        Send,
        SyncFinished,
        TrustUpdated,
        Verdict,
    )
    from meshnode.node import Node, NodeStats
    from meshnode.nodeconfig import NodeConfig
    from meshnode.store.base import MessageStore, StoredMessage
    from meshnode.store.memory import MemoryStore
    from meshnode.wire import Kind, Message, Routing, decode_message, encode_message

_EXPORTS: dict[str, str] = {
    # the core and its driving contract
    "Node": "meshnode.node", "NodeConfig": "meshnode.nodeconfig", "NodeStats": "meshnode.node",
    # what a node hands back
    "AlertReceived": "meshnode.events", "AlertRemoved": "meshnode.events",
    "AnnounceReceived": "meshnode.events", "Close": "meshnode.events",
    "DmCarried": "meshnode.events", "DmDelivered": "meshnode.events",
    "DmReceived": "meshnode.events", "Event": "meshnode.events", "LinkId": "meshnode.events",
    "Output": "meshnode.events", "PostReceived": "meshnode.events",
    "Refusal": "meshnode.events", "Rejected": "meshnode.events", "Result": "meshnode.events",
    "Send": "meshnode.events", "SyncFinished": "meshnode.events",
    "TrustUpdated": "meshnode.events", "Verdict": "meshnode.events",
    # identities and trust
    "Identity": "meshnode.crypto.identity", "PublicIdentity": "meshnode.crypto.identity",
    "TrustStore": "meshnode.crypto.authority", "Rejection": "meshnode.crypto.authority",
    "VerifiedAlert": "meshnode.crypto.authority",
    # storage
    "MessageStore": "meshnode.store.base", "StoredMessage": "meshnode.store.base",
    "MemoryStore": "meshnode.store.memory",
    # the wire format
    "Kind": "meshnode.wire", "Message": "meshnode.wire", "Routing": "meshnode.wire",
    "decode_message": "meshnode.wire", "encode_message": "meshnode.wire",
    "WireError": "meshnode.codec",
}

__all__ = [
    "AlertReceived",
    "AlertRemoved",
    "AnnounceReceived",
    "Close",
    "DmCarried",
    "DmDelivered",
    "DmReceived",
    "Event",
    "Identity",
    "Kind",
    "LinkId",
    "MemoryStore",
    "Message",
    "MessageStore",
    "Node",
    "NodeConfig",
    "NodeStats",
    "Output",
    "PostReceived",
    "PublicIdentity",
    "Refusal",
    "Rejected",
    "Rejection",
    "Result",
    "Routing",
    "Send",
    "StoredMessage",
    "SyncFinished",
    "TrustStore",
    "TrustUpdated",
    "Verdict",
    "VerifiedAlert",
    "WireError",
    "decode_message",
    "encode_message",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'meshnode' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
