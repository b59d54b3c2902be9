"""The daemon's side of the bitchat gateway: its key file, the alerts in force at start, and
public chat bridged into a meshnode channel through the daemon's own API (docs/bitchat.md)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from meshnode.alerts.area import covers
from meshnode.daemon import api
from meshnode.daemon.api import ApiError
from meshnode.daemon.views import stored_alert
from meshnode.node import Node
from meshnode.transport.bitchat.config import BitchatConfig
from meshnode.transport.bitchat.hub import BitchatHub
from meshnode.transport.bitchat.identity import KEY_FILE, load_or_create_identity
from meshnode.wire import Kind

__all__ = ["open_bitchat"]

_log = logging.getLogger("meshnode.daemon")


def open_bitchat(data_dir: Path, config: BitchatConfig, node: Node, now: int, *,
                 clock: Callable[[], float],
                 call: Callable[[Any], Awaitable[dict[str, Any]]]) -> BitchatHub:
    """The gateway with the hub's own bitchat identity (created on first use, owner-only)
    and every alert the node holds that still verifies. Raises `KeyFileError`."""
    identity = load_or_create_identity(data_dir / KEY_FILE, config.nickname)

    async def post(channel: str, text: str) -> None:
        try:
            await call(api.Post(channel, text[:api.MAX_TEXT]))
        except ApiError as exc:  # a full disk, say: the phone's message is not kept
            _log.warning("bitchat_bridge_failed", extra={"fields": {"error": str(exc)}})

    hub = BitchatHub(config, identity, clock=clock, post=post,
                     own_author=node.identity.public.sign_key,
                     # What verified alerts proved of the time (0: nothing yet): bitchat phones
                     # drop packets stamped too far in the past.
                     clock_floor=lambda: node.clock_floor or None)
    here = node.config.location
    for stored in node.store.by_kind(int(Kind.ALERT)):
        verified = stored_alert(stored, node.trust, now)
        # As the node reports it on arrival: an alert known not to cover the hub stays out.
        if verified is not None and (here is None or not verified.alert.infos
                                     or covers(verified.alert, *here)):
            hub.gateway.add(verified, now)
    _log.info("bitchat_gateway", extra={"fields": {
        "nickname": identity.nickname, "fingerprint": identity.fingerprint,
        "key_file": str(data_dir / KEY_FILE), "alerts_in_force": len(hub.gateway.in_force)}})
    return hub
